// Why one signature does not count. Not a StagexError: one bad signature is a row in the trust
// table, and only the threshold decides whether the image fails.

export type RefusalStep = 'fetch' | 'openpgp' | 'payload' | 'digest' | 'identity' | 'duplicate'

export class SignatureRefusal extends Error {
  readonly step: RefusalStep

  constructor(step: RefusalStep, message: string) {
    super(message)
    this.name = 'SignatureRefusal'
    this.step = step
  }

  /** The text of the table's reason column, e.g. "digest: signed sha256:ab…, expected sha256:cd…". */
  get reason(): string {
    return `${this.step}: ${this.message}`
  }
}

export const refuse = (step: RefusalStep, message: string): never => {
  throw new SignatureRefusal(step, message)
}
