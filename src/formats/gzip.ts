// Deterministic gzip (RFC 1952) around pako's raw deflate, pinned to an exact version in
// package.json. node:zlib is never used for output: its deflate changes between Node.js versions.
//
// The bytes depend only on the input bytes and the level:
// - Header: 1f 8b 08, FLG 0 (no name, comment, extra or header CRC), MTIME 0,
//   XFL as zlib sets it (2 for level 9, 4 for levels 0 and 1, else 0), OS 3 (Unix) always,
//   whatever the host: the same header `gzip -n` writes on Unix.
// - Deflate: pako with zlib's defaults (window 15, memLevel 8, default strategy) and
//   `legacyHash: true`, zlib's classic hash, so the deflate stream equals classic zlib's
//   (madler zlib 1.2.x/1.3.x, e.g. Python's zlib) for the same level. Input is fed to the
//   deflater in fixed 64 KiB blocks on a grid counted from the start of the stream, so how
//   the caller chunks its input never changes the output.
// - Trailer: CRC-32 (ours) and ISIZE (length mod 2^32), little-endian.
//
// Pure: bytes in, bytes out.

import {Deflate} from 'pako'
import {crc32} from './crc32.js'

/** OS byte of the header: 3 = Unix, fixed. */
export const GZIP_OS = 3
/** Size of the blocks the input is cut into before deflate sees it. */
const INPUT_BLOCK = 64 * 1024
const OUTPUT_CHUNK = 64 * 1024

/** The 10-byte header written for `level`. */
export function gzipHeader(level = 9): Uint8Array {
  checkLevel(level)
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0
  return Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, GZIP_OS)
}

function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip: level must be 0..9, got ${level}`)
}

interface Encoder {
  /** Feeds input; returns the output it produced (possibly none). */
  write(data: Uint8Array): Uint8Array[]
  /** Ends the stream; returns the rest of the deflate output and the trailer. */
  end(): Uint8Array[]
}

function encoder(level: number): Encoder {
  checkLevel(level)
  const deflate = new Deflate({
    level,
    raw: true,
    windowBits: 15,
    memLevel: 8,
    strategy: 0,
    legacyHash: true,
    chunkSize: OUTPUT_CHUNK,
  })
  let out: Uint8Array[] = []
  deflate.onData = (chunk) => {
    out.push(chunk)
  }
  deflate.onEnd = () => {}
  const block = new Uint8Array(INPUT_BLOCK)
  let fill = 0
  let crc = 0
  let total = 0
  let ended = false

  const push = (data: Uint8Array, last: boolean) => {
    if (!deflate.push(data, last) && deflate.err !== 0) {
      throw new Error(`gzip: deflate failed: ${deflate.msg || deflate.err}`)
    }
  }
  const take = () => {
    const taken = out
    out = []
    return taken
  }
  return {
    write(data) {
      if (ended) throw new Error('gzip: write after end')
      crc = crc32(data, crc)
      total += data.length
      let i = 0
      while (i < data.length) {
        if (fill === 0 && data.length - i >= INPUT_BLOCK) {
          push(data.subarray(i, i + INPUT_BLOCK), false)
          i += INPUT_BLOCK
          continue
        }
        const n = Math.min(INPUT_BLOCK - fill, data.length - i)
        block.set(data.subarray(i, i + n), fill)
        fill += n
        i += n
        if (fill === INPUT_BLOCK) {
          push(block, false)
          fill = 0
        }
      }
      return take()
    },
    end() {
      if (ended) throw new Error('gzip: ended twice')
      ended = true
      push(block.subarray(0, fill), true)
      if (deflate.err !== 0) throw new Error(`gzip: deflate failed: ${deflate.msg || deflate.err}`)
      const trailer = new Uint8Array(8)
      const view = new DataView(trailer.buffer)
      view.setUint32(0, crc, true)
      view.setUint32(4, total % 0x100000000, true)
      out.push(trailer)
      return take()
    },
  }
}

/** Gzips a stream of bytes. Output chunks are yielded as deflate produces them. */
export async function* gzipStream(source: AsyncIterable<Uint8Array>, level = 9): AsyncGenerator<Uint8Array> {
  const enc = encoder(level)
  yield gzipHeader(level)
  for await (const chunk of source) {
    for (const c of enc.write(chunk)) yield c
  }
  for (const c of enc.end()) yield c
}

/** Gzips bytes in memory (for small inputs and tests); the same bytes as gzipStream. */
export function gzipBytes(data: Uint8Array, level = 9): Uint8Array {
  const enc = encoder(level)
  const parts = [gzipHeader(level), ...enc.write(data), ...enc.end()]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
