// The one base of every command: --json handling and printing a StagexError once, with its exit code.
import {Command, Errors} from '@oclif/core'
import {armInterrupts} from '../cleanup/interrupt.js'
import {isStagexError} from '../errors.js'

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  /** SIGINT/SIGTERM: what the run holds is removed, one line says so, exit 130/143 (cleanup/interrupt.ts). */
  public override async init(): Promise<void> {
    await super.init()
    armInterrupts({json: () => this.jsonEnabled()})
  }

  /** Human progress goes to stderr so stdout stays clean for --json and for pipes. */
  protected progress(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${message}\n`)
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    if (isStagexError(error)) this.fail(error.kind, error.exitCode, error.message, error.details)
    // oclif's own parse errors (unknown flag, missing argument) are usage errors: exit 2.
    if (error instanceof Errors.CLIError && (error as {oclif?: {exit?: number}}).oclif?.exit === 2) this.fail('usage', 2, error.message)
    // Anything else is a bug of ours: exit 1, and --json still gets its one document.
    if (this.jsonEnabled()) this.fail('internal', 1, `internal error (a bug; please report it): ${error.message}`)
    return super.catch(error)
  }

  /** Prints the failure once (one JSON document on stdout with --json, a line on stderr otherwise) and exits. */
  private fail(kind: string, exitCode: number, message: string, details?: Record<string, unknown>): never {
    if (this.jsonEnabled()) process.stdout.write(JSON.stringify({error: {kind, exitCode, message, ...details}}, null, 2) + '\n')
    else process.stderr.write(`error: ${message}\n`)
    this.exit(exitCode)
  }
}
