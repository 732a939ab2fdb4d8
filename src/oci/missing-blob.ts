// A blob an image names that its source does not have. It is bad input (exit 4) wherever it was
// looked for, an OCI layout or a registry: the image is incomplete, and another try will not help.
import {StagexError} from '../errors.js'
import type {Digest} from './digest.js'

export class MissingBlobError extends StagexError {
  readonly digest: Digest
  /** Where it was looked for: a file path in a layout, a URL at a registry. */
  readonly lookedAt: string

  /** `source` names the layout or registry, `lookedAt` the file or URL that was asked. */
  constructor(source: string, digest: Digest, lookedAt: string) {
    super('bad-input', `${source}: has no blob ${digest}, which the image names (looked for ${lookedAt})`, {digest, lookedAt})
    this.name = 'MissingBlobError'
    this.digest = digest
    this.lookedAt = lookedAt
  }
}

export const isMissingBlobError = (error: unknown): error is MissingBlobError => error instanceof MissingBlobError
