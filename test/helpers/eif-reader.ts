// An EIF reader of the tests' own, written from the reference's src/defs (EifHeader::from_be_bytes,
// EifSectionHeader) and src/utils (compute_crc, measure, get_pcrs), sharing no code with
// src/formats/eif.ts: whole file in memory, plain Buffer reads, plain SHA-384 and zlib's CRC-32.
import {createHash} from 'node:crypto'
import zlib from 'node:zlib'

export interface ReadSection {
  type: number
  name: string
  flags: number
  offset: number
  size: number
  data: Buffer
}

export interface ReadEif {
  magic: string
  version: number
  flags: number
  defaultMem: bigint
  defaultCpus: bigint
  numSections: number
  offsets: bigint[]
  sizes: bigint[]
  crc32: number
  computedCrc32: number
  sections: ReadSection[]
  pcrs: {PCR0: string; PCR1: string; PCR2: string}
}

const NAMES = ['invalid', 'kernel', 'cmdline', 'ramdisk', 'signature', 'metadata']

/** TPM extend from zero, as get_pcrs does: sha384(48 zero bytes || sha384(data)). */
export function pcrOf(parts: Buffer[]): string {
  const inner = createHash('sha384')
  for (const p of parts) inner.update(p)
  return createHash('sha384').update(Buffer.alloc(48)).update(inner.digest()).digest('hex')
}

/** zlib's CRC-32 (Node 20.15+ has zlib.crc32); otherwise a bitwise one. */
export function ieeeCrc32(data: Buffer, value = 0): number {
  const fast = (zlib as unknown as {crc32?: (d: Buffer, v?: number) => number}).crc32
  if (fast) return fast(data, value)
  let c = ~value >>> 0
  for (const byte of data) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1
  }
  return ~c >>> 0
}

export function readEifFile(file: Buffer): ReadEif {
  const magic = file.subarray(0, 4).toString('latin1')
  let pos = 4
  const u16 = () => {
    const v = file.readUInt16BE(pos)
    pos += 2
    return v
  }
  const u32 = () => {
    const v = file.readUInt32BE(pos)
    pos += 4
    return v
  }
  const u64 = () => {
    const v = file.readBigUInt64BE(pos)
    pos += 8
    return v
  }
  const version = u16()
  const flags = u16()
  const defaultMem = u64()
  const defaultCpus = u64()
  u16() // reserved
  const numSections = u16()
  const offsets = Array.from({length: 32}, u64)
  const sizes = Array.from({length: 32}, u64)
  u32() // unused
  const crc32 = u32()
  if (pos !== 548) throw new Error(`header is ${pos} bytes`)
  // Walk the sections as PcrSignatureChecker::from_eif does: one header after the other to the end.
  const sections: ReadSection[] = []
  while (pos < file.length) {
    const offset = pos
    const type = file.readUInt16BE(pos)
    const sflags = file.readUInt16BE(pos + 2)
    const size = Number(file.readBigUInt64BE(pos + 4))
    const data = file.subarray(pos + 12, pos + 12 + size)
    if (data.length !== size) throw new Error(`section at ${offset} is cut short`)
    sections.push({type, name: NAMES[type] ?? `unknown ${type}`, flags: sflags, offset, size, data})
    pos += 12 + size
  }
  const computedCrc32 = ieeeCrc32(file.subarray(548), ieeeCrc32(file.subarray(0, 544)))
  const ramdisks = sections.filter((s) => s.name === 'ramdisk').map((s) => s.data)
  const kc = sections.filter((s) => s.name === 'kernel' || s.name === 'cmdline').map((s) => s.data)
  return {
    magic,
    version,
    flags,
    defaultMem,
    defaultCpus,
    numSections,
    offsets,
    sizes,
    crc32,
    computedCrc32,
    sections,
    pcrs: {PCR0: pcrOf([...kc, ...ramdisks]), PCR1: pcrOf([...kc, ...ramdisks.slice(0, 1)]), PCR2: pcrOf(ramdisks.slice(1))},
  }
}
