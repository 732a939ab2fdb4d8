// Helpers for the tar reader's tests: hand-made header blocks (to write what no tar writer would),
// PAX records, and a parse that collects every entry and its data from chunks of a given size.
import assert from 'node:assert/strict'

import {type TarHeader, TarReader} from '../../src/formats/tar-reader.js'

export const BLOCK = 512
export const END = new Uint8Array(2 * BLOCK)
const enc = new TextEncoder()

export const bytes = (s: string | Uint8Array) => (typeof s === 'string' ? enc.encode(s) : s)

export function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

const pad = (n: number) => new Uint8Array((BLOCK - (n % BLOCK)) % BLOCK)

export interface RawHeader {
  name?: string | Uint8Array
  mode?: number
  uid?: number
  gid?: number
  size?: number
  mtime?: number
  /** A character ('0', 'x', ...) or a byte value. */
  typeflag?: string | number
  linkName?: string | Uint8Array
  /** 'ustar' ("ustar\0" "00", the default), 'gnu' ("ustar  \0"), 'v7' (no magic), 'star' (ustar + "tar\0" at 508). */
  format?: 'ustar' | 'gnu' | 'v7' | 'star'
  uname?: string
  gname?: string
  devMajor?: number
  devMinor?: number
  prefix?: string | Uint8Array
  /** Raw bytes put at these header offsets after the fields are written (before the checksum). */
  patch?: Array<[number, ArrayLike<number>]>
  /** 'unsigned' (default), 'signed' (bytes >= 0x80 counted negative), or a value to write instead. */
  checksum?: 'unsigned' | 'signed' | number
}

function octal(h: Uint8Array, at: number, width: number, v: number): void {
  const digits = v.toString(8).padStart(width - 1, '0')
  assert.ok(digits.length <= width - 1, `${v} does not fit ${width} bytes of octal`)
  h.set(enc.encode(digits), at)
  h[at + width - 1] = 0
}

/** One 512-byte header block, fields as given (defaults: a ustar file "f", 0644, 0:0, size 0, mtime 1). */
export function rawHeader(f: RawHeader = {}): Uint8Array {
  const h = new Uint8Array(BLOCK)
  h.set(bytes(f.name ?? 'f').subarray(0, 100), 0)
  octal(h, 100, 8, f.mode ?? 0o644)
  octal(h, 108, 8, f.uid ?? 0)
  octal(h, 116, 8, f.gid ?? 0)
  octal(h, 124, 12, f.size ?? 0)
  octal(h, 136, 12, f.mtime ?? 1)
  const t = f.typeflag ?? '0'
  h[156] = typeof t === 'number' ? t : t.charCodeAt(0)
  h.set(bytes(f.linkName ?? '').subarray(0, 100), 157)
  const format = f.format ?? 'ustar'
  if (format !== 'v7') {
    h.set(enc.encode(format === 'gnu' ? 'ustar  \0' : 'ustar\u000000'), 257)
    h.set(enc.encode(f.uname ?? ''), 265)
    h.set(enc.encode(f.gname ?? ''), 297)
    octal(h, 329, 8, f.devMajor ?? 0)
    octal(h, 337, 8, f.devMinor ?? 0)
    if (f.prefix !== undefined) h.set(bytes(f.prefix), 345)
    if (format === 'star') h.set(enc.encode('tar\0'), 508)
  }
  for (const [at, b] of f.patch ?? []) h.set(b, at)
  h.fill(0x20, 148, 156)
  let sum = 0
  for (const c of h) sum += f.checksum === 'signed' && c >= 0x80 ? c - 256 : c
  octal(h, 148, 7, typeof f.checksum === 'number' ? f.checksum : sum)
  h[155] = 0x20
  return h
}

/** A header, its data and the padding to the next block. */
export function entry(f: RawHeader, data: Uint8Array | string = new Uint8Array(0)): Uint8Array {
  const d = bytes(data)
  return concat(rawHeader({size: d.length, ...f}), d, pad(d.length))
}

/** One PAX record "LEN key=value\n" with LEN computed. */
export function paxRecord(key: string, value: string | Uint8Array): Uint8Array {
  const body = concat(enc.encode(` ${key}=`), bytes(value), enc.encode('\n'))
  let len = body.length + 1
  while (String(len).length + body.length !== len) len = String(len).length + body.length
  return concat(enc.encode(String(len)), body)
}

/** A PAX 'x' (or 'g') header with these records, or with `raw` record bytes as given. */
export function pax(records: Array<[string, string | Uint8Array]> | Uint8Array, typeflag: 'x' | 'g' = 'x'): Uint8Array {
  const data = records instanceof Uint8Array ? records : concat(...records.map(([k, v]) => paxRecord(k, v)))
  return entry({name: 'PaxHeaders/x', typeflag}, data)
}

/** A GNU 'L' or 'K' record: the name and a NUL. */
export function gnuLong(typeflag: 'L' | 'K', name: string | Uint8Array): Uint8Array {
  return entry({name: '././@LongLink', typeflag, format: 'gnu'}, concat(bytes(name), new Uint8Array(1)))
}

export interface Parsed {
  header: TarHeader
  data: Buffer
}

/**
 * Parses `archive` pushed in chunks of `chunk` bytes. Checks the visitor contract on the way:
 * entry, then data only for sized entries and only as views of the pushed bytes, then end.
 */
export function parse(archive: Uint8Array, chunk = archive.length || 1): Parsed[] {
  const out: Parsed[] = []
  let parts: Buffer[] = []
  let open = false
  const reader = new TarReader({
    entry(header) {
      assert.ok(!open, 'entry() before the previous end()')
      open = true
      parts = []
      out.push({header, data: Buffer.alloc(0)})
    },
    data(c) {
      assert.ok(open, 'data() outside an entry')
      assert.ok(c.length > 0, 'empty data chunk')
      assert.equal(c.buffer, archive.buffer, 'data is not a view of the pushed chunk')
      parts.push(Buffer.from(c))
    },
    end() {
      assert.ok(open, 'end() without entry()')
      open = false
      const last = out[out.length - 1]
      last.data = Buffer.concat(parts)
      assert.equal(last.data.length, last.header.size, 'data length differs from size')
    },
  })
  for (let i = 0; i < archive.length; i += chunk) reader.push(archive.subarray(i, i + chunk))
  reader.finish()
  assert.ok(!open, 'finish() accepted an entry without its end()')
  return out
}

export const CHUNKS = [1, 511, 512, 513, 4096, 65536]

/** Parses in every chunk size, asserts that each gives the same entries and that every dataOffset points at the data. */
export function parseEverySize(archive: Uint8Array, chunks = CHUNKS): Parsed[] {
  const first = parse(archive, archive.length || 1)
  for (const p of first) {
    assert.deepEqual(Buffer.from(archive.subarray(p.header.dataOffset, p.header.dataOffset + p.header.size)), p.data, `dataOffset of ${text(p.header.name)}`)
  }
  for (const size of chunks) assert.deepEqual(parse(archive, size), first, `chunks of ${size} bytes`)
  return first
}

/** Throws the error parsing gives, at every chunk size (the same message each time). */
export function parseError(archive: Uint8Array, chunks = CHUNKS): Error {
  let first: Error | undefined
  for (const size of [archive.length || 1, ...chunks]) {
    let error: Error | undefined
    try {
      parse(archive, size)
    } catch (e) {
      error = e as Error
    }
    assert.ok(error, `no error in chunks of ${size} bytes`)
    if (first) assert.equal(error.message, first.message, `chunks of ${size} bytes`)
    first ??= error
  }
  return first!
}

export const text = (b: Uint8Array) => Buffer.from(b).toString('utf8')
