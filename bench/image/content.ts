// Deterministic file contents for the synthetic bench image: a seeded PRNG of our own (xoshiro128**,
// seeded through sha256) and three kinds of bytes with the compressibility of a real root file
// system. Pure: the same (seed, stream) gives the same bytes on every machine and Node.js version
// (only 32-bit integer arithmetic, no Math.random, no floating point in the byte paths).
import {createHash} from 'node:crypto'

/** xoshiro128** (Blackman and Vigna): fast, 32-bit only, good enough for test data. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  /** Seeded by sha256(seed "/" stream): independent streams per file, whatever order they are made in. */
  constructor(seed: string, stream: string | number) {
    const h = createHash('sha256').update(`${seed}/${stream}`).digest()
    this.a = h.readUInt32LE(0)
    this.b = h.readUInt32LE(4)
    this.c = h.readUInt32LE(8)
    this.d = h.readUInt32LE(12) | 1 // never the all-zero state
  }

  /** A uint32. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  /** In [0, 1): only for planning (sizes, choices), never for bytes. */
  float(): number {
    return this.next() / 4294967296
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  /** A standard normal deviate (Box-Muller); planning only. */
  normal(): number {
    const u = 1 - this.float()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float())
  }

  /** Fills out[from, to) with random bytes. */
  fill(out: Uint8Array, from: number, to: number): void {
    let i = from
    for (; i + 4 <= to; i += 4) {
      const x = this.next()
      out[i] = x
      out[i + 1] = x >>> 8
      out[i + 2] = x >>> 16
      out[i + 3] = x >>> 24
    }
    if (i < to) {
      let x = this.next()
      for (; i < to; i++, x >>>= 8) out[i] = x
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

/** A small vocabulary: text files are lines of these words, as documentation and configs are. */
export const WORDS = (
  'the of and to in is for on with that by this be are from as or at an it not which can use file ' +
  'data system user value default config path name type set list table error return function option ' +
  'module package build install library version source output input buffer stream socket server client ' +
  'request response header length size offset index count number string object array map key node tree ' +
  'root kernel device driver memory process thread signal event timer queue lock mutex cache store read ' +
  'write open close start stop init load save parse format encode decode check verify sign hash digest ' +
  'boot image layer block sector partition volume mount network address port host route packet frame ' +
  'session token secret public private state status mode flag level debug info warn trace log message ' +
  'first last next previous begin end new old true false null none all any each every other only also ' +
  'when then else while until after before between under over into onto within without must should may ' +
  'will shall does done make made see note example usage manual page section chapter copyright license'
).split(' ')

/** Word indices weighted by rank (Zipf, s = 1): natural text repeats its common words. */
const ZIPF = (() => {
  const table = new Uint16Array(8192)
  let total = 0
  for (let r = 0; r < WORDS.length; r++) total += 1 / (r + 1)
  let at = 0
  for (let r = 0; r < WORDS.length && at < table.length; r++) {
    const slots = Math.max(1, Math.round(((1 / (r + 1)) / total) * table.length))
    for (let s = 0; s < slots && at < table.length; s++) table[at++] = r
  }
  while (at < table.length) table[at++] = WORDS.length - 1
  return table
})()
const WORD_BYTES = WORDS.map((w) => Buffer.from(w, 'latin1'))

export type ContentKind = 'text' | 'elf' | 'packed'

/** The bytes of one file: `size` bytes of `kind`, from its own stream. */
export function fileContent(seed: string, id: number, kind: ContentKind, size: number): Buffer {
  const out = Buffer.alloc(size)
  const rng = new Rng(seed, `file-${id}`)
  if (kind === 'text') text(rng, out, 0, size)
  else if (kind === 'elf') elf(rng, out)
  else packed(rng, out)
  return out
}

/** Copies `src` into out at `at`, clipped at `end`; returns the new position. */
function put(out: Uint8Array, at: number, end: number, src: Uint8Array): number {
  const n = Math.min(src.length, end - at)
  for (let i = 0; i < n; i++) out[at + i] = src[i]!
  return at + n
}

function word(rng: Rng): Uint8Array {
  return WORD_BYTES[ZIPF[rng.next() & 8191]!]!
}

const SPACE = Buffer.from(' ')
const NL = Buffer.from('\n')
const EQ = Buffer.from(' = ')
const INDENT = Buffer.from('    ')
const DIGITS = Buffer.from('0123456789abcdef')

/** Documentation, configs and scripts: prose lines, key = value lines, indented code-like lines (3-5x with gzip -6). */
function text(rng: Rng, out: Uint8Array, from: number, to: number): void {
  let at = from
  let lineStart = -1
  let lineEnd = -1
  while (at < to) {
    const form = rng.next() & 7
    const start = at
    if (form === 7 && lineStart >= 0) {
      // A line seen just before, slightly changed: docs and configs repeat themselves.
      at = put(out, at, to, out.subarray(lineStart, lineEnd))
      if (at < to) out[at++] = DIGITS[rng.next() & 15]!
    } else if (form < 4) {
      for (let n = 5 + (rng.next() & 7); n > 0 && at < to; n--) {
        at = put(out, at, to, word(rng))
        at = put(out, at, to, SPACE)
      }
    } else if (form < 6) {
      at = put(out, at, to, word(rng))
      if (at < to) out[at++] = 0x5f // "_"
      at = put(out, at, to, word(rng))
      at = put(out, at, to, EQ)
      // A number: the bytes gzip cannot predict from the vocabulary.
      for (let n = 1 + (rng.next() & 1); n > 0 && at < to; n--) out[at++] = DIGITS[rng.next() % 10]!
    } else {
      at = put(out, at, to, INDENT)
      at = put(out, at, to, word(rng))
      if (at < to) out[at++] = 0x28 // "("
      at = put(out, at, to, word(rng))
      if (at < to) out[at++] = 0x29 // ")"
    }
    lineStart = start
    lineEnd = at
    at = put(out, at, to, NL)
  }
}

/** Bytes x86-64 code is full of (REX prefixes, mov, call, jcc, push/pop, ret): code is skewed, not uniform. */
const OPCODES = Buffer.from([0x48, 0x89, 0x8b, 0xe8, 0xc3, 0x0f, 0x85, 0x84, 0x74, 0x75, 0x31, 0xc0, 0xff, 0x83, 0x45, 0x24, 0x55, 0x5d, 0x41, 0x4c, 0x8d, 0x00, 0x01, 0xeb])

/**
 * ELF-like: a real ELF64 header, then sections as binaries have them: code (skewed bytes), zero
 * padding to page boundaries, symbol tables (24-byte records with slowly varying fields), string
 * tables (identifiers from the vocabulary) and read-only data (random). About 2x with gzip -6.
 */
function elf(rng: Rng, out: Buffer): void {
  const size = out.length
  const header = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0x3e, 0, 1, 0, 0, 0])
  let at = put(out, 0, size, header)
  at = Math.min(size, 64)
  while (at < size) {
    const kind = rng.next() % 100
    const len = Math.min(size - at, 512 + (rng.next() % 16384))
    const end = at + len
    if (kind < 34) {
      // Code: mostly common opcode bytes, an eighth anything.
      for (; at < end; at++) {
        const x = rng.next()
        out[at] = x & 7 ? OPCODES[(x >>> 3) % OPCODES.length]! : x >>> 8
      }
    } else if (kind < 46) {
      // Padding to a 4 KiB boundary and a few pages more (left as zeros), as between segments.
      at = Math.min(size, ((at + 4096) & ~4095) + (rng.next() & 7) * 4096)
    } else if (kind < 66) {
      // Symbol table: st_name grows, st_info/st_shndx from a few values, st_value grows, small st_size.
      let name = rng.next() & 0xffff
      let value = 0x1000 + (rng.next() & 0xfffff)
      for (; at + 24 <= end; at += 24) {
        name += 4 + (rng.next() & 31)
        value += 16 + (rng.next() & 255)
        out.writeUInt32LE(name >>> 0, at)
        out[at + 4] = rng.next() & 1 ? 0x12 : 0x11
        out[at + 6] = 1 + (rng.next() & 15)
        out.writeUInt32LE(value >>> 0, at + 8)
        out[at + 16] = rng.next() & 0xff
      }
      at = end
    } else if (kind < 92) {
      // String table: identifiers, NUL-terminated.
      while (at < end) {
        at = put(out, at, end, word(rng))
        if (at < end) out[at++] = 0x5f
        at = put(out, at, end, word(rng))
        if (at < end) out[at++] = 0
      }
    } else {
      rng.fill(out, at, end)
      at = end
    }
  }
}

/** Already compressed (gzip, xz, PNG, fonts): random bytes after a magic number; about 1x. */
function packed(rng: Rng, out: Uint8Array): void {
  const magic = Buffer.from([0x1f, 0x8b, 0x08, 0x00])
  rng.fill(out, put(out, 0, out.length, magic), out.length)
}
