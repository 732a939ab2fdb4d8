// Deterministic gzip (RFC 1952) in one method, the blocked one, around fflate's raw deflate.
//
// Why fflate, pinned: node:zlib is never used for deflate output, because its bytes change between
// Node.js versions (DESIGN.md). fflate is pure JS, so its output depends only on its own code, and
// package.json pins it to exactly FFLATE_VERSION (no range): another fflate version may choose other
// matches or block splits and so other bytes, which is why the method string names the version.
// It replaced pako 3.0.3, which was about 4x slower at level 9 on root file system data.
//
// The method (gzipBlocksStream here, src/image/parallel-gzip.ts on every core): the input is cut
// into GZIP_BLOCK_SIZE blocks on a grid counted from the start of the stream; each block is
// compressed on its own (compressBlock) with the 32 KiB of input before it as fflate's preset
// dictionary, ending in a sync flush (byte-aligned, ends 00 00 ff ff), the last one in BFINAL.
// The first block has no dictionary: unless it is also the last, its first 32 KiB are stored, to
// keep clear of a bug of fflate's (see deflateBlock). The outputs concatenate into ONE deflate
// stream and one gzip member: the kernel's initramfs unpacker reports "junk at the end of
// compressed archive" when a member ends inside a cpio archive, so several members are not an
// option. A block that looks random (isIncompressible) is written as stored blocks without
// running fflate.
//
// What the bytes depend on: each block's bytes depend only on its data, the 32 KiB before it,
// whether it is last, the level, and fflate's code and fixed options (FFLATE_VERSION, FFLATE_MEM):
// never on the thread count, the machine, the Node.js version, or how the caller chunks its input
// (BlockSplitter puts every block on the grid, and each fflate call gets a whole block). The name
// of all this, for the build record, is gzipBlocksMethod().
//
// - Header: 1f 8b 08, FLG 0 (no name, comment, extra or header CRC), MTIME 0,
//   XFL 2 for level 9, 4 for levels 0 and 1, else 0 (as zlib sets it), OS 3 (Unix) always,
//   whatever the host: the same header `gzip -n` writes on Unix.
// - Trailer: CRC-32 and ISIZE (length mod 2^32), little-endian.
//
// Pure: bytes in, bytes out. (node:zlib's crc32 is a pure function: a CRC is math, not deflate
// output; it is used when present, node >= 20.15, and ./crc32.js otherwise: the same numbers.)

import {Deflate, type DeflateOptions, deflateSync} from 'fflate'
import zlib from 'node:zlib'
import {concatBytes} from './bytes.js'
import {crc32 as jsCrc32} from './crc32.js'

/** CRC-32 continuing from `previous`: node's native one where it exists (fast), ours otherwise. */
const crc32: (data: Uint8Array, previous: number) => number =
  typeof zlib.crc32 === 'function' ? (data, previous) => zlib.crc32(data, previous) : jsCrc32

/** OS byte of the header: 3 = Unix, fixed. */
export const GZIP_OS = 3
/** The fflate version the method's bytes are made by: package.json pins exactly this (a test checks). */
export const FFLATE_VERSION = '0.8.3'
/**
 * fflate's memory level, fixed: left unset, fflate derives it from the input's length with
 * Math.log. 8 is what it derives for a 1 MiB block (a 2^20-entry hash table, 2 MB per block).
 */
const FFLATE_MEM = 8

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
/** Deflate's window: each block's preset dictionary is this much of the input before it. */
export const DICTIONARY_SIZE = 32 * 1024
/** Largest LEN of a stored deflate block. */
const STORED_MAX = 65535

/** One block of input, ready for compressBlock. */
export interface BlockJob {
  data: Uint8Array
  /** The DICTIONARY_SIZE bytes of input before `data` (empty for the first block). */
  dictionary: Uint8Array
  /** The last block of the stream: ends in BFINAL rather than a sync flush. */
  last: boolean
}

/**
 * The name of the blocked method for the build record: what a person needs to know to get the
 * same bytes (level, deflate engine and its exact version, block size, dictionary, the stored
 * shortcut and its threshold).
 */
export function gzipBlocksMethod(level = 9, blockSize = GZIP_BLOCK_SIZE): string {
  checkLevel(level)
  const size = blockSize % (1 << 20) === 0 ? `${blockSize >>> 20}MiB` : blockSize % 1024 === 0 ? `${blockSize >>> 10}KiB` : `${blockSize}B`
  return `gzip-${level}-fflate-${FFLATE_VERSION}-blocks-${size}-dict32K-stored-if-entropy-7.97`
}

/** The method string of the default blocked gzip (level 9, 1 MiB blocks). */
export const GZIP_BLOCKS_METHOD = gzipBlocksMethod(9, GZIP_BLOCK_SIZE)

function checkBlockSize(blockSize: number): void {
  // At least one window, so a block's dictionary always comes from the one block before it.
  if (!Number.isInteger(blockSize) || blockSize < DICTIONARY_SIZE || blockSize > 1 << 30) {
    throw new RangeError(`gzip: block size must be an integer in ${DICTIONARY_SIZE}..${1 << 30}, got ${blockSize}`)
  }
}

/**
 * Raw deflate of one block with fflate: `dictionary` preset (none when empty), ending in a sync
 * flush (byte-aligned, ends 00 00 ff ff) or, when `last`, in BFINAL. Each fflate call gets the
 * whole block at once, so the bytes depend only on the arguments. Level 0 is storedBlocks.
 *
 * Two bugs of fflate 0.8.3 shape this (both seen here on the benchmark's data; node:zlib and
 * gzip reject the output):
 * - Its streaming Deflate, without 32 KiB of history before the data, can emit a match that
 *   reaches back before the start of the stream ("invalid distance too far back"; 1 to 3 in
 *   100 first blocks of 64 KiB to 1 MiB cut at random places of that data; 10 bytes suffice,
 *   see the tests): its match finder bounds distances by its buffer, whose first 32 KiB are
 *   then zeros, not history. deflateSync bounds them by its input and has no such bug. So the
 *   last block is one deflateSync call (it ends in BFINAL anyway), and a block that must end in
 *   a sync flush only goes through Deflate after a full window of real history: when it has
 *   less (the first block of a stream), its first bytes, as many as the window lacks, are
 *   written as a stored block and become the history of the rest.
 * - Its flush(true) writes the empty stored block wrongly whenever the unfinished last byte
 *   holds code bits, or 6 of its 8 bits are used (LEN/NLEN land one byte early): "invalid
 *   stored block lengths" at the next block (fflate issue #267, fix proposed in #286; 1 of the
 *   first 24 1 MiB blocks of that data; fflate's own inflate does not notice). So flush(false)
 *   compresses what is still buffered and emits every finished byte, and syncFlushTail writes
 *   the rest of the sync flush from fflate's state: the bytes fflate's flush(true) is meant to
 *   write (and does with the fix of #286).
 */
export function deflateBlock(data: Uint8Array, dictionary: Uint8Array, last: boolean, level = 9): Uint8Array {
  checkLevel(level)
  if (level === 0) return storedBlocks(data, last)
  // deflateSync returns a buffer of its own, of exactly the output: transferable as it is.
  if (last) return deflateSync(data, fflateOptions(level, dictionary))
  const missing = DICTIONARY_SIZE - Math.min(DICTIONARY_SIZE, dictionary.length)
  if (missing === 0) return deflateSyncFlushed(data, dictionary, level)
  const stored = storedBlocks(data.subarray(0, missing), false)
  if (data.length <= missing) return stored
  const window = concatBytes([dictionary, data.subarray(0, missing)]).subarray(-DICTIONARY_SIZE)
  return concatBytes([stored, deflateSyncFlushed(data.subarray(missing), window, level)])
}

/** fflate's options for a block: the level, the fixed memory level, and the dictionary if any. */
function fflateOptions(level: number, dictionary: Uint8Array): DeflateOptions {
  const options: DeflateOptions = {level: level as DeflateOptions['level'], mem: FFLATE_MEM}
  // fflate takes the last 32 KiB of any dictionary it is given: pass the key only when there is one.
  if (dictionary.length > 0) options.dictionary = dictionary
  return options
}

/** `data` through fflate's streaming Deflate after a full 32 KiB `dictionary`, ending in a sync flush. */
function deflateSyncFlushed(data: Uint8Array, dictionary: Uint8Array, level: number): Uint8Array {
  const parts: Uint8Array[] = []
  const deflate = new Deflate(fflateOptions(level, dictionary), (chunk) => {
    parts.push(chunk)
  })
  deflate.push(data, false)
  deflate.flush(false)
  parts.push(syncFlushTail(deflate))
  return concatBytes(parts) // a buffer of its own: it can move between threads as it is
}


/**
 * The end of a sync flush after `deflate.flush(false)`: fflate's unfinished last byte, then an
 * empty stored block (3 zero header bits, zero bits to the byte boundary, LEN 0000, NLEN ffff).
 * fflate 0.8.3 keeps that byte in its private state `s.r`: the count of its bits in use in the
 * low 3 bits, the byte itself above (what its own flush(true) reads). Anything else there means
 * fflate is not 0.8.3, and this throws rather than write a stream no inflater accepts.
 */
function syncFlushTail(deflate: Deflate): Uint8Array {
  // Always set by the flush(false) before (fflate writes it after every non-final call).
  const r = (deflate as unknown as {s?: {r?: unknown}}).s?.r
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r >= 1 << 11 || r >>> 3 >>> (r & 7) !== 0) {
    throw new Error(`gzip: fflate's state is not what fflate ${FFLATE_VERSION} keeps (s.r = ${String(r)}): is another fflate version installed?`)
  }
  const used = r & 7
  // The header's 3 bits fit in the unfinished byte, or spill into one more byte.
  const headerBytes = used + 3 <= 8 ? 1 : 2
  const tail = new Uint8Array(headerBytes + 4)
  tail[0] = r >>> 3
  tail[headerBytes + 2] = 0xff
  tail[headerBytes + 3] = 0xff
  return tail
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
  const recent = new Int32Array(ANCHOR_SLOTS).fill(-DICTIONARY_SIZE - 1) // latest anchor per slot
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
    if (at - j > DICTIONARY_SIZE) continue
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
  return isIncompressible(job.data) ? storedBlocks(job.data, job.last) : deflateBlock(job.data, job.dictionary, job.last, level)
}

/**
 * Cuts a stream into the blocked method's blocks and keeps its CRC-32 and length. A full block
 * is held back until more input arrives or the stream ends, so the last block is known to be
 * last (it ends in BFINAL, with no empty block after it). Every block and dictionary is a fresh
 * buffer of its own, so it can be transferred to another thread.
 */
export class BlockSplitter {
  readonly blockSize: number
  private block: Uint8Array | undefined
  private fill = 0
  /** A full block whose successor has not been seen yet. */
  private full: Uint8Array | undefined
  private dictionary = new Uint8Array(0)
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
      this.block ??= new Uint8Array(this.blockSize)
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

  /** The gzip trailer of everything pushed; after end(). */
  trailer(): Uint8Array {
    if (!this.ended) throw new Error('gzip: trailer before end')
    return gzipTrailer(this.crc, this.size)
  }

  private release(data: Uint8Array, last: boolean): BlockJob {
    const job = {data, dictionary: this.dictionary, last}
    this.full = undefined
    // Copied now: `data` may be transferred to a worker as soon as the job is handed out.
    if (!last) this.dictionary = data.slice(data.length - DICTIONARY_SIZE)
    return job
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
