// Nothing partial is left behind: outputs go to a temp file in the same folder and are renamed at the end.
import {createHash, randomBytes} from 'node:crypto'
import {createReadStream, createWriteStream, type WriteStream} from 'node:fs'
import {rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {registerPath, unregisterPath} from '../cleanup/interrupt.js'
import {tempSuffix} from '../cleanup/owner.js'
import {diskFullError} from './disk-full.js'

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
  releaseTempPath(path)
}

/** `.<name>.tmp-<host>-<pid>-<random>` beside `path`: the name says whose it is, so a killed run's temp file is found stale (cleanup/owner.ts). */
export const tempPathFor = (path: string) => join(dirname(path), `.${basename(path)}${tempSuffix(randomBytes(4).toString('hex'))}`)

/** A temp path for `path`, removed if the process is interrupted before releaseTempPath. */
export function claimTempPath(path: string, what = 'temp file'): string {
  const temp = tempPathFor(path)
  registerPath(temp, what)
  return temp
}

/** The temp file was renamed or removed: nothing to do for it on interrupt. */
export const releaseTempPath = (temp: string): void => unregisterPath(temp)

/** Streams bytes to `path` through a temp file; the old file stays intact until the rename. */
export async function writeFileAtomically(path: string, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array): Promise<WrittenFile> {
  const temp = claimTempPath(path)
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
    releaseTempPath(temp)
  } catch (error) {
    await removeTempFile(temp, out)
    throw diskFullError(error, path, `the folder ${dirname(path)}`) ?? error
  }
  return {size, sha256: hash.digest('hex')}
}

/** Copies a file atomically, hashing it on the way. */
export async function copyFileAtomically(from: string, to: string): Promise<WrittenFile> {
  return writeFileAtomically(to, createReadStream(from))
}
