// ELF64 little-endian (x86_64) reader: just what a closure check needs — the type, the program
// interpreter, and the dynamic section's NEEDED, RPATH, RUNPATH and SONAME strings.
// Pure: bytes in, facts out.

export const ELF_MAGIC = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46)

export type ElfKind = 'executable' | 'shared-object' | 'relocatable' | 'core' | 'other'

export interface ElfFacts {
  kind: ElfKind
  machine: number
  /** PT_INTERP, e.g. "/lib/ld-musl-x86_64.so.1"; absent for static binaries. */
  interpreter?: string
  needed: string[]
  rpath: string[]
  runpath: string[]
  soname?: string
}

export class ElfFormatError extends Error {
  override name = 'ElfFormatError'
}

export const EM_X86_64 = 62
const PT_LOAD = 1
const PT_DYNAMIC = 2
const PT_INTERP = 3
const DT_NULL = 0n
const DT_NEEDED = 1n
const DT_STRTAB = 5n
const DT_STRSZ = 10n
const DT_SONAME = 14n
const DT_RPATH = 15n
const DT_RUNPATH = 29n

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b)
}

interface Segment {
  type: number
  offset: number
  vaddr: bigint
  filesz: number
}

/**
 * An ELF file read by ranges: readElf asks only for the header, the program headers, PT_INTERP,
 * PT_DYNAMIC and the dynamic string table, so a 100 MB binary costs a few reads of a few KiB.
 */
export interface ElfSource {
  size: number
  /** Exactly `length` bytes at `offset` (the caller keeps offset + length within size). */
  read(offset: number, length: number): Uint8Array
}

/** The facts of an ELF file, given whole or as a source of ranges. */
export function readElf(file: Uint8Array | ElfSource): ElfFacts {
  const source: ElfSource = file instanceof Uint8Array ? {size: file.length, read: (offset, length) => file.subarray(offset, offset + length)} : file
  const bytes = source.read(0, Math.min(64, source.size))
  if (!isElf(bytes)) throw new ElfFormatError('not an ELF file')
  if (bytes.length < 64) throw new ElfFormatError('truncated ELF header')
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new ElfFormatError('not a 64-bit little-endian ELF file')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const type = view.getUint16(16, true)
  const machine = view.getUint16(18, true)
  const phoff = Number(view.getBigUint64(32, true))
  const phentsize = view.getUint16(54, true)
  const phnum = view.getUint16(56, true)
  const kind: ElfKind = type === 2 ? 'executable' : type === 3 ? 'shared-object' : type === 1 ? 'relocatable' : type === 4 ? 'core' : 'other'
  const facts: ElfFacts = {kind, machine, needed: [], rpath: [], runpath: []}
  if (phnum === 0) return facts
  const slice = (offset: number, size: number, what: string) => {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 || offset + size > source.size) {
      throw new ElfFormatError(`${what} out of bounds`)
    }
    return source.read(offset, size)
  }
  if (phentsize < 56) throw new ElfFormatError('program headers out of bounds')
  const table = slice(phoff, phnum * phentsize, 'program headers')
  const tableView = new DataView(table.buffer, table.byteOffset, table.byteLength)

  const segments: Segment[] = []
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize
    segments.push({
      type: tableView.getUint32(at, true),
      offset: Number(tableView.getBigUint64(at + 8, true)),
      vaddr: tableView.getBigUint64(at + 16, true),
      filesz: Number(tableView.getBigUint64(at + 32, true)),
    })
  }

  const interp = segments.find((s) => s.type === PT_INTERP)
  if (interp) facts.interpreter = cString(slice(interp.offset, interp.filesz, 'PT_INTERP'), 0)

  const dynamic = segments.find((s) => s.type === PT_DYNAMIC)
  if (!dynamic) return facts
  const entries: [bigint, bigint][] = []
  const dyn = slice(dynamic.offset, dynamic.filesz, 'PT_DYNAMIC')
  const dynView = new DataView(dyn.buffer, dyn.byteOffset, dyn.byteLength)
  for (let at = 0; at + 16 <= dyn.length; at += 16) {
    const tag = dynView.getBigInt64(at, true)
    if (tag === DT_NULL) break
    entries.push([tag, dynView.getBigUint64(at + 8, true)])
  }
  const strtabAddr = entries.find(([tag]) => tag === DT_STRTAB)?.[1]
  const strsz = Number(entries.find(([tag]) => tag === DT_STRSZ)?.[1] ?? 0n)
  if (strtabAddr === undefined) return facts
  const load = segments.find((s) => s.type === PT_LOAD && strtabAddr >= s.vaddr && strtabAddr < s.vaddr + BigInt(s.filesz))
  if (!load) throw new ElfFormatError('DT_STRTAB is not inside a loaded segment')
  const strtab = slice(load.offset + Number(strtabAddr - load.vaddr), strsz, 'DT_STRTAB')
  const stringAt = (offset: bigint) => cString(strtab, Number(offset))
  for (const [tag, value] of entries) {
    if (tag === DT_NEEDED) facts.needed.push(stringAt(value))
    else if (tag === DT_RPATH) facts.rpath.push(...stringAt(value).split(':').filter(Boolean))
    else if (tag === DT_RUNPATH) facts.runpath.push(...stringAt(value).split(':').filter(Boolean))
    else if (tag === DT_SONAME) facts.soname = stringAt(value)
  }
  return facts
}

function cString(bytes: Uint8Array, offset: number): string {
  if (offset >= bytes.length) throw new ElfFormatError('string offset out of bounds')
  let end = offset
  while (end < bytes.length && bytes[end] !== 0) end++
  return Buffer.from(bytes.subarray(offset, end)).toString('utf8')
}
