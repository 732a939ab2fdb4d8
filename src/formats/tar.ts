// Deterministic tar writer (POSIX ustar, with pax extended headers only where ustar has no room),
// for `rootfs --out FILE.tar` and test fixtures.
//
// What the writer produces, and promises:
// - One 512-byte ustar header per entry (magic "ustar\0", version "00"), then the data padded
//   with NULs to 512. Numeric fields in zero-padded octal ending in NUL, the checksum as six
//   octal digits, NUL, space (as GNU tar writes it). uname/gname as given, or empty.
// - Directory names end in '/' (added when missing). Names are UTF-8, relative (no leading '/'),
//   no '..' component, no NUL.
// - A name over 100 bytes is split into ustar prefix (<= 155) + name (<= 100) at the last '/'
//   that makes both fit. Only when no split fits, or a link target is over 100 bytes, or size,
//   uid, gid or mtime do not fit their octal fields, a pax 'x' header comes first, named
//   "././@PaxHeader", mode 0644, owner 0:0, mtime 0, holding only the records that need it,
//   sorted by key (gid, linkpath, mtime, path, size, uid): never atime or ctime. The ustar header
//   behind it holds what fits (a name cut to 100 bytes, 0 in a numeric field that overflowed).
// - Ends with two 512-byte zero blocks and nothing more: no padding to a 10240-byte record
//   (GNU tar's blocking factor); readers do not need it.
// - Streamed data must be exactly `size` bytes; otherwise the writer throws (the bytes already
//   yielded are then not an archive: write to a temp file and drop it).
//
// Pure: bytes in, bytes out.

import {badInputError} from '../errors.js'
import {exactly} from './bytes.js'

export type TarType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo'

export interface TarEntry {
  /** Relative path, e.g. "usr/bin/busybox"; a directory may end in '/'. */
  name: string
  type: TarType
  /** Permission bits only (0..0o7777). */
  mode: number
  uid: number
  gid: number
  uname?: string
  gname?: string
  mtime: number
  /** Bytes of data; 0 for everything but 'file'. */
  size: number
  /** Target of a symlink (any text) or a hardlink (another entry's name). */
  linkName?: string
  devMajor?: number
  devMinor?: number
  /** The bytes, or `{external}`: bytes the consumer of tarSegments supplies itself (exactly `size` of them). */
  data?: Uint8Array | (() => Iterable<Uint8Array> | AsyncIterable<Uint8Array>) | ExternalData
}

/** Content the writer does not read: it yields the marker in the data's place (see tarSegments). */
export interface ExternalData {
  external: unknown
}

const isExternal = (data: TarEntry['data']): data is ExternalData => data !== undefined && !(data instanceof Uint8Array) && typeof data === 'object'

const BLOCK = 512
const TYPEFLAG: Record<TarType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
}
/** Data given as one Uint8Array up to this size goes out in the same chunk as its header. */
const INLINE_MAX = 64 * 1024
const PAX_NAME = '././@PaxHeader'

const encoder = new TextEncoder()

const show = (s: string) => JSON.stringify(s.length > 200 ? s.slice(0, 200) + '...' : s)

/** A lone surrogate has no UTF-8 form (TextEncoder would write U+FFFD for it): refused, not replaced. */
function utf8(what: string, s: string): Uint8Array {
  if (!(s as string & {isWellFormed(): boolean}).isWellFormed()) throw badInputError(`tar: ${what} ${show(s)} is not valid Unicode`)
  return encoder.encode(s)
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name === '/') throw badInputError('tar: empty entry name')
  if (name.includes('\0')) throw badInputError(`tar: entry name ${show(name)} contains a NUL byte`)
  if (name.startsWith('/')) throw badInputError(`tar: entry name ${show(name)} starts with '/'; names are relative`)
  if (name.split('/').includes('..')) throw badInputError(`tar: entry name ${show(name)} has a '..' component`)
}

/** Largest value of an octal field `width` bytes wide (width-1 digits and a NUL). */
const octalMax = (width: number) => 8 ** (width - 1) - 1

function writeOctal(h: Uint8Array, at: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0')
  for (let i = 0; i < width - 1; i++) h[at + i] = digits.charCodeAt(i)
  h[at + width - 1] = 0
}

function writeBytes(h: Uint8Array, at: number, width: number, bytes: Uint8Array): void {
  h.set(bytes.subarray(0, width), at)
}

/** The first `max` bytes of `s`, not cutting a UTF-8 sequence. */
function cutUtf8(b: Uint8Array, max: number): Uint8Array {
  if (b.length <= max) return b
  let end = max
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--
  return b.subarray(0, end)
}

/** ustar prefix/name split of a long name, or undefined if none fits. */
function splitName(b: Uint8Array): {prefix: Uint8Array; name: Uint8Array} | undefined {
  // The longest prefix leaves the shortest name; a shorter prefix cannot help if it does not fit.
  for (let i = Math.min(155, b.length - 2); i > 0; i--) {
    if (b[i] !== 0x2f) continue
    const name = b.subarray(i + 1)
    if (name.length === 0 || name.length > 100) return undefined
    return {prefix: b.subarray(0, i), name}
  }
  return undefined
}

/** One pax record "LEN key=value\n", LEN counting the whole record with itself. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const body = 1 + encoder.encode(key).length + 1 + value.length + 1 // " key=value\n"
  let len = body + 1
  while (String(len).length + body !== len) len = String(len).length + body
  const head = encoder.encode(`${len} ${key}=`)
  const out = new Uint8Array(len)
  out.set(head)
  out.set(value, head.length)
  out[len - 1] = 0x0a
  return out
}

interface Fields {
  name: Uint8Array
  prefix: Uint8Array
  mode: number
  uid: number
  gid: number
  size: number
  mtime: number
  typeflag: string
  linkName: Uint8Array
  uname: Uint8Array
  gname: Uint8Array
  devMajor: number
  devMinor: number
}

function header(f: Fields): Uint8Array {
  const h = new Uint8Array(BLOCK)
  writeBytes(h, 0, 100, f.name)
  writeOctal(h, 100, 8, f.mode)
  writeOctal(h, 108, 8, f.uid)
  writeOctal(h, 116, 8, f.gid)
  writeOctal(h, 124, 12, f.size)
  writeOctal(h, 136, 12, f.mtime)
  h.fill(0x20, 148, 156) // checksum counted as spaces
  h[156] = f.typeflag.charCodeAt(0)
  writeBytes(h, 157, 100, f.linkName)
  writeBytes(h, 257, 6, encoder.encode('ustar\0'))
  writeBytes(h, 263, 2, encoder.encode('00'))
  writeBytes(h, 265, 32, f.uname)
  writeBytes(h, 297, 32, f.gname)
  writeOctal(h, 329, 8, f.devMajor)
  writeOctal(h, 337, 8, f.devMinor)
  writeBytes(h, 345, 155, f.prefix)
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += h[i]
  writeOctal(h, 148, 7, sum) // six digits and a NUL
  h[155] = 0x20
  return h
}

const pad512 = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK

function nonNegInt(name: string, field: string, v: number | undefined): number {
  const x = v ?? 0
  if (!Number.isSafeInteger(x) || x < 0) throw badInputError(`tar: ${show(name)}: ${field} ${x} is not a non-negative integer`)
  return x
}

/** Headers (pax header and its data, if needed, then the ustar header) for one entry. */
function entryHeaders(e: TarEntry): Uint8Array[] {
  checkName(e.name)
  const typeflag = TYPEFLAG[e.type]
  if (typeflag === undefined) throw badInputError(`tar: ${show(e.name)}: unknown type ${String(e.type)}`)
  const mode = nonNegInt(e.name, 'mode', e.mode)
  if (mode > 0o7777) throw badInputError(`tar: ${show(e.name)}: mode 0o${mode.toString(8)} has more than permission bits`)
  const uid = nonNegInt(e.name, 'uid', e.uid)
  const gid = nonNegInt(e.name, 'gid', e.gid)
  const mtime = nonNegInt(e.name, 'mtime', e.mtime)
  const size = nonNegInt(e.name, 'size', e.size)
  const devMajor = nonNegInt(e.name, 'devMajor', e.devMajor)
  const devMinor = nonNegInt(e.name, 'devMinor', e.devMinor)
  if (devMajor > octalMax(8) || devMinor > octalMax(8)) {
    throw badInputError(`tar: ${show(e.name)}: device ${devMajor}:${devMinor} does not fit ustar`)
  }
  if (e.type !== 'file' && size !== 0) throw badInputError(`tar: ${show(e.name)}: a ${e.type} has no data, size is ${size}`)
  if (size > 0 && e.data === undefined) throw badInputError(`tar: ${show(e.name)}: size ${size} but no data`)
  if (e.data instanceof Uint8Array && e.data.length !== size) {
    throw badInputError(`tar: ${show(e.name)}: size says ${size} bytes, data has ${e.data.length}`)
  }
  const isLink = e.type === 'symlink' || e.type === 'hardlink'
  if (isLink && !e.linkName) throw badInputError(`tar: ${show(e.name)}: a ${e.type} needs a linkName`)
  if (!isLink && e.linkName !== undefined) throw badInputError(`tar: ${show(e.name)}: a ${e.type} has no linkName`)
  const linkName = isLink ? utf8('link target', e.linkName!) : new Uint8Array(0)
  if (linkName.includes(0)) throw badInputError(`tar: ${show(e.name)}: link target contains a NUL byte`)
  if (e.type === 'hardlink') checkName(e.linkName!)

  const fullName = e.type === 'dir' && !e.name.endsWith('/') ? e.name + '/' : e.name
  const nameBytes = utf8('entry name', fullName)
  const uname = utf8('uname', e.uname ?? '')
  const gname = utf8('gname', e.gname ?? '')
  if (uname.length > 32 || gname.length > 32 || uname.includes(0) || gname.includes(0)) {
    throw badInputError(`tar: ${show(e.name)}: uname/gname must be at most 32 bytes without NUL`)
  }

  const pax: Array<[string, Uint8Array]> = []
  const num = (key: string, v: number, width: number) => {
    if (v <= octalMax(width)) return v
    pax.push([key, encoder.encode(String(v))])
    return 0
  }
  let name: Uint8Array = nameBytes
  let prefix: Uint8Array = new Uint8Array(0)
  if (nameBytes.length > 100) {
    const split = splitName(nameBytes)
    if (split) ({name, prefix} = split)
    else {
      pax.push(['path', nameBytes])
      name = cutUtf8(nameBytes, 100)
    }
  }
  let link: Uint8Array = linkName
  if (linkName.length > 100) {
    pax.push(['linkpath', linkName])
    link = cutUtf8(linkName, 100)
  }
  const fields: Fields = {
    name,
    prefix,
    mode,
    uid: num('uid', uid, 8),
    gid: num('gid', gid, 8),
    size: num('size', size, 12),
    mtime: num('mtime', mtime, 12),
    typeflag,
    linkName: link,
    uname,
    gname,
    devMajor,
    devMinor,
  }
  const ustar = header(fields)
  if (pax.length === 0) return [ustar]

  pax.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const records = pax.map(([k, v]) => paxRecord(k, v))
  const paxSize = records.reduce((n, r) => n + r.length, 0)
  const out = new Uint8Array(BLOCK + paxSize + pad512(paxSize))
  out.set(
    header({
      name: encoder.encode(PAX_NAME),
      prefix: new Uint8Array(0),
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: paxSize,
      mtime: 0,
      typeflag: 'x',
      linkName: new Uint8Array(0),
      uname: new Uint8Array(0),
      gname: new Uint8Array(0),
      devMajor: 0,
      devMinor: 0,
    }),
  )
  let at = BLOCK
  for (const r of records) {
    out.set(r, at)
    at += r.length
  }
  return [out, ustar]
}

/**
 * Writes a tar archive of `entries`, in the order given, ending with two zero blocks.
 * File data streamed by `data()` passes through without being copied.
 */
export async function* writeTar(entries: AsyncIterable<TarEntry> | Iterable<TarEntry>): AsyncGenerator<Uint8Array> {
  for await (const segment of tarSegments(entries)) {
    if (!(segment instanceof Uint8Array)) throw new Error('tar: an entry has external data; use tarSegments')
    yield segment
  }
}

/**
 * The archive as writeTar writes it, except that an entry's external data is yielded as its marker
 * (the consumer writes those `size` bytes in its place): a writer that never touches file content.
 */
export async function* tarSegments(entries: AsyncIterable<TarEntry> | Iterable<TarEntry>): AsyncGenerator<Uint8Array | ExternalData> {
  for await (const e of entries) {
    const headers = entryHeaders(e)
    const size = e.size
    const pad = pad512(size)
    if (e.data === undefined || (e.data instanceof Uint8Array && size <= INLINE_MAX)) {
      const last = headers[headers.length - 1]
      for (let i = 0; i < headers.length - 1; i++) yield headers[i]
      const buf = new Uint8Array(BLOCK + size + pad)
      buf.set(last)
      if (e.data instanceof Uint8Array) buf.set(e.data, BLOCK)
      yield buf
      continue
    }
    for (const h of headers) yield h
    if (e.data instanceof Uint8Array) {
      yield e.data
    } else if (isExternal(e.data)) {
      yield e.data
    } else {
      for await (const chunk of exactly(e.data(), size, (seen) => wrongSize(e.name, seen, size))) yield chunk
    }
    if (pad > 0) yield new Uint8Array(pad)
  }
  yield new Uint8Array(2 * BLOCK)
}

const wrongSize = (name: string, seen: number, size: number) =>
  badInputError(seen > size ? `tar: ${show(name)}: data is longer than its size ${size}` : `tar: ${show(name)}: data ended after ${seen} of ${size} bytes`)
