// Typed errors: each carries the exit code of DESIGN.md's CLI contract and a message for a person.
// Stages throw them; commands print them once, without a stack trace.

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  trust: 3,
  badInput: 4,
  bootFailed: 5,
  bootTimeout: 6,
  /** A registry, token service or lookaside could not be reached: worth a retry. */
  unreachable: 7,
  /** `reproduce` or `diff` found a difference. */
  different: 8,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export type ErrorKind = 'internal' | 'usage' | 'profile' | 'trust' | 'bad-input' | 'boot-failed' | 'boot-timeout' | 'unreachable' | 'different'

const exitByKind: Record<ErrorKind, ExitCodeValue> = {
  internal: ExitCode.internal,
  usage: ExitCode.usage,
  profile: ExitCode.usage,
  trust: ExitCode.trust,
  'bad-input': ExitCode.badInput,
  'boot-failed': ExitCode.bootFailed,
  'boot-timeout': ExitCode.bootTimeout,
  unreachable: ExitCode.unreachable,
  different: ExitCode.different,
}

export class StagexError extends Error {
  readonly kind: ErrorKind
  readonly exitCode: ExitCodeValue
  /** Extra structured facts for --json output (e.g. a trust table). */
  readonly details?: Record<string, unknown>

  constructor(kind: ErrorKind, message: string, details?: Record<string, unknown>) {
    super(message)
    this.name = 'StagexError'
    this.kind = kind
    this.exitCode = exitByKind[kind]
    this.details = details
  }
}

export const usageError = (message: string, details?: Record<string, unknown>) => new StagexError('usage', message, details)
export const profileError = (message: string, details?: Record<string, unknown>) =>
  new StagexError('profile', message, details)
export const trustError = (message: string, details?: Record<string, unknown>) => new StagexError('trust', message, details)
export const badInputError = (message: string, details?: Record<string, unknown>) =>
  new StagexError('bad-input', message, details)
export const unreachableError = (message: string, details?: Record<string, unknown>) =>
  new StagexError('unreachable', message, details)
export const internalError = (message: string, details?: Record<string, unknown>) =>
  new StagexError('internal', message, details)

export const isStagexError = (error: unknown): error is StagexError => error instanceof StagexError
