// cpio "newc" (SVR4, magic 070701), the initramfs format of the Linux kernel
// (Documentation/driver-api/early-userspace/buffer-format.rst).
//
//   archive := { ALGN(4) header name NUL ALGN(4) data } trailer pad512
//   header  := "070701" + 13 fields of 8 hex digits: ino mode uid gid nlink mtime filesize
//              devmajor devminor rdevmajor rdevminor namesize(with the NUL) check
//
// What the writer produces, and promises:
// - Hex fields in UPPERCASE, zero padded (as gen_init_cpio and GNU cpio write them).
// - Alignment counted from the start of the archive; padding bytes are NUL.
// - Every field is written as the caller gave it: the writer does not renumber inodes or
//   clamp times (the initrd stage does that, in sorted order). `check` is always 0.
// - A symlink's data is its target without a NUL (size = target length), as GNU cpio writes.
//   A regular file's data is its content. For a hardlink group the caller puts the data on the
//   LAST member and gives the others size 0 (GNU cpio's convention; the kernel accepts it).
//   Every other type has size 0.
// - Ends with "TRAILER!!!" (ino 0, mode 0, nlink 1, everything else 0, as GNU cpio and
//   gen_init_cpio write it), then NULs up to a multiple of 512 bytes (as gen_init_cpio does).
// - It never writes the "070702" crc format: its checksum sits in the header, before data that
//   we stream, so it would need the data twice.
// - Names: UTF-8, no leading '/', no NUL, no '..' component, not "TRAILER!!!", at most
//   PATH_MAX (4096) bytes with the NUL (the kernel skips longer ones).
// - Streamed data must be exactly `size` bytes; otherwise the writer throws. On a throw the
//   bytes already yielded are not an archive: callers write to a temp file and drop it.
//
// readNewc is a strict reader for tests and checks: whole archive in memory, every rule
// checked, a clear error with the byte offset for anything malformed.
//
// Pure: bytes in, bytes out.

import {badInputError} from '../errors.js'
import {exactly} from './bytes.js'

/** Longest name the kernel creates, counted with its NUL (include/uapi/linux/limits.h). */
export const CPIO_PATH_MAX = 4096
export const CPIO_TRAILER = 'TRAILER!!!'
export const NEWC_MAGIC = '070701'
export const CRC_MAGIC = '070702'

export const S_IFMT = 0o170000
export const S_IFSOCK = 0o140000
export const S_IFLNK = 0o120000
export const S_IFREG = 0o100000
export const S_IFBLK = 0o060000
export const S_IFDIR = 0o040000
export const S_IFCHR = 0o020000
export const S_IFIFO = 0o010000

const FILE_TYPES = new Set([S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO])

const HEADER_SIZE = 110
/** Data given as one Uint8Array up to this size goes out in the same chunk as its header. */
const INLINE_MAX = 64 * 1024

export interface CpioEntry {
  /** Path without a leading slash, e.g. "usr/bin/busybox"; "." is the root. */
  name: string
  /** Full st_mode, including the S_IFMT type bits. */
  mode: number
  uid: number
  gid: number
  nlink: number
  mtime: number
  ino: number
  devMajor?: number
  devMinor?: number
  rdevMajor?: number
  rdevMinor?: number
  /** Bytes of data: file content, or a symlink's target (no NUL); 0 for everything else. */
  size: number
  data?: Uint8Array | (() => Iterable<Uint8Array> | AsyncIterable<Uint8Array>)
}

/** One record as readNewc found it. `data` is a view into the input, not a copy. */
export interface CpioRecord extends CpioEntry {
  devMajor: number
  devMinor: number
  rdevMajor: number
  rdevMinor: number
  data: Uint8Array
  magic: typeof NEWC_MAGIC | typeof CRC_MAGIC
  /** Byte offset of the header from the start of the archive. */
  offset: number
  /** c_namesize as stored (name bytes + NUL + any extra NUL padding). */
  nameSize: number
  /** c_check as stored (verified only for "070702" regular files). */
  check: number
}

const encoder = new TextEncoder()
const strictDecoder = new TextDecoder('utf-8', {fatal: true})

const align4 = (n: number) => (n + 3) & ~3
const pad4 = (n: number) => (4 - (n & 3)) & 3

/** The "070702" checksum: the sum of the data bytes, modulo 2^32. */
export function newcChecksum(data: Uint8Array, previous = 0): number {
  let sum = previous >>> 0
  for (let i = 0; i < data.length; i++) sum += data[i]
  return sum >>> 0
}

function u32(entryName: string, field: string, value: number | undefined): number {
  const v = value ?? 0
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw badInputError(`cpio: ${JSON.stringify(entryName)}: ${field} ${v} does not fit the newc header (0..2^32-1)`)
  }
  return v
}

function nameBytes(name: string): Uint8Array {
  const shown = JSON.stringify(name.length > 200 ? name.slice(0, 200) + '...' : name)
  if (typeof name !== 'string' || name.length === 0) throw badInputError('cpio: empty entry name')
  if (name.includes('\0')) throw badInputError(`cpio: entry name ${shown} contains a NUL byte`)
  if (name.startsWith('/')) throw badInputError(`cpio: entry name ${shown} starts with '/'; names are relative to the root`)
  if (name.split('/').includes('..')) throw badInputError(`cpio: entry name ${shown} has a '..' component`)
  if (name === CPIO_TRAILER) throw badInputError(`cpio: an entry may not be named ${CPIO_TRAILER} (it ends the archive)`)
  const bytes = encoder.encode(name)
  if (strictDecoder.decode(bytes) !== name) throw badInputError(`cpio: entry name ${shown} is not valid Unicode`)
  if (bytes.length + 1 > CPIO_PATH_MAX) {
    throw badInputError(
      `cpio: entry name ${shown} is ${bytes.length} bytes; the kernel skips names over ${CPIO_PATH_MAX - 1} bytes`,
    )
  }
  return bytes
}

function hex8(out: Uint8Array, at: number, value: number): void {
  for (let i = 7; i >= 0; i--) {
    const d = value & 0xf
    out[at + i] = d < 10 ? 0x30 + d : 0x37 + d // '0'..'9', 'A'..'F'
    value >>>= 4
  }
}

interface HeaderFields {
  ino: number
  mode: number
  uid: number
  gid: number
  nlink: number
  mtime: number
  size: number
  devMajor: number
  devMinor: number
  rdevMajor: number
  rdevMinor: number
}

/**
 * Header + name + NUL + padding (so the data starts 4-aligned, given the header starts
 * 4-aligned), followed by `extra` spare bytes for inline data. Returns the buffer and the
 * offset where data goes.
 */
function headerBlock(h: HeaderFields, name: Uint8Array, extra: number): {buf: Uint8Array; dataAt: number} {
  const nameSize = name.length + 1
  const dataAt = align4(HEADER_SIZE + nameSize)
  const buf = new Uint8Array(dataAt + extra)
  for (let i = 0; i < 6; i++) buf[i] = NEWC_MAGIC.charCodeAt(i)
  const fields = [
    h.ino,
    h.mode,
    h.uid,
    h.gid,
    h.nlink,
    h.mtime,
    h.size,
    h.devMajor,
    h.devMinor,
    h.rdevMajor,
    h.rdevMinor,
    nameSize,
    0, // check
  ]
  for (let i = 0; i < fields.length; i++) hex8(buf, 6 + 8 * i, fields[i])
  buf.set(name, HEADER_SIZE)
  return {buf, dataAt}
}

function checkEntry(e: CpioEntry): HeaderFields {
  const n = e.name
  const h: HeaderFields = {
    ino: u32(n, 'ino', e.ino),
    mode: u32(n, 'mode', e.mode),
    uid: u32(n, 'uid', e.uid),
    gid: u32(n, 'gid', e.gid),
    nlink: u32(n, 'nlink', e.nlink),
    mtime: u32(n, 'mtime', e.mtime),
    size: u32(n, 'size', e.size),
    devMajor: u32(n, 'devMajor', e.devMajor),
    devMinor: u32(n, 'devMinor', e.devMinor),
    rdevMajor: u32(n, 'rdevMajor', e.rdevMajor),
    rdevMinor: u32(n, 'rdevMinor', e.rdevMinor),
  }
  const type = h.mode & S_IFMT
  if (h.mode > 0o177777 || !FILE_TYPES.has(type)) {
    throw badInputError(`cpio: ${JSON.stringify(n)}: mode 0o${h.mode.toString(8)} is not a file type and permission bits`)
  }
  if (type === S_IFLNK) {
    if (h.size === 0 || h.size > CPIO_PATH_MAX) {
      throw badInputError(`cpio: ${JSON.stringify(n)}: symlink target of ${h.size} bytes (must be 1..${CPIO_PATH_MAX})`)
    }
  } else if (type !== S_IFREG && h.size !== 0) {
    throw badInputError(`cpio: ${JSON.stringify(n)}: only regular files and symlinks carry data, size is ${h.size}`)
  }
  if (h.size > 0 && e.data === undefined) throw badInputError(`cpio: ${JSON.stringify(n)}: size ${h.size} but no data`)
  if (e.data instanceof Uint8Array && e.data.length !== h.size) {
    throw badInputError(`cpio: ${JSON.stringify(n)}: size says ${h.size} bytes, data has ${e.data.length}`)
  }
  return h
}

/**
 * Writes a newc archive of `entries`, in the order given, with a trailer and 512-byte end
 * padding. Chunks are yielded as they are ready; file data streamed by `data()` passes through
 * without being copied.
 */
export async function* writeNewc(entries: AsyncIterable<CpioEntry> | Iterable<CpioEntry>): AsyncGenerator<Uint8Array> {
  let pos = 0 // bytes yielded so far; always a multiple of 4 between entries
  for await (const e of entries) {
    const name = nameBytes(e.name)
    const h = checkEntry(e)
    const pad = pad4(h.size)
    const inline = e.data === undefined || (e.data instanceof Uint8Array && h.size <= INLINE_MAX)
    if (inline) {
      const {buf, dataAt} = headerBlock(h, name, h.size + pad)
      if (e.data instanceof Uint8Array) buf.set(e.data, dataAt)
      pos += buf.length
      yield buf
      continue
    }
    const {buf} = headerBlock(h, name, 0)
    pos += buf.length
    yield buf
    if (e.data instanceof Uint8Array) {
      pos += e.data.length
      yield e.data
    } else if (e.data !== undefined) {
      for await (const chunk of exactly(e.data(), h.size, (seen) => wrongSize(e.name, seen, h.size))) yield chunk
      pos += h.size
    }
    if (pad > 0) {
      pos += pad
      yield new Uint8Array(pad)
    }
  }
  const trailer = headerBlock(
    {ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0},
    encoder.encode(CPIO_TRAILER),
    0,
  ).buf
  pos += trailer.length
  const endPad = (512 - (pos % 512)) % 512
  const last = new Uint8Array(trailer.length + endPad)
  last.set(trailer)
  yield last
}

function malformed(offset: number, what: string): Error {
  return badInputError(`cpio: malformed newc archive at byte ${offset}: ${what}`)
}

function readHex8(bytes: Uint8Array, at: number, field: string): number {
  let v = 0
  for (let i = 0; i < 8; i++) {
    const c = bytes[at + i]
    let d: number
    if (c >= 0x30 && c <= 0x39) d = c - 0x30
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57
    else {
      const text = String.fromCharCode(...bytes.subarray(at, at + 8))
      throw malformed(at, `${field} field ${JSON.stringify(text)} is not 8 hex digits`)
    }
    v = v * 16 + d
  }
  return v
}

const FIELD_NAMES = [
  'ino',
  'mode',
  'uid',
  'gid',
  'nlink',
  'mtime',
  'filesize',
  'devmajor',
  'devminor',
  'rdevmajor',
  'rdevminor',
  'namesize',
  'check',
] as const

/**
 * Strict reader: every record up to and including "TRAILER!!!" (the trailer is the last
 * element when present; bytes after it are not read). An archive without a trailer ends at
 * the end of `bytes` or where only NUL bytes remain. Accepts "070701" and "070702" (whose
 * checksum is verified for regular files); hex in either case. Throws on bad magic (odc
 * "070707" included), "0x" or any non-hex digit in a field, a name that is empty, runs past
 * the archive, is not NUL-terminated at namesize or hides bytes after its NUL, data that runs
 * past the archive, non-NUL padding, or a wrong "070702" checksum.
 */
export function readNewc(bytes: Uint8Array): CpioRecord[] {
  const out: CpioRecord[] = []
  const len = bytes.length
  let pos = 0
  while (pos < len) {
    let rest = pos
    while (rest < len && bytes[rest] === 0) rest++
    if (rest === len) break // only NUL padding left
    if (len - pos < HEADER_SIZE) throw malformed(pos, `truncated header (${len - pos} of ${HEADER_SIZE} bytes)`)
    const magic = String.fromCharCode(...bytes.subarray(pos, pos + 6))
    if (magic !== NEWC_MAGIC && magic !== CRC_MAGIC) {
      const hint = magic === '070707' ? ' (that is the old "odc" format, not newc)' : ''
      throw malformed(pos, `bad magic ${JSON.stringify(magic)}, expected "070701" or "070702"${hint}`)
    }
    const f: number[] = []
    for (let i = 0; i < FIELD_NAMES.length; i++) f.push(readHex8(bytes, pos + 6 + 8 * i, FIELD_NAMES[i]))
    const [ino, mode, uid, gid, nlink, mtime, size, devMajor, devMinor, rdevMajor, rdevMinor, nameSize, check] = f
    const nameAt = pos + HEADER_SIZE
    if (nameSize === 0) throw malformed(pos, 'namesize is 0')
    const nameEnd = nameAt + nameSize
    if (nameEnd > len) {
      throw malformed(nameAt, `name of namesize ${nameSize} runs past the end of the archive (${len} bytes)`)
    }
    if (bytes[nameEnd - 1] !== 0) throw malformed(nameAt, `name is not NUL-terminated within namesize ${nameSize}`)
    const nul = bytes.indexOf(0, nameAt)
    for (let i = nul; i < nameEnd; i++) {
      if (bytes[i] !== 0) throw malformed(i, 'name has non-NUL bytes after its NUL')
    }
    if (nul === nameAt) throw malformed(nameAt, 'empty name')
    let name: string
    try {
      name = strictDecoder.decode(bytes.subarray(nameAt, nul))
    } catch {
      throw malformed(nameAt, 'name is not UTF-8')
    }
    const dataAt = align4(nameEnd)
    checkPadding(bytes, nameEnd, Math.min(dataAt, len))
    const dataEnd = dataAt + size
    if (dataEnd > len) {
      throw malformed(dataAt, `data of ${JSON.stringify(name)} truncated: filesize ${size}, ${Math.max(0, len - dataAt)} bytes left`)
    }
    const data = bytes.subarray(dataAt, dataEnd)
    if (magic === CRC_MAGIC && (mode & S_IFMT) === S_IFREG) {
      const sum = newcChecksum(data)
      if (sum !== check) {
        throw malformed(pos, `checksum of ${JSON.stringify(name)} is 0x${hexStr(sum)}, header says 0x${hexStr(check)}`)
      }
    }
    out.push({
      name,
      mode,
      uid,
      gid,
      nlink,
      mtime,
      ino,
      devMajor,
      devMinor,
      rdevMajor,
      rdevMinor,
      size,
      data,
      magic,
      offset: pos,
      nameSize,
      check,
    })
    if (name === CPIO_TRAILER) break
    const next = align4(dataEnd)
    checkPadding(bytes, dataEnd, Math.min(next, len))
    pos = next
  }
  return out
}

function checkPadding(bytes: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) throw malformed(i, 'non-NUL alignment padding')
}

const hexStr = (n: number) => n.toString(16).toUpperCase().padStart(8, '0')

const wrongSize = (name: string, seen: number, size: number) =>
  badInputError(seen > size ? `cpio: ${JSON.stringify(name)}: data is longer than its size ${size}` : `cpio: ${JSON.stringify(name)}: data ended after ${seen} of ${size} bytes`)
