// Streaming tar reader for OCI layers: ustar, GNU, V7 (and star's prefix), PAX and GNU long names,
// fed in large chunks (64 KiB - 1 MiB) and handing file data on as views of those chunks.
//
// Strict where tar readers disagree. A layer is untrusted input, and a header that GNU tar, Go's
// archive/tar (docker, containerd, buildkit) and libarchive would read differently could hide a
// file or an owner from one of them; such headers are refused, not guessed at:
//  - Owners: PAX `uid`/`gid` (and `uname`, `gname`, `size`, `mtime`, `path`, `linkpath`) override
//    the ustar fields, as POSIX, GNU tar and Go do. (tar-stream ignores PAX owners: a file owned by
//    uid 3000000 in PAX only came out 0:0.)
//  - Global PAX headers ('g'): POSIX and GNU tar apply them to every later entry; Go returns them as
//    an entry of their own and moby, containerd and libarchive then ignore them. So a 'g' record
//    that would change an entry (path, linkpath, size, uid, gid, uname, gname, mtime, xattrs,
//    sparse maps) is refused; the others (comment - git archive writes one -, charset, hdrcharset,
//    atime, ctime, ...) are kept and merged under each later entry's local 'x' records in `pax`.
//    A 'g' between an entry's 'x'/'L'/'K' headers and the entry is refused.
//  - An empty PAX value deletes the key (POSIX): `path=` in 'x' means "use the ustar name".
//  - One 'x', one 'L' and one 'K' at most per entry (Go keeps the last 'x', GNU tar merges), and a
//    GNU long name that differs from a PAX `path` is refused (Go prefers the long name, GNU tar the
//    PAX path). Same for 'K' and `linkpath`. An empty 'L' or 'K' is refused (Go ignores it).
//  - Only 'file' and 'contiguous' entries carry data. Any other entry with a size other than 0 is
//    refused: Go skips no data for them, GNU tar skips `size` bytes for all but hardlinks and
//    directories, libarchive reads data for some hardlinks; the next "header" would differ.
//  - A file entry ('0', '\0' or '7') whose name ends in '/' is a directory (BSD and V7 tar did
//    this; GNU tar, tar-stream and Go for '\0' agree) when its size is 0, and refused otherwise.
//  - End of archive: two zero blocks; whatever follows is ignored (padding to the blocking factor).
//    A stream that ends at a block boundary after one zero block, or none, is accepted: many
//    writers stop there, and Go accepts it too. A zero block followed by a header is refused, as Go
//    does (GNU tar warns and goes on, libarchive stops at the first zero block: the entries after
//    it would exist for some readers only). A meta header ('x', 'L', 'K') with no entry after it,
//    or a stream ending inside a header, data or its padding, is "truncated".
//  - Unsupported: GNU sparse files ('S' or PAX GNU.sparse.*), multi-volume ('M'), volume labels
//    ('V'), dump directories ('D'), old GNU long names ('N'), and every other type flag.
//  - Numbers: octal with leading spaces or NULs and trailing spaces or NULs (an empty field is 0,
//    as Go reads it), or GNU base-256 (first byte's high bit set); a negative value is refused but
//    for mtime. Device numbers are read for 'char' and 'block' entries only (others may hold
//    anything there). Checksum: the unsigned sum, or the historic signed sum (GNU tar accepts both).
//  - PAX records "LEN key=value\n": LEN decimal and exactly the record's length, key non-empty,
//    UTF-8, without NUL; path, linkpath, uname and gname without NUL; uid, gid, size decimal;
//    mtime decimal with an optional fraction (floored). Anything else is an error.
//  - A PAX, GNU long name or long link record over 1 MiB is refused before it is buffered, and all
//    global records together are held to 1 MiB.
// Names and link targets stay bytes (hdrcharset=BINARY or not): they need not be UTF-8.
//
// Pure: bytes in, callbacks out.

import {StagexError} from '../errors.js'

export type TarHeaderType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo' | 'contiguous'

export interface TarHeader {
  /** Raw bytes of the entry name after applying GNU 'L' long names, PAX `path`, and the ustar prefix ("prefix/name"). Never decoded: names need not be UTF-8. */
  name: Uint8Array
  /** GNU 'K', PAX `linkpath`, else the ustar field. */
  linkName: Uint8Array
  type: TarHeaderType
  /** Permission bits only (mask 0o7777). */
  mode: number
  uid: number
  gid: number
  uname: Uint8Array
  gname: Uint8Array
  /** Whole seconds (PAX fractions floored); may be negative. */
  mtime: number
  /** Data bytes that follow; 0 for every type but 'file' and 'contiguous'. */
  size: number
  devMajor: number
  devMinor: number
  /** Every PAX record that applied to this entry (globals merged under the local 'x'), key -> raw value. Shared: do not modify. */
  pax: ReadonlyMap<string, Uint8Array>
  /** Stream offset of the first data byte. */
  dataOffset: number
  /** Stream offset of this entry's first header block (its 'x', 'L' or 'K' header if it has one). */
  headerOffset: number
}

export interface TarVisitor {
  /** Once per entry, before its data. The header and its byte arrays are the visitor's to keep. */
  entry(header: TarHeader): void
  /** The entry's data in order, as views of the pushed chunks (copy what must outlive the chunk). */
  data?(chunk: Uint8Array): void
  /** After the entry's last data byte (right after entry() when its size is 0). */
  end?(): void
}

/** A malformed, truncated or unsupported tar stream. Exit code 4 (bad input); `offset` is a byte offset in the stream. */
export class TarFormatError extends StagexError {
  readonly offset: number
  constructor(offset: number, message: string) {
    super('bad-input', message, {offset})
    this.name = 'TarFormatError'
    this.offset = offset
  }
}

/** Largest PAX, GNU long name or long link record accepted (and all global records together). */
export const TAR_META_LIMIT = 1024 * 1024

const BLOCK = 512
const EMPTY: Uint8Array = new Uint8Array(0)
const EMPTY_PAX: ReadonlyMap<string, Uint8Array> = new Map()
const utf8 = new TextDecoder('utf-8', {fatal: true})
const lossy = new TextDecoder('utf-8')

const S_HEADER = 0
const S_DATA = 1
const S_PAD = 2
const S_META = 3
const S_END = 4
const S_DONE = 5

const T_PAX = 0x78 // 'x'
const T_GLOBAL = 0x67 // 'g'
const T_LONGNAME = 0x4c // 'L'
const T_LONGLINK = 0x4b // 'K'

const F_V7 = 0
const F_USTAR = 1
const F_GNU = 2
const F_STAR = 3

const TYPES: Array<TarHeaderType | undefined> = []
TYPES[0] = 'file'
TYPES[0x30] = 'file'
TYPES[0x31] = 'hardlink'
TYPES[0x32] = 'symlink'
TYPES[0x33] = 'char'
TYPES[0x34] = 'block'
TYPES[0x35] = 'dir'
TYPES[0x36] = 'fifo'
TYPES[0x37] = 'contiguous'

const UNSUPPORTED: Record<string, string> = {
  S: 'GNU sparse file',
  M: 'GNU multi-volume continuation',
  V: 'GNU volume header',
  D: 'GNU dump directory',
  N: 'old GNU long name',
  X: 'Solaris extended header',
  I: 'star inode metadata',
  A: 'Solaris access control list',
  E: 'Solaris extended attribute',
}

/** Keys a global header may not set: readers disagree on whether globals apply (see the top). */
const GLOBAL_REFUSED = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime'])

const META_WHAT: Record<number, string> = {
  [T_PAX]: 'PAX extended header',
  [T_GLOBAL]: 'PAX global header',
  [T_LONGNAME]: 'GNU long name header',
  [T_LONGLINK]: 'GNU long link header',
}
const META_BIT: Record<number, number> = {[T_PAX]: 1, [T_LONGNAME]: 2, [T_LONGLINK]: 4, [T_GLOBAL]: 0}

const pad512 = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK

/** For messages: bytes as a quoted, lossy string of at most 200 characters. */
function show(b: Uint8Array): string {
  const s = lossy.decode(b)
  return JSON.stringify(s.length > 200 ? s.slice(0, 200) + '...' : s)
}

/** For messages: a raw header field, unprintable bytes escaped. */
function showField(b: Uint8Array, o: number, len: number): string {
  let s = ''
  for (let k = 0; k < len; k++) {
    const c = b[o + k]
    s += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`
  }
  return `"${s}"`
}

function showFlag(flag: number): string {
  return flag >= 0x20 && flag < 0x7f ? `'${String.fromCharCode(flag)}'` : `'\\x${flag.toString(16).padStart(2, '0')}'`
}

/** A copy (a plain Uint8Array, also for Buffer input) of b[start, end). */
function copyOf(b: Uint8Array, start: number, end: number): Uint8Array {
  if (end <= start) return EMPTY
  const out = new Uint8Array(end - start)
  if (end - start <= 32) for (let k = start; k < end; k++) out[k - start] = b[k]
  else out.set(b.subarray(start, end))
  return out
}

/** End of the NUL-terminated string in b[o, o+len) (o+len if it fills the field). */
function cEnd(b: Uint8Array, o: number, len: number): number {
  const lim = o + len
  let k = o
  while (k < lim && b[k] !== 0) k++
  return k
}

function isZeroBlock(b: Uint8Array, o: number): boolean {
  for (let k = o + BLOCK - 1; k >= o; k--) if (b[k] !== 0) return false
  return true
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false
  return true
}

/**
 * A numeric header field: octal digits between optional spaces/NULs, or GNU base-256 (big-endian
 * two's complement behind a set high bit). Negative values only where `signed`.
 */
function numberField(b: Uint8Array, o: number, len: number, at: number, what: string, signed: boolean): number {
  const first = b[o]
  if (first & 0x80) {
    const negative = (first & 0x40) !== 0
    if (negative && !signed) throw new TarFormatError(at, `tar: header at byte ${at}: ${what} is negative (base-256 field ${showField(b, o, len)})`)
    const inv = negative ? 0xff : 0
    let v = (first ^ inv) & 0x7f
    for (let k = 1; k < len; k++) {
      v = v * 256 + (b[o + k] ^ inv)
      if (v > Number.MAX_SAFE_INTEGER) throw new TarFormatError(at, `tar: header at byte ${at}: ${what} (base-256 field ${showField(b, o, len)}) is too large`)
    }
    return negative ? -(v + 1) : v
  }
  const lim = o + len
  let k = o
  while (k < lim && (b[k] === 0x20 || b[k] === 0)) k++
  let v = 0
  while (k < lim) {
    const c = b[k]
    if (c < 0x30 || c > 0x37) break
    v = v * 8 + (c - 0x30)
    k++
  }
  while (k < lim && (b[k] === 0x20 || b[k] === 0)) k++
  if (k !== lim) throw new TarFormatError(at, `tar: header at byte ${at}: ${what} field ${showField(b, o, len)} is not an octal number`)
  return v
}

function verifyChecksum(b: Uint8Array, o: number, at: number): void {
  let sum = 8 * 0x20 // the checksum field itself counts as eight spaces
  for (let k = o; k < o + 148; k++) sum += b[k]
  for (let k = o + 156; k < o + BLOCK; k++) sum += b[k]
  let stored: number
  try {
    stored = numberField(b, o + 148, 8, at, 'checksum', false)
  } catch {
    throw new TarFormatError(at, `tar: header at byte ${at}: checksum field ${showField(b, o + 148, 8)} is not an octal number (not a tar header)`)
  }
  if (stored === sum) return
  // Some old tars summed the bytes as signed chars: those >= 0x80 count 256 less.
  let signed = sum
  for (let k = o; k < o + BLOCK; k++) if (b[k] >= 0x80 && (k < o + 148 || k >= o + 156)) signed -= 256
  if (stored !== signed) {
    throw new TarFormatError(at, `tar: header at byte ${at}: checksum 0${stored.toString(8)} does not match the header (computed 0${sum.toString(8)})`)
  }
}

/** A PAX decimal value (uid, gid, size): digits only. */
function paxDecimal(v: Uint8Array, at: number, key: string): number {
  let n = 0
  if (v.length === 0 || v.length > 16) return badPaxNumber(v, at, key)
  for (let k = 0; k < v.length; k++) {
    const c = v[k]
    if (c < 0x30 || c > 0x39) return badPaxNumber(v, at, key)
    n = n * 10 + (c - 0x30)
  }
  if (n > Number.MAX_SAFE_INTEGER) return badPaxNumber(v, at, key)
  return n
}

/** A PAX time: [-]digits[.digits], floored to whole seconds. */
function paxTime(v: Uint8Array, at: number, key: string): number {
  let k = 0
  const negative = v[0] === 0x2d
  if (negative) k++
  const start = k
  let n = 0
  while (k < v.length && v[k] >= 0x30 && v[k] <= 0x39) n = n * 10 + (v[k++] - 0x30)
  if (k === start || k - start > 16 || n > Number.MAX_SAFE_INTEGER) return badPaxNumber(v, at, key)
  let fraction = false
  if (k < v.length) {
    if (v[k++] !== 0x2e) return badPaxNumber(v, at, key)
    for (; k < v.length; k++) {
      const c = v[k]
      if (c < 0x30 || c > 0x39) return badPaxNumber(v, at, key)
      if (c !== 0x30) fraction = true
    }
  }
  if (!negative) return n
  return n === 0 && !fraction ? 0 : -n - (fraction ? 1 : 0)
}

function badPaxNumber(v: Uint8Array, at: number, key: string): never {
  throw new TarFormatError(at, `tar: PAX header at byte ${at}: ${key}=${show(v)} is not a valid number`)
}

/** The records of one PAX extended or global header, in order; later duplicates win (as in Go and GNU tar). */
function parsePax(d: Uint8Array, dataAt: number, at: number, what: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>()
  const len = d.length
  let p = 0
  while (p < len) {
    const bad = (why: string) => new TarFormatError(at, `tar: ${what} at byte ${at}: record at byte ${dataAt + p}: ${why}`)
    let q = p
    let n = 0
    while (q < len && d[q] >= 0x30 && d[q] <= 0x39) n = n * 10 + (d[q++] - 0x30)
    if (q === p || q - p > 15 || q >= len || d[q] !== 0x20) throw bad('does not start with a decimal length and a space')
    if (n > len - p) throw bad(`its length ${n} runs past the end of the ${len}-byte header data`)
    const end = p + n
    if (end - 1 <= q || d[end - 1] !== 0x0a) throw bad(`its length ${n} does not end the record at a newline`)
    const keyAt = q + 1
    let eq = keyAt
    while (eq < end - 1 && d[eq] !== 0x3d) {
      if (d[eq] === 0) throw bad('the key contains a NUL byte')
      eq++
    }
    if (eq === end - 1) throw bad('no "=" after the key')
    if (eq === keyAt) throw bad('empty key')
    let key: string
    try {
      key = utf8.decode(d.subarray(keyAt, eq))
    } catch {
      throw bad(`the key ${show(d.subarray(keyAt, eq))} is not UTF-8`)
    }
    const value = copyOf(d, eq + 1, end - 1)
    if ((key === 'path' || key === 'linkpath' || key === 'uname' || key === 'gname') && value.includes(0)) {
      throw bad(`the ${key} value contains a NUL byte`)
    }
    if (key.startsWith('GNU.sparse.')) {
      throw new TarFormatError(at, `tar: ${what} at byte ${at}: unsupported GNU sparse file (PAX record ${key})`)
    }
    out.set(key, value)
    p = end
  }
  return out
}

/**
 * Push-driven tar parser. Feed it the stream in chunks of any size; it calls the visitor for each
 * entry and its data. After an exception (its own or the visitor's) it must not be used again.
 */
export class TarReader {
  private readonly visitor: TarVisitor
  private readonly wantsData: boolean
  private readonly wantsEnd: boolean
  private state = S_HEADER
  /** Stream offset of the next byte not yet consumed (a partial header in `carry` is not). */
  private pos = 0
  /** Bytes left of the current data, padding or meta record. */
  private remaining = 0
  /** Padding after the current data or meta record. */
  private padAfter = 0
  /** A header block split between chunks. */
  private readonly carry = new Uint8Array(BLOCK)
  private carryLen = 0
  /** The entry whose data or padding is being read (for end() and messages). */
  private current: TarHeader | undefined
  /** Header offset of what the padding being read follows, and whether that is a meta header. */
  private padOwnerAt = 0
  private padOwnerMeta = 0
  // The meta header ('x', 'g', 'L', 'K') whose data is being read.
  private metaType = 0
  private metaAt = 0
  private metaSize = 0
  private metaBuf: Uint8Array | undefined
  private metaFill = 0
  // Meta headers waiting for their entry.
  private chainAt = -1
  private chainType = 0
  private chainSeen = 0
  private longName: Uint8Array | undefined
  private longLink: Uint8Array | undefined
  private localPax: Map<string, Uint8Array> | undefined
  // Global PAX records, and the read-only map handed to entries that have no local records.
  private readonly globals = new Map<string, Uint8Array>()
  private globalBytes = 0
  private globalSnapshot: ReadonlyMap<string, Uint8Array> = EMPTY_PAX
  /** Offset of a first zero block, or -1. */
  private zeroAt = -1

  constructor(visitor: TarVisitor) {
    this.visitor = visitor
    this.wantsData = typeof visitor.data === 'function'
    this.wantsEnd = typeof visitor.end === 'function'
  }

  /** Bytes consumed so far (the stream offset the next chunk starts at, less a partial header). */
  get offset(): number {
    return this.pos
  }

  push(chunk: Uint8Array): void {
    if (this.state === S_DONE) throw new Error('TarReader: push() after finish() or after an error')
    try {
      this.consume(chunk)
    } catch (error) {
      this.state = S_DONE
      throw error
    }
  }

  /** The stream has ended: throws a TarFormatError if it ended inside a header, data or padding. */
  finish(): void {
    if (this.state === S_DONE) throw new Error('TarReader: finish() after finish() or after an error')
    const state = this.state
    this.state = S_DONE
    switch (state) {
      case S_HEADER: {
        if (this.carryLen > 0) {
          throw new TarFormatError(this.pos, `tar: truncated: the archive ends inside the header at byte ${this.pos} (${this.carryLen} of 512 bytes)`)
        }
        if (this.chainAt >= 0) {
          throw new TarFormatError(this.chainAt, `tar: truncated: the archive ends after the ${this.chainWhat()} at byte ${this.chainAt}, before the entry it belongs to`)
        }
        return // at a block boundary, after one zero block or none
      }
      case S_DATA: {
        const h = this.current!
        throw new TarFormatError(
          h.headerOffset,
          `tar: truncated: the archive ends inside the data of ${show(h.name)} (header at byte ${h.headerOffset}): ${h.size - this.remaining} of ${h.size} bytes`,
        )
      }
      case S_META:
        throw new TarFormatError(
          this.metaAt,
          `tar: truncated: the archive ends inside the ${META_WHAT[this.metaType]} at byte ${this.metaAt} (${this.metaSize - this.remaining} of ${this.metaSize} bytes)`,
        )
      case S_PAD: {
        const what = this.padOwnerMeta ? `the ${META_WHAT[this.padOwnerMeta]}` : show(this.current!.name)
        throw new TarFormatError(this.padOwnerAt, `tar: truncated: the archive ends inside the padding after ${what} (header at byte ${this.padOwnerAt})`)
      }
      default:
        return // after the end-of-archive marker
    }
  }

  private consume(chunk: Uint8Array): void {
    const n = chunk.length
    let i = 0
    while (i < n) {
      switch (this.state) {
        case S_HEADER: {
          if (this.carryLen === 0 && n - i >= BLOCK) {
            // The common case: parse the header where it lies.
            this.header(chunk, i)
            i += BLOCK
          } else {
            const take = Math.min(BLOCK - this.carryLen, n - i)
            this.carry.set(chunk.subarray(i, i + take), this.carryLen)
            this.carryLen += take
            i += take
            if (this.carryLen < BLOCK) return
            this.carryLen = 0
            this.header(this.carry, 0)
          }
          this.pos += BLOCK
          break
        }
        case S_DATA: {
          const take = Math.min(this.remaining, n - i)
          this.remaining -= take
          this.pos += take
          if (this.remaining === 0) this.state = this.padAfter > 0 ? S_PAD : S_HEADER
          if (this.wantsData) this.visitor.data!(chunk.subarray(i, i + take))
          i += take
          if (this.remaining === 0) {
            this.remaining = this.padAfter
            this.padOwnerAt = this.current!.headerOffset
            this.padOwnerMeta = 0
            if (this.wantsEnd) this.visitor.end!()
          }
          break
        }
        case S_PAD: {
          const take = Math.min(this.remaining, n - i)
          this.remaining -= take
          this.pos += take
          i += take
          if (this.remaining === 0) this.state = S_HEADER
          break
        }
        case S_META: {
          const take = Math.min(this.remaining, n - i)
          let whole: Uint8Array | undefined
          if (this.metaFill === 0 && take === this.metaSize) {
            whole = chunk.subarray(i, i + take) // all in this chunk: no copy
          } else {
            this.metaBuf ??= new Uint8Array(this.metaSize)
            this.metaBuf.set(chunk.subarray(i, i + take), this.metaFill)
            this.metaFill += take
            if (this.metaFill === this.metaSize) whole = this.metaBuf
          }
          this.remaining -= take
          this.pos += take
          i += take
          if (whole) {
            this.metaBuf = undefined
            this.metaDone(whole, this.pos - this.metaSize)
            this.state = this.padAfter > 0 ? S_PAD : S_HEADER
            this.remaining = this.padAfter
            this.padOwnerAt = this.metaAt
            this.padOwnerMeta = this.metaType
          }
          break
        }
        default: // S_END: what follows the end-of-archive marker is ignored
          this.pos += n - i
          return
      }
    }
  }

  private chainWhat(): string {
    return META_WHAT[this.chainType]
  }

  /** One 512-byte header block at b[o]; this.pos is its stream offset. */
  private header(b: Uint8Array, o: number): void {
    const at = this.pos
    if (b[o] === 0 && isZeroBlock(b, o)) {
      if (this.chainAt >= 0) {
        throw new TarFormatError(this.chainAt, `tar: the ${this.chainWhat()} at byte ${this.chainAt} is followed by the end of the archive (a zero block at byte ${at}), not by an entry`)
      }
      if (this.zeroAt >= 0) this.state = S_END
      else this.zeroAt = at
      return
    }
    if (this.zeroAt >= 0) {
      throw new TarFormatError(
        this.zeroAt,
        `tar: the zero block at byte ${this.zeroAt} is followed by a header at byte ${at}; an archive ends with two zero blocks (readers disagree on what follows a lone one)`,
      )
    }
    verifyChecksum(b, o, at)
    const flag = b[o + 156]
    if (flag === T_PAX || flag === T_GLOBAL || flag === T_LONGNAME || flag === T_LONGLINK) {
      this.metaHeader(b, o, at, flag)
      return
    }
    let type = TYPES[flag]
    if (type === undefined) {
      const known = UNSUPPORTED[String.fromCharCode(flag)]
      throw new TarFormatError(at, `tar: header at byte ${at}: unsupported entry type ${showFlag(flag)}${known ? ` (${known})` : ''}`)
    }

    // Which layout: POSIX ustar (magic "ustar\0", version not checked, as in Go; star puts "tar\0" at
    // 508 and has a shorter prefix), GNU ("ustar  \0": no prefix, those bytes hold atime, ctime and
    // sparse data), or anything else V7 (name only), as Go and GNU tar tell them apart.
    let format = F_V7
    if (b[o + 257] === 0x75 && b[o + 258] === 0x73 && b[o + 259] === 0x74 && b[o + 260] === 0x61 && b[o + 261] === 0x72) {
      if (b[o + 262] === 0) {
        format = b[o + 508] === 0x74 && b[o + 509] === 0x61 && b[o + 510] === 0x72 && b[o + 511] === 0 ? F_STAR : F_USTAR
      } else if (b[o + 262] === 0x20 && b[o + 263] === 0x20 && b[o + 264] === 0) format = F_GNU
    }

    const mode = numberField(b, o + 100, 8, at, 'mode', false) & 0o7777
    let uid = numberField(b, o + 108, 8, at, 'uid', false)
    let gid = numberField(b, o + 116, 8, at, 'gid', false)
    let size = numberField(b, o + 124, 12, at, 'size', false)
    let mtime = numberField(b, o + 136, 12, at, 'mtime', true)
    let uname = EMPTY
    let gname = EMPTY
    let devMajor = 0
    let devMinor = 0
    if (format !== F_V7) {
      uname = copyOf(b, o + 265, cEnd(b, o + 265, 32))
      gname = copyOf(b, o + 297, cEnd(b, o + 297, 32))
      if (type === 'char' || type === 'block') {
        devMajor = numberField(b, o + 329, 8, at, 'devmajor', false)
        devMinor = numberField(b, o + 337, 8, at, 'devminor', false)
      }
    }

    // PAX records: globals under the local ones; an empty value deletes.
    let pax = this.globalSnapshot
    const local = this.localPax
    if (local !== undefined) {
      if (this.globals.size === 0) {
        for (const [k, v] of local) if (v.length === 0) local.delete(k)
        pax = local
      } else {
        const merged = new Map(this.globals)
        for (const [k, v] of local) {
          if (v.length === 0) merged.delete(k)
          else merged.set(k, v)
        }
        pax = merged
      }
    }
    const chainAt = this.chainAt >= 0 ? this.chainAt : at
    let name = this.longName
    let linkName = this.longLink
    if (pax.size > 0) {
      let v = pax.get('path')
      if (v !== undefined) {
        if (name !== undefined && !sameBytes(name, v)) {
          throw new TarFormatError(chainAt, `tar: entry at byte ${chainAt}: its GNU long name ${show(name)} and PAX path ${show(v)} differ`)
        }
        name = v
      }
      v = pax.get('linkpath')
      if (v !== undefined) {
        if (linkName !== undefined && !sameBytes(linkName, v)) {
          throw new TarFormatError(chainAt, `tar: entry at byte ${chainAt}: its GNU long link ${show(linkName)} and PAX linkpath ${show(v)} differ`)
        }
        linkName = v
      }
      if ((v = pax.get('uid')) !== undefined) uid = paxDecimal(v, chainAt, 'uid')
      if ((v = pax.get('gid')) !== undefined) gid = paxDecimal(v, chainAt, 'gid')
      if ((v = pax.get('size')) !== undefined) size = paxDecimal(v, chainAt, 'size')
      if ((v = pax.get('mtime')) !== undefined) mtime = paxTime(v, chainAt, 'mtime')
      if ((v = pax.get('uname')) !== undefined) uname = v
      if ((v = pax.get('gname')) !== undefined) gname = v
    }
    if (name === undefined) {
      const nameEnd = cEnd(b, o, 100)
      let prefixLen = 0
      if (format === F_USTAR) prefixLen = cEnd(b, o + 345, 155) - (o + 345)
      else if (format === F_STAR) prefixLen = cEnd(b, o + 345, 131) - (o + 345)
      if (prefixLen === 0) name = copyOf(b, o, nameEnd)
      else {
        name = new Uint8Array(prefixLen + 1 + nameEnd - o)
        name.set(b.subarray(o + 345, o + 345 + prefixLen))
        name[prefixLen] = 0x2f
        name.set(b.subarray(o, nameEnd), prefixLen + 1)
      }
    }
    if (linkName === undefined) linkName = copyOf(b, o + 157, cEnd(b, o + 157, 100))

    if ((type === 'file' || type === 'contiguous') && name.length > 0 && name[name.length - 1] === 0x2f) {
      if (size !== 0) {
        throw new TarFormatError(chainAt, `tar: header at byte ${at}: file entry ${show(name)} ends in '/' (an old tar's directory) but has ${size} bytes of data`)
      }
      type = 'dir'
    } else if (size !== 0 && type !== 'file' && type !== 'contiguous') {
      throw new TarFormatError(chainAt, `tar: header at byte ${at}: ${type} entry ${show(name)} has size ${size}; only files carry data`)
    }

    const header: TarHeader = {
      name,
      linkName,
      type,
      mode,
      uid,
      gid,
      uname,
      gname,
      mtime,
      size,
      devMajor,
      devMinor,
      pax,
      dataOffset: at + BLOCK,
      headerOffset: chainAt,
    }
    this.chainAt = -1
    this.chainSeen = 0
    this.longName = undefined
    this.longLink = undefined
    this.localPax = undefined
    this.current = header
    if (size > 0) {
      this.state = S_DATA
      this.remaining = size
      this.padAfter = pad512(size)
      this.visitor.entry(header)
    } else {
      this.visitor.entry(header)
      if (this.wantsEnd) this.visitor.end!()
    }
  }

  private metaHeader(b: Uint8Array, o: number, at: number, flag: number): void {
    const what = META_WHAT[flag]
    if (flag === T_GLOBAL && this.chainAt >= 0) {
      throw new TarFormatError(at, `tar: ${what} at byte ${at} comes between the ${this.chainWhat()} at byte ${this.chainAt} and its entry`)
    }
    if (this.chainSeen & META_BIT[flag]) {
      throw new TarFormatError(at, `tar: ${what} at byte ${at} is the second one for the same entry (the first began at byte ${this.chainAt})`)
    }
    const size = numberField(b, o + 124, 12, at, 'size', false)
    if (size > TAR_META_LIMIT) {
      throw new TarFormatError(at, `tar: ${what} at byte ${at} holds ${size} bytes; more than the ${TAR_META_LIMIT} this reader accepts`)
    }
    if (flag !== T_GLOBAL) {
      if (this.chainAt < 0) {
        this.chainAt = at
        this.chainType = flag
      }
      this.chainSeen |= META_BIT[flag]
    }
    this.metaType = flag
    this.metaAt = at
    this.metaSize = size
    this.metaFill = 0
    this.metaBuf = undefined
    if (size === 0) {
      this.metaDone(EMPTY, at + BLOCK)
      return
    }
    this.state = S_META
    this.remaining = size
    this.padAfter = pad512(size)
  }

  /** The whole data of the meta header being read (`d` may be a view of the caller's chunk). */
  private metaDone(d: Uint8Array, dataAt: number): void {
    const at = this.metaAt
    const what = META_WHAT[this.metaType]
    switch (this.metaType) {
      case T_LONGNAME:
      case T_LONGLINK: {
        const end = cEnd(d, 0, d.length)
        if (end === 0) throw new TarFormatError(at, `tar: ${what} at byte ${at} is empty`)
        if (this.metaType === T_LONGNAME) this.longName = copyOf(d, 0, end)
        else this.longLink = copyOf(d, 0, end)
        return
      }
      case T_PAX:
        this.localPax = parsePax(d, dataAt, at, what)
        return
      default: {
        for (const [k, v] of parsePax(d, dataAt, at, what)) {
          if (GLOBAL_REFUSED.has(k) || k.startsWith('SCHILY.xattr.') || k.startsWith('LIBARCHIVE.xattr.')) {
            throw new TarFormatError(
              at,
              `tar: ${what} at byte ${at} sets ${k} for all later entries; refused, because tar readers disagree on whether global records apply (GNU tar does, Go's archive/tar and libarchive do not)`,
            )
          }
          const old = this.globals.get(k)
          if (old !== undefined) this.globalBytes -= k.length + old.length
          if (v.length === 0) this.globals.delete(k)
          else {
            this.globals.set(k, v)
            this.globalBytes += k.length + v.length
          }
        }
        if (this.globalBytes > TAR_META_LIMIT) {
          throw new TarFormatError(at, `tar: ${what} at byte ${at}: global records add up to more than the ${TAR_META_LIMIT} bytes this reader accepts`)
        }
        this.globalSnapshot = this.globals.size === 0 ? EMPTY_PAX : new Map(this.globals)
      }
    }
  }
}

// ---- extended attributes ----

const B64 = new Int16Array(256).fill(-1)
for (let k = 0; k < 64; k++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(k)] = k

/** Standard base64, '=' padding optional (libarchive writes none). Undefined if malformed. */
function base64(v: Uint8Array): Uint8Array | undefined {
  let end = v.length
  while (end > 0 && v[end - 1] === 0x3d) end--
  if (v.length - end > 2 || end % 4 === 1) return undefined
  const out = new Uint8Array(Math.floor((end * 6) / 8))
  let acc = 0
  let bits = 0
  let j = 0
  for (let k = 0; k < end; k++) {
    const x = B64[v[k]]
    if (x < 0) return undefined
    acc = ((acc << 6) | x) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[j++] = (acc >> bits) & 0xff
    }
  }
  return out
}

/** libarchive's %XX escapes in an xattr name. Undefined if malformed. */
function urlDecode(s: string): string | undefined {
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}

/**
 * The extended attributes of an entry: SCHILY.xattr.NAME (value as is; GNU tar, Go, star) and
 * LIBARCHIVE.xattr.NAME (name %-escaped, value base64; libarchive writes both). Undefined when none.
 * A malformed LIBARCHIVE record, or the two spellings giving different values, is a TarFormatError.
 */
export function tarXattrs(header: TarHeader): Map<string, Uint8Array> | undefined {
  if (header.pax.size === 0) return undefined
  let out: Map<string, Uint8Array> | undefined
  const at = header.headerOffset
  const put = (name: string, value: Uint8Array, key: string) => {
    out ??= new Map()
    const old = out.get(name)
    if (old !== undefined && !sameBytes(old, value)) {
      throw new TarFormatError(at, `tar: entry ${show(header.name)} (header at byte ${at}): PAX records give two values for xattr ${JSON.stringify(name)} (${key})`)
    }
    out.set(name, value)
  }
  for (const [key, value] of header.pax) {
    if (key.startsWith('SCHILY.xattr.')) put(key.slice(13), value, key)
    else if (key.startsWith('LIBARCHIVE.xattr.')) {
      const name = urlDecode(key.slice(17))
      const bytes = base64(value)
      if (name === undefined || name === '' || bytes === undefined) {
        throw new TarFormatError(at, `tar: entry ${show(header.name)} (header at byte ${at}): malformed PAX record ${key}`)
      }
      put(name, bytes, key)
    }
  }
  if (out) for (const name of out.keys()) if (name === '') throw new TarFormatError(at, `tar: entry ${show(header.name)} (header at byte ${at}): xattr with an empty name`)
  return out
}
