// Deterministic gzip (RFC 1952) in one method, the blocked one, around a pinned WebAssembly deflate.
//
// Why foras, pinned: node:zlib is never used for deflate output, because its bytes change between
// Node.js versions (DESIGN.md). @hazae41/foras is flate2's deflate (miniz_oxide) compiled to
// WebAssembly and shipped as one binary inside the package: WebAssembly's integer arithmetic is
// the same on every engine, so its output depends only on that binary, and package.json pins it
// to exactly FORAS_VERSION (no range; package-lock.json holds its integrity hash). Another
// version may choose other matches and so other bytes, which is why the method string names it.
// It replaced fflate 0.8.3 (pure JS): at level 9 on root file system data it is 1.5x faster and
// compresses 1.5% smaller, and it needs none of the workarounds two fflate bugs asked for.
//
// The method (gzipBlocksStream here, src/image/parallel-gzip.ts on every core): the input is cut
// into GZIP_BLOCK_SIZE blocks on a grid counted from the start of the stream; each block is
// deflated on its own (compressBlock), by a fresh encoder with no history, so that any thread
// can take any block; it ends in a sync flush (byte-aligned, ends 00 00 ff ff), the last one in
// BFINAL. Without a shared window each block loses the matches into the block before it: on
// the benchmark's data 1 MiB blocks cost 0.03% of size against one stream. The outputs
// concatenate into ONE deflate stream and one gzip member: the kernel's initramfs unpacker
// reports "junk at the end of compressed archive" when a member ends inside a cpio archive, so
// several members are not an option. A block that looks random (isIncompressible) is written as
// stored blocks without running deflate.
//
// What the bytes depend on: each block's bytes depend only on its data, whether it is last, the
// level, and the WebAssembly binary (FORAS_VERSION): never on the thread count, the machine, the
// Node.js version, or how the caller chunks its input (BlockSplitter puts every block on the
// grid, and each deflate call gets a whole block). The name of all this, for the build record,
// is gzipBlocksMethod().
//
// - Header: 1f 8b 08, FLG 0 (no name, comment, extra or header CRC), MTIME 0,
//   XFL 2 for level 9, 4 for levels 0 and 1, else 0 (as zlib sets it), OS 3 (Unix) always,
//   whatever the host: the same header `gzip -n` writes on Unix.
// - Trailer: CRC-32 and ISIZE (length mod 2^32), little-endian.
//
// Pure: bytes in, bytes out. (node:zlib's crc32 is a pure function: a CRC is math, not deflate
// output; it is used when present, node >= 20.15, and ./crc32.js otherwise: the same numbers.)

import {DeflateEncoder, initBundledOnce, Memory} from '@hazae41/foras'
import zlib from 'node:zlib'
import {crc32 as jsCrc32} from './crc32.js'

// The WebAssembly module is compiled once per thread, when this module loads (about 10 ms), so
// that compressing stays a plain synchronous function.
await initBundledOnce()

/** CRC-32 continuing from `previous`: node's native one where it exists (fast), ours otherwise. */
const crc32: (data: Uint8Array, previous: number) => number =
  typeof zlib.crc32 === 'function' ? (data, previous) => zlib.crc32(data, previous) : jsCrc32

/** OS byte of the header: 3 = Unix, fixed. */
export const GZIP_OS = 3
/** The foras version the method's bytes are made by: package.json pins exactly this (a test checks). */
export const FORAS_VERSION = '2.1.4'

/** The 10-byte header written for `level`. */
export function gzipHeader(level = 9): Uint8Array {
  checkLevel(level)
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0
  return Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, GZIP_OS)
}

/** The 8-byte trailer: CRC-32 of the input and its length mod 2^32, little-endian. */
export function gzipTrailer(crc: number, size: number): Uint8Array {
  const trailer = new Uint8Array(8)
  const view = new DataView(trailer.buffer)
  view.setUint32(0, crc >>> 0, true)
  view.setUint32(4, size % 0x100000000, true)
  return trailer
}

/** Throws a RangeError unless `level` is an integer in 0..9. */
export function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip: level must be 0..9, got ${level}`)
}

// ---------------------------------------------------------------------------------------------
// The blocked method

/** Size of the blocks the blocked method cuts its input into: 1 MiB, a fixed constant of the method. */
export const GZIP_BLOCK_SIZE = 1 << 20
/** Deflate's window: the smallest block size the method accepts, and how far back repeats count. */
export const WINDOW_SIZE = 32 * 1024
/** Largest LEN of a stored deflate block. */
const STORED_MAX = 65535

/** One block of input, ready for compressBlock. */
export interface BlockJob {
  data: Uint8Array
  /** The last block of the stream: ends in BFINAL rather than a sync flush. */
  last: boolean
}

/**
 * The name of the blocked method for the build record: what a person needs to know to get the
 * same bytes (level, deflate engine and its exact version, block size, no shared window, the
 * double flush, the stored shortcut and its threshold, and the stored fallback for a block that
 * does not inflate back).
 */
export function gzipBlocksMethod(level = 9, blockSize = GZIP_BLOCK_SIZE): string {
  checkLevel(level)
  const size = blockSize % (1 << 20) === 0 ? `${blockSize >>> 20}MiB` : blockSize % 1024 === 0 ? `${blockSize >>> 10}KiB` : `${blockSize}B`
  return `gzip-${level}-foras-${FORAS_VERSION}-blocks-${size}-nodict-flush2-stored-if-entropy-7.97-or-invalid`
}

/** The method string of the default blocked gzip (level 9, 1 MiB blocks). */
export const GZIP_BLOCKS_METHOD = gzipBlocksMethod(9, GZIP_BLOCK_SIZE)

function checkBlockSize(blockSize: number): void {
  // At least one deflate window: smaller blocks would lose most of their matches.
  if (!Number.isInteger(blockSize) || blockSize < WINDOW_SIZE || blockSize > 1 << 30) {
    throw new RangeError(`gzip: block size must be an integer in ${WINDOW_SIZE}..${1 << 30}, got ${blockSize}`)
  }
}

/**
 * Raw deflate of one block by a fresh foras encoder (no history), ending in a sync flush
 * (byte-aligned, ends 00 00 ff ff) or, when `last`, in BFINAL. Each call gets the whole block at
 * once, so the bytes depend only on the arguments. Level 0 is storedBlocks.
 *
 * Two guards, both deterministic (they depend on the bytes alone):
 * - foras 2.1.4's flush() sometimes returns before all of the sync flush is out (seen here in
 *   3 of 900 blocks of 64 KiB to 360 KiB, at levels 1, 6 and 9: the stream ends mid-block), and
 *   a second flush() completes it. So a sync-flushed block is always flushed twice; the second
 *   adds an empty stored block (5 bytes) when the first was complete.
 * - Every block is inflated again here by node:zlib (a strict inflater, as the kernel's is;
 *   about 1% of the deflate's time) and must give back exactly `data`; if it does not, the block
 *   is written as stored blocks instead. A bug in the pinned deflate then costs size, never a
 *   broken initramfs.
 */
export function deflateBlock(data: Uint8Array, last: boolean, level = 9): Uint8Array {
  checkLevel(level)
  if (level === 0) return storedBlocks(data, last)
  const out = forasDeflate(data, last, level)
  return inflatesTo(out, data, last) ? out : storedBlocks(data, last)
}

function forasDeflate(data: Uint8Array, last: boolean, level: number): Uint8Array {
  const encoder = new DeflateEncoder(level)
  let input: Memory | undefined
  try {
    if (data.length > 0) {
      input = new Memory(data)
      encoder.write(input)
    }
    // finish() takes the encoder (its WebAssembly side is freed by it); flush() and read() do not.
    if (last) return encoder.finish().copyAndDispose()
    encoder.flush()
    encoder.flush()
    const out = encoder.read()
    encoder.free()
    // Copied out of WebAssembly's memory with room for an empty final block after it, which
    // inflatesTo needs to check that the block ends whole (and so makes no second copy).
    const length = out.len()
    const room = new Uint8Array(length + FINAL_EMPTY_BLOCK.length)
    room.set(out.bytes)
    out.free()
    room.set(FINAL_EMPTY_BLOCK, length)
    return room.subarray(0, length)
  } finally {
    input?.free()
  }
}

/** An empty final block (fixed Huffman, end of block): what makes a sync-flushed block a whole stream. */
const FINAL_EMPTY_BLOCK = Uint8Array.of(3, 0)

/** `out` then an empty final block: a view when the buffer already holds it right after `out`, else a copy. */
function followedByFinalBlock(out: Uint8Array): Uint8Array {
  const end = out.byteOffset + out.length
  const after = new Uint8Array(out.buffer, end, Math.min(FINAL_EMPTY_BLOCK.length, out.buffer.byteLength - end))
  if (after.length === FINAL_EMPTY_BLOCK.length && after.every((b, i) => b === FINAL_EMPTY_BLOCK[i])) {
    return new Uint8Array(out.buffer, out.byteOffset, out.length + FINAL_EMPTY_BLOCK.length)
  }
  return Buffer.concat([out, FINAL_EMPTY_BLOCK])
}

/** Whether raw deflate `out` inflates to exactly `data` (followed by an empty final block unless `last`). */
export function inflatesTo(out: Uint8Array, data: Uint8Array, last: boolean): boolean {
  try {
    const stream = last ? out : followedByFinalBlock(out)
    const back = zlib.inflateRawSync(stream, {maxOutputLength: data.length + 1})
    return back.length === data.length && back.equals(data)
  } catch {
    return false
  }
}

/**
 * `data` as raw deflate stored blocks (RFC 1951 3.2.4): header byte 0x00 (0x01 on the final
 * block when `last`), LEN and NLEN little-endian, then LEN bytes; 65535 bytes at most each.
 * Byte-aligned at both ends, so it follows a sync flush and precedes any block. Empty data
 * gives one empty stored block.
 */
export function storedBlocks(data: Uint8Array, last: boolean): Uint8Array {
  const count = Math.max(1, Math.ceil(data.length / STORED_MAX))
  const out = new Uint8Array(data.length + 5 * count)
  let from = 0
  let to = 0
  for (let k = 0; k < count; k++) {
    const len = Math.min(STORED_MAX, data.length - from)
    out[to] = last && k === count - 1 ? 1 : 0
    out[to + 1] = len & 0xff
    out[to + 2] = len >>> 8
    out[to + 3] = ~len & 0xff
    out[to + 4] = (~len >>> 8) & 0xff
    out.set(data.subarray(from, from + len), to + 5)
    from += len
    to += 5 + len
  }
  return out
}

/** The stored shortcut looks at the block in slices of this size (a short tail joins the slice before). */
const ENTROPY_SLICE = 64 * 1024

/**
 * Whether deflate cannot usefully compress `data`, decided from `data` alone and with integer
 * arithmetic only (no Math.log2: its last bit may differ between V8 versions, and a decision
 * near the line would flip). Blocks shorter than ENTROPY_SLICE are never judged incompressible.
 *
 * Two tests, each bounding what storing instead of deflating can cost:
 * - Literals: in every slice, the collision entropy H2 = -log2(sum p_i^2) is at least
 *   8 - log2(1.02) = 7.971 bits/byte, i.e. 256 * sum(c_i^2) <= 1.02 * n^2. Shannon entropy is
 *   at least H2, and deflate codes literals with a Huffman code over bytes, so that code saves
 *   at most 0.4%, about what a dynamic block's code tables cost. Random bytes give 7.994 on a
 *   64 KiB slice (the line is ~50 standard deviations away); text gives 4 to 5.5, machine code
 *   about 6, xz and zstd files 7.98 to 7.99, gzip files 7.77 to 7.99 (measured here: deflate
 *   still takes 0.5 to 1.5% off the low ones, so deflating them is right). Per slice, so a block
 *   that is half text is deflated.
 * - Repeats: byte statistics cannot see repetition (the same random 10 KiB twice), which
 *   deflate's matches remove, so repeatedBytes counts the bytes covered by repeats of 8+ bytes
 *   within deflate's 32 KiB window; random data has none. Stored only if they cover < 1/256.
 */
export function isIncompressible(data: Uint8Array): boolean {
  const n = data.length
  if (n < ENTROPY_SLICE) return false
  // Four interleaved tables, so consecutive increments do not wait on each other.
  const counts = new Int32Array(4 * 256)
  for (let start = 0; start < n; ) {
    const end = n - start < 2 * ENTROPY_SLICE ? n : start + ENTROPY_SLICE
    counts.fill(0)
    let i = start
    for (; i + 4 <= end; i += 4) {
      counts[data[i]]++
      counts[256 + data[i + 1]]++
      counts[512 + data[i + 2]]++
      counts[768 + data[i + 3]]++
    }
    for (; i < end; i++) counts[data[i]]++
    let squares = 0 // at most (128 Ki)^2 = 2^34: exact in a double, as are the products below
    for (let b = 0; b < 256; b++) {
      const c = counts[b] + counts[256 + b] + counts[512 + b] + counts[768 + b]
      squares += c * c
    }
    const len = end - start
    if (256 * 50 * squares > 51 * len * len) return false
    start = end
  }
  return repeatedBytes(data) * 256 < n
}

const MATCH_MIN = 8
const MATCH_MAX = 258
const ANCHOR_SLOTS = 1 << 13

/**
 * Bytes of `data` covered by repeats of MATCH_MIN+ bytes of something within the 32 KiB before
 * them. Looked up only at anchors: positions whose 4 bytes hash into 1/8 of the hash range. An
 * anchor depends on content only, so both copies of a repeat have the same anchors, and a
 * repeat of 32 bytes holds one with probability 98%; this costs a fraction of visiting every
 * position. Each hit is extended both ways; an estimate, not deflate's parse.
 */
function repeatedBytes(data: Uint8Array): number {
  const n = data.length
  const recent = new Int32Array(ANCHOR_SLOTS).fill(-WINDOW_SIZE - 1) // latest anchor per slot
  let repeated = 0
  let covered = 0 // bytes before this are in a counted repeat
  let w = 0
  for (let i = 0; i < n; i++) {
    w = (w >>> 8) | (data[i] << 24) // bytes i-3..i
    if (i < covered + 3) continue
    const h = Math.imul(w, 0x9e3779b1)
    if (h >>> 29 !== 0) continue
    const at = i - 3
    const slot = (h >>> 16) & (ANCHOR_SLOTS - 1)
    const j = recent[slot]
    recent[slot] = at
    if (at - j > WINDOW_SIZE) continue
    let back = 0
    while (back < MATCH_MAX && at - back > covered && j - back > 0 && data[at - back - 1] === data[j - back - 1]) back++
    let forward = 0
    while (forward < MATCH_MAX && at + forward < n && data[at + forward] === data[j + forward]) forward++
    if (forward >= 4 && back + forward >= MATCH_MIN) {
      repeated += back + forward
      covered = at + forward
    }
  }
  return repeated
}

/** Compresses one block of the blocked method: stored when isIncompressible, else deflateBlock. */
export function compressBlock(job: BlockJob, level = 9): Uint8Array {
  checkLevel(level)
  return isIncompressible(job.data) ? storedBlocks(job.data, job.last) : deflateBlock(job.data, job.last, level)
}

/** Spare block buffers a BlockSplitter keeps: more than a pool of any size has in flight at once. */
const MAX_SPARE_BLOCKS = 16

/**
 * Cuts a stream into the blocked method's blocks and keeps its CRC-32 and length. A full block
 * is held back until more input arrives or the stream ends, so the last block is known to be
 * last (it ends in BFINAL, with no empty block after it). Every block is a fresh buffer of its
 * own, so it can be transferred to another thread.
 */
export class BlockSplitter {
  readonly blockSize: number
  private block: Uint8Array | undefined
  private fill = 0
  /** A full block whose successor has not been seen yet. */
  private full: Uint8Array | undefined
  /** Full-size block buffers handed back by recycle(), filled again before new ones are made. */
  private readonly spare: Uint8Array[] = []
  private crc = 0
  private size = 0
  private ended = false

  constructor(blockSize = GZIP_BLOCK_SIZE) {
    checkBlockSize(blockSize)
    this.blockSize = blockSize
  }

  /** Takes input; returns the blocks now known not to be last (possibly none). */
  push(chunk: Uint8Array): BlockJob[] {
    if (this.ended) throw new Error('gzip: write after end')
    this.crc = crc32(chunk, this.crc)
    this.size += chunk.length
    const jobs: BlockJob[] = []
    let i = 0
    while (i < chunk.length) {
      if (this.full) jobs.push(this.release(this.full, false))
      this.block ??= this.spare.pop() ?? new Uint8Array(this.blockSize)
      const n = Math.min(this.blockSize - this.fill, chunk.length - i)
      this.block.set(chunk.subarray(i, i + n), this.fill)
      this.fill += n
      i += n
      if (this.fill === this.blockSize) {
        this.full = this.block
        this.block = undefined
        this.fill = 0
      }
    }
    return jobs
  }

  /** Ends the input; returns the last block (empty data for an empty stream). */
  end(): BlockJob {
    if (this.ended) throw new Error('gzip: ended twice')
    this.ended = true
    if (this.full) return this.release(this.full, true) // the input ended on the grid
    return this.release(this.block ? this.block.slice(0, this.fill) : new Uint8Array(0), true)
  }

  /**
   * Hands back the buffer of a block whose compression is done, to be filled again: the caller
   * must hold no other reference to it. Buffers that are not a whole full-size block are dropped.
   */
  recycle(data: Uint8Array): void {
    const whole = data.byteOffset === 0 && data.buffer.byteLength === this.blockSize && data.length === this.blockSize
    if (whole && data.buffer instanceof ArrayBuffer && this.spare.length < MAX_SPARE_BLOCKS) this.spare.push(data)
  }

  /** The gzip trailer of everything pushed; after end(). */
  trailer(): Uint8Array {
    if (!this.ended) throw new Error('gzip: trailer before end')
    return gzipTrailer(this.crc, this.size)
  }

  private release(data: Uint8Array, last: boolean): BlockJob {
    this.full = undefined
    return {data, last}
  }
}

export interface GzipBlocksOptions {
  /** 0..9, default 9. */
  level?: number
  /** Default GZIP_BLOCK_SIZE; part of the method (gzipBlocksMethod names it). */
  blockSize?: number
}

/**
 * Gzips a stream with the blocked method, one block after another on this thread: the reference
 * for src/image/parallel-gzip.ts, which gives the same bytes on any number of threads.
 */
export async function* gzipBlocksStream(source: AsyncIterable<Uint8Array>, options: GzipBlocksOptions = {}): AsyncGenerator<Uint8Array> {
  const level = options.level ?? 9
  checkLevel(level)
  const splitter = new BlockSplitter(options.blockSize ?? GZIP_BLOCK_SIZE)
  yield gzipHeader(level)
  for await (const chunk of source) {
    for (const job of splitter.push(chunk)) yield compressBlock(job, level)
  }
  yield compressBlock(splitter.end(), level)
  yield splitter.trailer()
}
