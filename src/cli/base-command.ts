// The one base of every command: --json handling and printing a StagexError once, with its exit code.
import {Command, Errors} from '@oclif/core'
import {isStagexError} from '../errors.js'

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  /** Human progress goes to stderr so stdout stays clean for --json and for pipes. */
  protected progress(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${message}\n`)
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    if (isStagexError(error)) {
      if (this.jsonEnabled()) {
        process.stdout.write(
          JSON.stringify({error: {kind: error.kind, exitCode: error.exitCode, message: error.message, ...error.details}}, null, 2) + '\n',
        )
      } else {
        process.stderr.write(`error: ${error.message}\n`)
      }
      this.exit(error.exitCode)
    }
    // oclif's own parse errors (unknown flag, missing argument) are usage errors: exit 2.
    if (error instanceof Errors.CLIError && (error as {oclif?: {exit?: number}}).oclif?.exit === 2) {
      process.stderr.write(`error: ${error.message}\n`)
      this.exit(2)
    }
    return super.catch(error)
  }
}
