import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {fetchFlags, fetchOptionsOf} from '../cli/fetch-flags.js'
import {withFetchProgress} from '../cli/fetch-progress.js'
import {StagexError} from '../errors.js'
import {buildAndBootTest, type BootTestResult} from '../pipeline/boot-test.js'
import {prose} from '../cli/prose.js'
import {sourceDateEpochFlag} from '../cli/source-date-epoch-flag.js'

export default class Test extends BaseCommand {
  static override summary = "Build a profile, then boot it under QEMU and check the profile's test steps."
  static override description = prose(`Builds PROFILE like \`build\`, then boots the result under QEMU with a hard deadline
(test.timeout in the profile, or --timeout) and matches each of the profile's test.steps[].expect
regular expressions, in order, against the serial console.

Exit codes: 0 every step passed; 2 invalid profile; 3 trust failure; 4 bad input;
5 a step failed (kernel panic, QEMU ended early); 6 the deadline passed; 7 a registry could not be
reached (worth a retry).`)
  static override examples = [
    '<%= config.bin %> test profiles/minimal.yaml',
    '<%= config.bin %> test profiles/minimal.yaml --out out/minimal --accel tcg --junit out/junit.xml',
  ]
  static override args = {profile: Args.string({description: 'profile YAML file', required: true})}
  static override flags = {
    out: Flags.string({char: 'o', description: 'output folder', default: 'out'}),
    'source-date-epoch': sourceDateEpochFlag,
    accel: Flags.option({options: ['auto', 'kvm', 'tcg'] as const, description: 'accelerator; auto probes KVM and falls back to TCG', default: 'auto'})(),
    timeout: Flags.integer({description: "deadline in seconds (default: the profile's test.timeout)", min: 1}),
    junit: Flags.string({description: 'write a JUnit XML report here'}),
    log: Flags.string({description: 'file for the raw serial console (default: console.log in --out, beside the outputs)'}),
    console: Flags.boolean({description: 'show the serial console on stderr (default: on a terminal, not with --json)', allowNo: true}),
    ...fetchFlags,
    locked: Flags.boolean({description: 'build what <profile>.lock.json pins; fail when the profile or a tag disagrees with it', default: false}),
  }

  async run(): Promise<BootTestResult> {
    const {args, flags} = await this.parse(Test)
    const showConsole = flags.console ?? (process.stderr.isTTY && !this.jsonEnabled())
    const result: BootTestResult = await withFetchProgress(!this.jsonEnabled(), (onFetch) =>
      buildAndBootTest({
        profilePath: args.profile,
        outDir: flags.out,
        sourceDateEpoch: flags['source-date-epoch'],
        accel: flags.accel,
        timeoutSeconds: flags.timeout,
        junitFile: flags.junit,
        logFile: flags.log,
        progress: (message) => this.progress(message),
        echo: showConsole ? (chunk) => process.stderr.write(chunk) : undefined,
        locked: flags.locked,
        ...fetchOptionsOf(flags),
        onFetch,
      }),
    )
    const {build, boot} = result
    if (!this.jsonEnabled()) {
      this.log(`built ${build.profile.name}:`)
      for (const output of build.outputs) this.log(`  ${output.kind.padEnd(10)} ${output.path}  sha256:${output.sha256}  ${output.size} bytes`)
      this.log(`booted under ${boot.accel} (${boot.accelReason}) in ${boot.seconds.toFixed(1)} s; console log: ${boot.logFile}`)
      for (const step of result.steps)
        this.log(`  ${step.passed ? 'ok  ' : 'FAIL'} expect /${step.expect}/${step.atSeconds === undefined ? '' : ` at ${step.atSeconds.toFixed(1)} s`}`)
    }
    if (!boot.passed) {
      const kind = boot.outcome === 'timeout' ? 'boot-timeout' : 'boot-failed'
      throw new StagexError(kind, `boot test of ${build.profile.name} ${boot.outcome === 'timeout' ? 'timed out' : 'failed'}: ${boot.reason} (console log: ${boot.logFile})`, {result})
    }
    return result
  }
}
