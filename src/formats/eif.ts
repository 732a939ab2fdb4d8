// EIF, the AWS Nitro Enclaves image format, version 4, as the reference implementation
// (aws/aws-nitro-enclaves-image-format, src/defs and src/utils) writes it, unsigned:
//
//   header  := magic ".eif" | version u16 | flags u16 | default_mem u64 | default_cpus u64
//              | reserved u16 | num_sections u16 | section_offsets[32] u64 | section_sizes[32] u64
//              | unused u32 | crc32 u32                                     (548 bytes, big-endian)
//   section := type u16 | flags u16 | size u64 | data                      (12-byte header, no padding)
//   order   := kernel, cmdline (no NUL), metadata (JSON), ramdisk, ramdisk, ...
//
// section_offsets[i] is where section i's 12-byte header starts; section_sizes[i] is its data size.
// The CRC is standard CRC-32 (IEEE, as zlib) over every byte of the file but the CRC field itself.
// PCRs (SHA-384, as the reference's EifHasher without cache, then "TPM extended" from zero):
//   PCR0 = H(0^48 || H(kernel || cmdline || every ramdisk))
//   PCR1 = H(0^48 || H(kernel || cmdline || first ramdisk))
//   PCR2 = H(0^48 || H(the other ramdisks))
// The metadata section is in the CRC but in no PCR.
//
// Streaming: the header holds the CRC of what follows, so the sections are read twice: once by
// measureEif (CRC and PCRs in one pass), once by eifChunks. Sources must give the same bytes both times.
// Pure: bytes in, bytes out (hashing only; no file system, clock or environment).
import {createHash, type Hash} from 'node:crypto'
import {badInputError} from '../errors.js'
import {exactly, type SizedSource} from './bytes.js'
import {crc32} from './crc32.js'

export const EIF_MAGIC = Uint8Array.of(0x2e, 0x65, 0x69, 0x66) // ".eif"
export const EIF_VERSION = 4
export const EIF_MAX_SECTIONS = 32
export const EIF_HEADER_SIZE = 548
export const EIF_SECTION_HEADER_SIZE = 12
/** Offset of the CRC field: the last 4 bytes of the header. */
const CRC_OFFSET = EIF_HEADER_SIZE - 4
/** Header flag bit 0: aarch64 (cleared for x86_64). */
export const EIF_FLAG_ARM64 = 0x1

export const EIF_SECTION_TYPES = ['invalid', 'kernel', 'cmdline', 'ramdisk', 'signature', 'metadata'] as const
export type EifSectionType = (typeof EIF_SECTION_TYPES)[number]
const typeCode = (type: EifSectionType) => EIF_SECTION_TYPES.indexOf(type)

/** The kernel command line nitro-cli and the Nitro kernels use. */
export const NITRO_CMDLINE =
  'reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on'
/** nitro-cli's defaults for the header's memory (bytes) and CPU count. */
export const EIF_DEFAULT_MEMORY = 1024 * 1024 * 1024
export const EIF_DEFAULT_CPUS = 2
export const PCR_ALGORITHM = 'Sha384'
const PCR_SIZE = 48

export interface EifHeader {
  magic: Uint8Array
  version: number
  flags: number
  defaultMemory: number
  defaultCpus: number
  reserved: number
  sectionCount: number
  sectionOffsets: number[]
  sectionSizes: number[]
  unused: number
  crc32: number
}

export interface EifSectionHeader {
  type: EifSectionType
  flags: number
  size: number
}

// --- metadata ---------------------------------------------------------------------------------

export interface EifBuildInfo {
  /** RFC 3339, from SOURCE_DATE_EPOCH (never the clock). */
  buildTime: string
  buildTool: string
  buildToolVersion: string
  operatingSystem: string
  kernelVersion: string
}

/** SOURCE_DATE_EPOCH as chrono's DateTime<Utc>::to_rfc3339 prints it: "1970-01-01T00:00:01+00:00". */
export function eifBuildTime(sourceDateEpoch: number): string {
  return new Date(sourceDateEpoch * 1000).toISOString().replace(/\.000Z$/, '+00:00')
}

/**
 * OS and kernel version from a kernel .config as the reference's generate_build_info reads them:
 * its third line ("# Linux/x86_64 6.19.3 Kernel Configuration") split at ' ', '/' and '-', words 1
 * and 3, "Unknown" when missing (a savedefconfig file has no such line).
 */
export function kernelIdentity(configText: string): {operatingSystem: string; kernelVersion: string} {
  const line = (configText.split('\n')[2] ?? '').replace(/\r$/, '')
  const words = line.split(/[ /-]/)
  return {operatingSystem: words[1] ?? 'Unknown', kernelVersion: words[3] ?? 'Unknown'}
}

/** The metadata section: serde_json of EifIdentityInfo, keys in the reference's order, compact. */
export function eifMetadata(input: {imageName: string; imageVersion: string; build: EifBuildInfo}): Uint8Array {
  const {build} = input
  const json = {
    ImageName: input.imageName,
    ImageVersion: input.imageVersion,
    BuildMetadata: {
      BuildTime: build.buildTime,
      BuildTool: build.buildTool,
      BuildToolVersion: build.buildToolVersion,
      OperatingSystem: build.operatingSystem,
      KernelVersion: build.kernelVersion,
    },
    DockerInfo: null,
    CustomMetadata: null,
  }
  return new TextEncoder().encode(JSON.stringify(json))
}

// --- layout -----------------------------------------------------------------------------------

export interface EifInput {
  kernel: SizedSource
  /** Written as is, without a trailing NUL (the reference's CString::into_bytes). */
  cmdline: string
  metadata: Uint8Array
  /** At least one; the first is measured into PCR1, the others into PCR2. */
  ramdisks: SizedSource[]
  memoryBytes: number
  cpus: number
  flags?: number
}

export interface PlannedSection {
  type: EifSectionType
  /** Where its 12-byte header starts. */
  offset: number
  /** Its data size. */
  size: number
  source: SizedSource
}

export interface EifPlan {
  sections: PlannedSection[]
  /** The header without its CRC (filled in by eifChunks). */
  header: Uint8Array
  size: number
}

export function planEif(input: EifInput): EifPlan {
  if (input.ramdisks.length === 0) throw new RangeError('eif: at least one ramdisk')
  if (input.cmdline.includes('\0')) throw new RangeError('eif: the command line holds a NUL')
  const cmdline = new TextEncoder().encode(input.cmdline)
  const parts: [EifSectionType, SizedSource][] = [
    ['kernel', input.kernel],
    ['cmdline', {size: cmdline.length, open: () => [cmdline]}],
    ['metadata', {size: input.metadata.length, open: () => [input.metadata]}],
    ...input.ramdisks.map((r): [EifSectionType, SizedSource] => ['ramdisk', r]),
  ]
  if (parts.length > EIF_MAX_SECTIONS) throw new RangeError(`eif: at most ${EIF_MAX_SECTIONS} sections`)
  let at = EIF_HEADER_SIZE
  const sections = parts.map(([type, source]) => {
    const section = {type, offset: at, size: source.size, source}
    at += EIF_SECTION_HEADER_SIZE + source.size
    return section
  })
  const header = encodeHeader({
    magic: EIF_MAGIC,
    version: EIF_VERSION,
    flags: input.flags ?? 0,
    defaultMemory: input.memoryBytes,
    defaultCpus: input.cpus,
    reserved: 0,
    sectionCount: sections.length,
    sectionOffsets: sections.map((s) => s.offset),
    sectionSizes: sections.map((s) => s.size),
    unused: 0,
    crc32: 0,
  })
  return {sections, header, size: at}
}

function encodeHeader(h: EifHeader): Uint8Array {
  const bytes = new Uint8Array(EIF_HEADER_SIZE)
  const view = new DataView(bytes.buffer)
  bytes.set(h.magic, 0)
  view.setUint16(4, h.version)
  view.setUint16(6, h.flags)
  view.setBigUint64(8, BigInt(h.defaultMemory))
  view.setBigUint64(16, BigInt(h.defaultCpus))
  view.setUint16(24, h.reserved)
  view.setUint16(26, h.sectionCount)
  for (let i = 0; i < EIF_MAX_SECTIONS; i++) {
    view.setBigUint64(28 + 8 * i, BigInt(h.sectionOffsets[i] ?? 0))
    view.setBigUint64(28 + 8 * EIF_MAX_SECTIONS + 8 * i, BigInt(h.sectionSizes[i] ?? 0))
  }
  view.setUint32(540, h.unused)
  view.setUint32(CRC_OFFSET, h.crc32)
  return bytes
}

export function encodeSectionHeader(type: EifSectionType, size: number): Uint8Array {
  const bytes = new Uint8Array(EIF_SECTION_HEADER_SIZE)
  const view = new DataView(bytes.buffer)
  view.setUint16(0, typeCode(type))
  view.setUint16(2, 0)
  view.setBigUint64(4, BigInt(size))
  return bytes
}

// --- measuring and writing --------------------------------------------------------------------

export interface EifPcrs {
  PCR0: string
  PCR1: string
  PCR2: string
}

export interface EifMeasurement {
  crc32: number
  hashAlgorithm: typeof PCR_ALGORITHM
  pcrs: EifPcrs
}

/** H(0^48 || H(measured bytes)): the reference's tpm_extend_finalize_reset. */
export function extendFromZero(measured: Hash): string {
  return createHash('sha384').update(new Uint8Array(PCR_SIZE)).update(measured.digest()).digest('hex')
}

const sectionData = (s: PlannedSection) =>
  exactly(s.source.open(), s.size, (seen) => badInputError(`eif: the ${s.type} section gave ${seen} bytes, ${s.size} were planned`))

/** One pass over every section: the CRC the header carries and the three PCRs. */
export async function measureEif(plan: EifPlan): Promise<EifMeasurement> {
  const image = createHash('sha384')
  const bootstrap = createHash('sha384')
  const app = createHash('sha384')
  let crc = crc32(plan.header.subarray(0, CRC_OFFSET))
  let ramdisk = 0
  for (const section of plan.sections) {
    crc = crc32(encodeSectionHeader(section.type, section.size), crc)
    const measuredBy =
      section.type === 'kernel' || section.type === 'cmdline' ? [image, bootstrap]
      : section.type === 'ramdisk' ? (ramdisk++ === 0 ? [image, bootstrap] : [image, app])
      : []
    for await (const chunk of sectionData(section)) {
      crc = crc32(chunk, crc)
      for (const h of measuredBy) h.update(chunk)
    }
  }
  return {crc32: crc, hashAlgorithm: PCR_ALGORITHM, pcrs: {PCR0: extendFromZero(image), PCR1: extendFromZero(bootstrap), PCR2: extendFromZero(app)}}
}

/** The file's bytes: the header with `crc`, then each section header and its data. */
export async function* eifChunks(plan: EifPlan, crc: number): AsyncGenerator<Uint8Array> {
  const header = plan.header.slice()
  new DataView(header.buffer).setUint32(CRC_OFFSET, crc)
  yield header
  for (const section of plan.sections) {
    yield encodeSectionHeader(section.type, section.size)
    yield* sectionData(section)
  }
}

// --- reading ----------------------------------------------------------------------------------

/** The 548-byte header; throws a bad-input error for a wrong magic or an impossible section table. */
export function parseEifHeader(bytes: Uint8Array): EifHeader {
  if (bytes.length < EIF_HEADER_SIZE) throw badInputError(`not an EIF: ${bytes.length} bytes, the header alone is ${EIF_HEADER_SIZE}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, EIF_HEADER_SIZE)
  const magic = bytes.slice(0, 4)
  if (!magic.every((b, i) => b === EIF_MAGIC[i])) throw badInputError(`not an EIF: magic ${Buffer.from(magic).toString('hex')}, wanted 2e656966 (".eif")`)
  const u64 = (at: number) => {
    const v = view.getBigUint64(at)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw badInputError(`EIF header: the 64-bit value at byte ${at} is too large (${v})`)
    return Number(v)
  }
  const sectionCount = view.getUint16(26)
  if (sectionCount > EIF_MAX_SECTIONS) throw badInputError(`EIF header: ${sectionCount} sections, at most ${EIF_MAX_SECTIONS}`)
  return {
    magic,
    version: view.getUint16(4),
    flags: view.getUint16(6),
    defaultMemory: u64(8),
    defaultCpus: u64(16),
    reserved: view.getUint16(24),
    sectionCount,
    sectionOffsets: Array.from({length: EIF_MAX_SECTIONS}, (_, i) => u64(28 + 8 * i)),
    sectionSizes: Array.from({length: EIF_MAX_SECTIONS}, (_, i) => u64(28 + 8 * EIF_MAX_SECTIONS + 8 * i)),
    unused: view.getUint32(540),
    crc32: view.getUint32(CRC_OFFSET),
  }
}

export function parseEifSectionHeader(bytes: Uint8Array, at: number): EifSectionHeader {
  if (bytes.length < EIF_SECTION_HEADER_SIZE) throw badInputError(`EIF: section header at byte ${at} is cut short`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, EIF_SECTION_HEADER_SIZE)
  const code = view.getUint16(0)
  const type = EIF_SECTION_TYPES[code]
  if (type === undefined || type === 'invalid') throw badInputError(`EIF: section at byte ${at} has type ${code}, not one of kernel, cmdline, ramdisk, signature, metadata`)
  const size = view.getBigUint64(4)
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw badInputError(`EIF: section at byte ${at} is too large (${size})`)
  return {type, flags: view.getUint16(2), size: Number(size)}
}

/** The CRC field's offset, for readers that check it (the CRC covers everything else). */
export const EIF_CRC_OFFSET = CRC_OFFSET
