// Reads any EIF from disk, section by section (streamed: a ramdisk can be hundreds of MB): its
// header, the section table checked against each section's own header, the CRC recomputed, the
// PCRs computed as the reference does, and the metadata and command line shown as text.
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {badInputError} from '../errors.js'
import {crc32} from '../formats/crc32.js'
import {
  EIF_CRC_OFFSET,
  EIF_FLAG_ARM64,
  EIF_HEADER_SIZE,
  EIF_SECTION_HEADER_SIZE,
  type EifPcrs,
  type EifSectionType,
  extendFromZero,
  parseEifHeader,
  parseEifSectionHeader,
  PCR_ALGORITHM,
} from '../formats/eif.js'
import {readFileHead, readFileRange} from './file-range.js'

export interface EifInspection {
  format: 'eif'
  file: string
  size: number
  header: {magic: string; version: number; flags: number; arch: 'x86_64' | 'aarch64'; defaultMemory: number; defaultCpus: number; sectionCount: number}
  sections: {index: number; type: EifSectionType; offset: number; size: number; sha256: string}[]
  crc: {stored: string; computed: string; ok: boolean}
  hashAlgorithm: string
  pcrs: EifPcrs
  cmdline?: string
  metadata?: unknown
  /** Whether a signature section is present (PCR8 needs its certificate: not computed here). */
  signed: boolean
}

/** Section data at most this large is kept to show (cmdline, metadata). */
const SHOWN_MAX = 64 * 1024

export async function inspectEif(path: string): Promise<EifInspection> {
  const {head, size} = await readFileHead(path, EIF_HEADER_SIZE)
  const header = (() => {
    try {
      return parseEifHeader(head)
    } catch (error) {
      throw badInputError(`${path}: ${(error as Error).message}`)
    }
  })()
  if (header.version < 1) throw badInputError(`${path}: EIF version ${header.version}`)
  let crc = crc32(head.subarray(0, EIF_CRC_OFFSET))
  const image = createHash('sha384')
  const bootstrap = createHash('sha384')
  const app = createHash('sha384')
  const sections: EifInspection['sections'] = []
  const shown = new Map<EifSectionType, Buffer>()
  let expected = EIF_HEADER_SIZE
  let ramdisks = 0
  for (let index = 0; index < header.sectionCount; index++) {
    const offset = header.sectionOffsets[index]!
    const tableSize = header.sectionSizes[index]!
    // The reference writes sections back to back; anything else is not an EIF it made.
    if (offset !== expected) throw badInputError(`${path}: section ${index} starts at byte ${offset}, expected ${expected} (sections follow each other)`)
    const end = offset + EIF_SECTION_HEADER_SIZE + tableSize
    if (end > size) throw badInputError(`${path}: section ${index} ends at byte ${end}, past the end of the file (${size} bytes)`)
    const sectionHead = await readFileRange(path, offset, EIF_SECTION_HEADER_SIZE)
    const section = parseEifSectionHeader(sectionHead, offset)
    if (section.size !== tableSize) throw badInputError(`${path}: section ${index} says ${section.size} bytes, the header's table ${tableSize}`)
    crc = crc32(sectionHead, crc)
    const measuredBy =
      section.type === 'kernel' || section.type === 'cmdline' ? [image, bootstrap]
      : section.type === 'ramdisk' ? (ramdisks++ === 0 ? [image, bootstrap] : [image, app])
      : []
    const sha256 = createHash('sha256')
    const keep: Buffer[] = []
    if (section.size > 0)
      for await (const chunk of createReadStream(path, {start: offset + EIF_SECTION_HEADER_SIZE, end: end - 1, highWaterMark: 1024 * 1024}) as AsyncIterable<Buffer>) {
        crc = crc32(chunk, crc)
        sha256.update(chunk)
        for (const h of measuredBy) h.update(chunk)
        if ((section.type === 'cmdline' || section.type === 'metadata') && section.size <= SHOWN_MAX) keep.push(chunk)
      }
    if (keep.length > 0) shown.set(section.type, Buffer.concat(keep))
    sections.push({index, type: section.type, offset, size: section.size, sha256: sha256.digest('hex')})
    expected = end
  }
  if (expected !== size) throw badInputError(`${path}: ${size - expected} bytes after the last section (byte ${expected})`)
  const hex = (n: number) => n.toString(16).padStart(8, '0')
  return {
    format: 'eif',
    file: path,
    size,
    header: {
      magic: head.subarray(0, 4).toString('latin1'),
      version: header.version,
      flags: header.flags,
      arch: header.flags & EIF_FLAG_ARM64 ? 'aarch64' : 'x86_64',
      defaultMemory: header.defaultMemory,
      defaultCpus: header.defaultCpus,
      sectionCount: header.sectionCount,
    },
    sections,
    crc: {stored: hex(header.crc32), computed: hex(crc), ok: crc === header.crc32},
    hashAlgorithm: PCR_ALGORITHM,
    pcrs: {PCR0: extendFromZero(image), PCR1: extendFromZero(bootstrap), PCR2: extendFromZero(app)},
    cmdline: shown.get('cmdline')?.toString('utf8'),
    metadata: parseMetadata(shown.get('metadata')),
    signed: sections.some((s) => s.type === 'signature'),
  }
}

function parseMetadata(bytes: Buffer | undefined): unknown {
  if (!bytes) return undefined
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    return {unparsed: bytes.toString('utf8')}
  }
}
