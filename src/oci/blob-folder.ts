// A folder of blobs named by digest (blobs/sha256/<hex>), as an OCI layout and the content store
// both keep them: one reader for both, so a missing or altered blob is the same error, with the same
// exit code, wherever it was read from.
import {createReadStream} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {badInputError, type StagexError} from '../errors.js'
import {type Digest, checkBytes, digestCheckingStream, digestHex} from './digest.js'
import {type Descriptor, documentMediaType, MAX_DOCUMENT_BYTES} from './manifest.js'
import {MissingBlobError} from './missing-blob.js'

/** What a blob's read stream asks of the disk at once. */
const READ_CHUNK = 1024 * 1024

export interface BlobFolder {
  /** blobs/sha256/<hex> under the folder. */
  path(digest: Digest): string
  has(digest: Digest): Promise<boolean>
  /** A small document (index, manifest, config), checked against its descriptor. */
  readDocument(descriptor: Descriptor): Promise<Buffer>
  /** The descriptor of a document known only by its digest (its media type read from it). */
  describe(digest: Digest): Promise<Descriptor>
  /** A blob's bytes as a stream that fails before its end when they do not match the descriptor. */
  open(descriptor: Descriptor): Promise<Readable>
}

/**
 * `what` names the folder in messages. A blob whose bytes differ from its name is bad input (exit 4);
 * what a missing one is depends on the folder, so `missing` makes that error (default: a
 * MissingBlobError naming the file, as a registry that lacks a blob its image names raises it).
 */
export function openBlobFolder(dir: string, what: string, missing?: (digest: Digest) => StagexError): BlobFolder {
  const path = (digest: Digest) => join(dir, 'blobs', 'sha256', digestHex(digest))
  missing ??= (digest) => new MissingBlobError(what, digest, path(digest))
  const size = async (digest: Digest): Promise<number | undefined> => {
    try {
      const info = await stat(path(digest))
      return info.isFile() ? info.size : undefined
    } catch {
      return undefined
    }
  }
  const read = async (digest: Digest): Promise<Buffer> => {
    try {
      return await readFile(path(digest))
    } catch {
      throw missing(digest)
    }
  }
  return {
    path,
    has: async (digest) => (await size(digest)) !== undefined,
    async readDocument(descriptor) {
      if (descriptor.size > MAX_DOCUMENT_BYTES) throw badInputError(`${what}: ${descriptor.digest} is too large to be a manifest or config`)
      const bytes = await read(descriptor.digest)
      checkBytes(bytes, descriptor.digest, descriptor.size, what)
      return bytes
    },
    async describe(digest) {
      const found = await size(digest)
      if (found === undefined) throw missing(digest)
      if (found > MAX_DOCUMENT_BYTES) throw badInputError(`${what}: ${digest} is too large to be a manifest`)
      const bytes = await read(digest)
      checkBytes(bytes, digest, found, what)
      return {mediaType: documentMediaType(bytes, undefined, `${what} ${digest}`), digest, size: found}
    },
    async open(descriptor) {
      if ((await size(descriptor.digest)) === undefined) throw missing(descriptor.digest)
      const check = digestCheckingStream(descriptor.digest, descriptor.size, what)
      const file = createReadStream(path(descriptor.digest), {highWaterMark: READ_CHUNK})
      file.on('error', (error) => check.destroy(error))
      return file.pipe(check)
    },
  }
}
