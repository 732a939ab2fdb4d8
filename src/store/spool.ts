// The spool: where the tree's file bytes live while a build runs. The tree holds only references
// (file, offset, length), as apko's tarfs references its source: each layer's uncompressed tar is
// appended whole to one spool file, in large writes, so flattening costs no syscall per entry; the
// profile's own small files go to one more append-only file. Writers read the ranges back.
import {closeSync, createWriteStream, openSync, readSync, type WriteStream, writeSync} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'
import {createHash} from 'node:crypto'
import type {Digest} from '../oci/digest.js'
import type {SizedSource} from '../formats/bytes.js'
import type {ContentRef} from '../rootfs/tree.js'
import {diskFullError} from './disk-full.js'

/** One append-only spool file, written in large chunks while its layer streams in. */
export interface SpoolFile {
  path: string
  /** Bytes appended so far: the offset the next chunk lands at. */
  readonly length: number
  append(chunk: Uint8Array): void
  /** Waits until the file holds everything appended (backpressure: call when `needsDrain`). */
  drain(): Promise<void>
  readonly needsDrain: boolean
  close(): Promise<void>
  /** Closes and forgets what was written (a failed layer). */
  destroy(): Promise<void>
}

export interface Spool {
  dir: string
  /** A new spool file, e.g. for one layer's uncompressed tar. */
  file(name: string): SpoolFile
  /** Where a spool file of that name goes (for a worker thread that opens it itself). */
  path(name: string): string
  /** Small bytes (the profile's files), appended to the spool's own file. */
  putBytes(bytes: Uint8Array): ContentRef
}

/** What a spool file buffers before it asks its writer to wait. */
const WRITE_BUFFER_BYTES = 1024 * 1024

export async function openSpool(dir: string): Promise<Spool> {
  await mkdir(dir, {recursive: true})
  const smallPath = join(dir, 'profile-files')
  let smallFd: number | undefined
  let smallLength = 0
  return {
    dir,
    file: (name) => openSpoolFile(join(dir, name)),
    path: (name) => join(dir, name),
    putBytes(bytes) {
      smallFd ??= openSync(smallPath, 'a')
      try {
        writeSync(smallFd, bytes)
      } catch (error) {
        throw diskFullError(error, smallPath, 'the spool (TMPDIR)') ?? error
      }
      const ref = {id: sha256Of(bytes), size: bytes.length, path: smallPath, offset: smallLength}
      smallLength += bytes.length
      return ref
    },
  }
}

/** An append-only spool file at `path` (created or truncated). */
export function openSpoolFile(path: string): SpoolFile {
  const out: WriteStream = createWriteStream(path, {flags: 'w', highWaterMark: WRITE_BUFFER_BYTES})
  let failure: Error | undefined
  out.on('error', (error) => (failure ??= diskFullError(error, path, 'the spool (TMPDIR)') ?? error))
  let length = 0
  let needsDrain = false
  const check = () => {
    if (failure) throw failure
  }
  return {
    path,
    get length() {
      return length
    },
    get needsDrain() {
      return needsDrain
    },
    append(chunk) {
      check()
      length += chunk.length
      if (!out.write(chunk)) needsDrain = true
    },
    async drain() {
      check()
      if (!needsDrain) return
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done)
          out.off('error', done)
          out.off('close', done)
          resolve()
        }
        out.on('drain', done)
        out.on('error', done)
        out.on('close', done)
      })
      needsDrain = false
      check()
    },
    async close() {
      await new Promise<void>((resolve) => out.end(() => resolve()))
      check()
    },
    async destroy() {
      if (!out.closed) await new Promise<void>((resolve) => out.destroy().once('close', () => resolve()))
    },
  }
}

const sha256Of = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest

/** Largest read made at once; also the read-ahead window for small files that sit side by side. */
const READ_CHUNK = 1024 * 1024

/**
 * Reads content back by (file, offset, length). Reads are synchronous and positioned, from the page
 * cache in practice: a small file costs no syscall when its neighbour's read already brought it in.
 * Each chunk is a fresh buffer that is never written again, so a consumer may keep it.
 */
export interface ContentReader {
  chunks(ref: ContentRef): Generator<Uint8Array>
  bytes(ref: ContentRef): Buffer
  /** Hex sha256 of the content. */
  sha256(ref: ContentRef): string
  /** The first `length` bytes (fewer when the content is shorter). */
  head(ref: ContentRef, length: number): Buffer
  source(ref: ContentRef): SizedSource
  close(): void
}

export interface ContentReaderOptions {
  /**
   * chunks() reads into one buffer of the reader's, again and again: a chunk is valid only until
   * the next chunk is asked for. For a consumer that copies each chunk at once (the gzip block
   * splitter), so that reading back 500 MB allocates 1 MiB, not 500 MB of buffers to collect.
   * bytes(), head() and sha256() still give results of their own. source() serves chunks().
   */
  transientChunks?: boolean
}

export function openContentReader(options: ContentReaderOptions = {}): ContentReader {
  const fds = new Map<string, number>()
  let window: {path: string; start: number; bytes: Buffer} | undefined
  const scratch = options.transientChunks ? Buffer.allocUnsafe(READ_CHUNK) : undefined
  const fdOf = (path: string) => {
    let fd = fds.get(path)
    if (fd === undefined) fds.set(path, (fd = openSync(path, 'r')))
    return fd
  }
  /** At least `need` bytes from `offset`, up to `room` when the file has them: into `into` if given. */
  const readInto = (path: string, offset: number, need: number, room: number, into?: Buffer): Buffer => {
    const bytes = into ?? Buffer.allocUnsafe(room)
    let done = 0
    while (done < need) {
      const n = readSync(fdOf(path), bytes, done, room - done, offset + done)
      if (n === 0) throw new Error(`${path}: ends before byte ${offset + need}`)
      done += n
    }
    return bytes.subarray(0, done)
  }
  const readAt = (path: string, offset: number, length: number): Buffer => readInto(path, offset, length, length)
  /** A piece of a large file: into the scratch buffer (which then holds no window) or a fresh one. */
  const readPiece = (path: string, offset: number, length: number): Buffer => {
    if (!scratch) return readAt(path, offset, length)
    window = undefined
    return readInto(path, offset, length, length, scratch)
  }
  function* chunks(ref: ContentRef): Generator<Uint8Array> {
    if (ref.size === 0) return
    if (ref.size <= READ_CHUNK) {
      const w = window
      if (w && w.path === ref.path && ref.offset >= w.start && ref.offset + ref.size <= w.start + w.bytes.length) {
        yield w.bytes.subarray(ref.offset - w.start, ref.offset - w.start + ref.size)
        return
      }
      // Read ahead: the next files of the same layer usually follow this one in the spool.
      const bytes = readInto(ref.path, ref.offset, ref.size, READ_CHUNK, scratch)
      window = {path: ref.path, start: ref.offset, bytes}
      yield bytes.subarray(0, ref.size)
      return
    }
    for (let at = 0; at < ref.size; at += READ_CHUNK) yield readPiece(ref.path, ref.offset + at, Math.min(READ_CHUNK, ref.size - at))
  }
  const reader: ContentReader = {
    chunks,
    bytes(ref) {
      // Each chunk is copied before the next is read (a transient reader's chunks share one buffer).
      const out = Buffer.allocUnsafe(ref.size)
      let at = 0
      for (const chunk of chunks(ref)) {
        out.set(chunk, at)
        at += chunk.length
      }
      return out
    },
    sha256(ref) {
      const hash = createHash('sha256')
      for (const chunk of chunks(ref)) hash.update(chunk)
      return hash.digest('hex')
    },
    head: (ref, length) => readAt(ref.path, ref.offset, Math.min(length, ref.size)),
    source: (ref) => ({size: ref.size, open: () => chunks(ref)}),
    close() {
      for (const fd of fds.values()) closeSync(fd)
      fds.clear()
      window = undefined
    },
  }
  return reader
}
