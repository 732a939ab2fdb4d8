// oclif's command_not_found hook: a mistyped command gets one line naming the nearest command
// ("did you mean build?") and exit 2, a usage error; with --json, the failure document every
// command prints (base-command.ts).
import {Errors, type Hook} from '@oclif/core'
import {didYouMean} from '../did-you-mean.js'
import {ExitCode} from '../errors.js'

const hook: Hook<'command_not_found'> = async function (options) {
  // With topicSeparator ' ', oclif joins the words it could not place: "biuld x.yaml" is "biuld:x.yaml".
  const typed = options.id.split(':')[0] ?? options.id
  const commands = options.config.commands.filter((c) => !c.hidden).map((c) => c.id)
  const guess = didYouMean(typed, commands)
  const message = `"${typed}" is not a ${options.config.bin} command${guess ? `: ${guess}` : ''} (${options.config.bin} --help lists them)`
  const json = (options.argv ?? []).includes('--json') || process.argv.slice(2).includes('--json')
  if (json) process.stdout.write(JSON.stringify({error: {kind: 'usage', exitCode: ExitCode.usage, message}}, null, 2) + '\n')
  else process.stderr.write(`error: ${message}\n`)
  // An ExitError is oclif's "already reported": it exits with the code and prints nothing more.
  throw new Errors.ExitError(ExitCode.usage)
}

export default hook
