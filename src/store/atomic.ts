// Nothing partial is left behind: outputs go to a temp file in the same folder and are renamed at the end.
import {createHash, randomBytes} from 'node:crypto'
import {createReadStream, createWriteStream, type WriteStream} from 'node:fs'
import {rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {pipeline} from 'node:stream/promises'

export interface WrittenFile {
  size: number
  /** Hex sha256 of the bytes written. */
  sha256: string
}

/**
 * Removes a temp file after a failed write. A write stream opens its file asynchronously, so the
 * file can appear after pipeline() has already rejected: wait for the stream to close first.
 */
export async function removeTempFile(path: string, stream?: WriteStream): Promise<void> {
  if (stream && !stream.closed) await new Promise<void>((resolve) => stream.once('close', () => resolve()))
  await rm(path, {force: true})
}

export const tempPathFor = (path: string) =>
  join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)

/** Streams bytes to `path` through a temp file; the old file stays intact until the rename. */
export async function writeFileAtomically(path: string, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array): Promise<WrittenFile> {
  const temp = tempPathFor(path)
  const hash = createHash('sha256')
  let size = 0
  async function* counted() {
    if (source instanceof Uint8Array) {
      hash.update(source)
      size += source.length
      yield source
      return
    }
    for await (const chunk of source) {
      hash.update(chunk)
      size += chunk.length
      yield chunk
    }
  }
  const out = createWriteStream(temp, {mode: 0o644})
  try {
    await pipeline(counted(), out)
    await rename(temp, path)
  } catch (error) {
    await removeTempFile(temp, out)
    throw error
  }
  return {size, sha256: hash.digest('hex')}
}

/** Copies a file atomically, hashing it on the way. */
export async function copyFileAtomically(from: string, to: string): Promise<WrittenFile> {
  return writeFileAtomically(to, createReadStream(from))
}
