// Whether a blob in the store still holds the bytes its name says. The store is a folder anyone
// (a disk error, a stray editor, another tool) may have touched, so a run re-hashes what it is about
// to trust instead of believing a file's name: an altered blob is downloaded again when a registry
// is at hand, and refused with a clear error when not.
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {pipeline} from 'node:stream/promises'
import {badInputError, type StagexError} from '../errors.js'
import type {Digest} from '../oci/digest.js'

/** What hashing a stored blob found. */
export type StoredBlob = {state: 'intact'} | {state: 'missing'} | {state: 'altered'; hashesTo: Digest; size: number}

/** What a hash reads from the disk at once. */
const HASH_READ_CHUNK = 1024 * 1024

/** Streams the file at `path` through sha256 (node:crypto): nothing is held whole in memory. */
export async function inspectStoredBlob(path: string, digest: Digest): Promise<StoredBlob> {
  const hash = createHash('sha256')
  let size = 0
  try {
    await pipeline(createReadStream(path, {highWaterMark: HASH_READ_CHUNK}), async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) {
        size += chunk.length
        hash.update(chunk)
      }
    })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'EISDIR') return {state: 'missing'}
    throw error
  }
  const actual: Digest = `sha256:${hash.digest('hex')}`
  return actual === digest ? {state: 'intact'} : {state: 'altered', hashesTo: actual, size}
}

/** An altered blob when no registry may be asked (--offline): bad input, with the way out. */
export function alteredBlobError(digest: Digest, path: string, found: Extract<StoredBlob, {state: 'altered'}>): StagexError {
  return badInputError(
    `store blob ${digest} (${path}) no longer holds the bytes its name says: its ${found.size} bytes hash to ${found.hashesTo}; ` +
      'run pull (online) to download it again',
    {digest, path, hashesTo: found.hashesTo},
  )
}
