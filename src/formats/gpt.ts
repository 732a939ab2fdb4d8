// GPT disk writer (UEFI spec ch. 5): protective MBR at LBA 0, primary header at LBA 1, a 128 x 128-byte
// entry array at LBA 2..33, partitions aligned to 1 MiB, then the backup entry array and the backup
// header in the last 33 sectors. Pure: the layout and the table sectors are computed from the input
// alone, and the disk is yielded as chunks so a partition's content is never copied into one buffer.

import {crc32} from './crc32.js'
import {guidToDisk} from './seed.js'

export const SECTOR_SIZE = 512
export const ENTRY_COUNT = 128
export const ENTRY_SIZE = 128
/** Sectors taken by one copy of the entry array (128 x 128 B / 512). */
export const ENTRY_ARRAY_SECTORS = (ENTRY_COUNT * ENTRY_SIZE) / SECTOR_SIZE
export const DEFAULT_ALIGNMENT = 1024 * 1024

/** EFI System Partition. */
export const ESP_TYPE_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'
/** Linux filesystem data. */
export const LINUX_DATA_TYPE_GUID = '0FC63DAF-8483-4772-8E79-3D69D8477DE4'
/** Discoverable Partitions: root, x86-64. */
export const ROOT_X86_64_TYPE_GUID = '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709'

export interface GptPartitionSpec {
  typeGuid: string
  uniqueGuid: string
  /** At most 36 UTF-16 code units. */
  name: string
  /** Rounded up to whole sectors. */
  sizeBytes: number
  /** The 64-bit attribute field (bit 0 required, bit 59 growfs, ...). Default 0. */
  attributes?: bigint
}

export interface GptLayoutInput {
  diskGuid: string
  partitions: readonly GptPartitionSpec[]
  /** Whole disk size; default: just big enough, rounded up to the alignment. */
  sizeBytes?: number
  /** Partition start alignment in bytes (a multiple of 512); default 1 MiB. */
  alignment?: number
}

export interface GptPlacedPartition extends GptPartitionSpec {
  /** First sector, inclusive. */
  firstLba: number
  /** Last sector, inclusive (as stored in the entry). */
  lastLba: number
  /** firstLba * 512. */
  offsetBytes: number
  /** Size in the table: (lastLba - firstLba + 1) * 512. */
  sizeBytes: number
}

export interface GptLayout {
  diskGuid: string
  sizeBytes: number
  totalSectors: number
  firstUsableLba: number
  lastUsableLba: number
  /** LBA of the backup entry array; the backup header is at totalSectors - 1. */
  backupEntriesLba: number
  partitions: GptPlacedPartition[]
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a

/** Places the partitions: each starts at the next alignment boundary after the previous one. */
export function layoutGpt(input: GptLayoutInput): GptLayout {
  const alignment = input.alignment ?? DEFAULT_ALIGNMENT
  if (!Number.isSafeInteger(alignment) || alignment <= 0 || alignment % SECTOR_SIZE !== 0) {
    throw new RangeError(`GPT alignment must be a positive multiple of ${SECTOR_SIZE}, got ${alignment}`)
  }
  if (input.partitions.length > ENTRY_COUNT) throw new RangeError(`GPT holds at most ${ENTRY_COUNT} partitions`)
  const alignSectors = alignment / SECTOR_SIZE
  // As libfdisk and systemd-repart do: the first usable LBA is the first aligned sector after the
  // primary table (2048 for 1 MiB alignment), not 34.
  const firstUsableLba = alignUp(2 + ENTRY_ARRAY_SECTORS, alignSectors)
  const placed: GptPlacedPartition[] = []
  let next = firstUsableLba
  for (const p of input.partitions) {
    if (!Number.isSafeInteger(p.sizeBytes) || p.sizeBytes <= 0) {
      throw new RangeError(`partition ${JSON.stringify(p.name)}: size must be a positive integer, got ${p.sizeBytes}`)
    }
    encodeName(p.name) // validate early
    const sectors = Math.ceil(p.sizeBytes / SECTOR_SIZE)
    const firstLba = alignUp(next, alignSectors)
    placed.push({
      ...p,
      firstLba,
      lastLba: firstLba + sectors - 1,
      offsetBytes: firstLba * SECTOR_SIZE,
      sizeBytes: sectors * SECTOR_SIZE,
    })
    next = firstLba + sectors
  }
  const tailSectors = ENTRY_ARRAY_SECTORS + 1
  const minSectors = alignUp(next + tailSectors, alignSectors)
  let totalSectors = minSectors
  if (input.sizeBytes !== undefined) {
    if (!Number.isSafeInteger(input.sizeBytes) || input.sizeBytes % SECTOR_SIZE !== 0) {
      throw new RangeError(`disk size must be a whole number of ${SECTOR_SIZE}-byte sectors, got ${input.sizeBytes}`)
    }
    totalSectors = input.sizeBytes / SECTOR_SIZE
    if (totalSectors < next + tailSectors || totalSectors <= firstUsableLba + tailSectors) {
      throw new RangeError(`disk size ${input.sizeBytes} is too small for the partitions (needs ${minSectors * SECTOR_SIZE})`)
    }
  }
  return {
    diskGuid: input.diskGuid,
    sizeBytes: totalSectors * SECTOR_SIZE,
    totalSectors,
    firstUsableLba,
    lastUsableLba: totalSectors - tailSectors - 1,
    backupEntriesLba: totalSectors - tailSectors,
    partitions: placed,
  }
}

function encodeName(name: string): Uint8Array {
  const out = new Uint8Array(72)
  if (name.length > 36) throw new RangeError(`GPT partition name is longer than 36 UTF-16 units: ${JSON.stringify(name)}`)
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i)
    out[i * 2] = u & 0xff
    out[i * 2 + 1] = u >> 8
  }
  return out
}

/** The 128 x 128-byte partition entry array. */
export function gptEntryArray(layout: GptLayout): Uint8Array {
  const out = new Uint8Array(ENTRY_COUNT * ENTRY_SIZE)
  layout.partitions.forEach((p, i) => out.set(gptEntry(p), i * ENTRY_SIZE))
  return out
}

/** One 128-byte partition entry. */
export function gptEntry(p: Pick<GptPlacedPartition, 'typeGuid' | 'uniqueGuid' | 'name' | 'firstLba' | 'lastLba' | 'attributes'>): Uint8Array {
  const out = new Uint8Array(ENTRY_SIZE)
  const view = new DataView(out.buffer)
  out.set(guidToDisk(p.typeGuid), 0)
  out.set(guidToDisk(p.uniqueGuid), 16)
  view.setBigUint64(32, BigInt(p.firstLba), true)
  view.setBigUint64(40, BigInt(p.lastLba), true)
  view.setBigUint64(48, BigInt.asUintN(64, p.attributes ?? 0n), true)
  out.set(encodeName(p.name), 56)
  return out
}

function header(layout: GptLayout, backup: boolean, entriesCrc: number): Uint8Array {
  const out = new Uint8Array(SECTOR_SIZE)
  const view = new DataView(out.buffer)
  out.set(new TextEncoder().encode('EFI PART'), 0)
  view.setUint32(8, 0x00010000, true)
  view.setUint32(12, 92, true)
  const last = layout.totalSectors - 1
  view.setBigUint64(24, BigInt(backup ? last : 1), true)
  view.setBigUint64(32, BigInt(backup ? 1 : last), true)
  view.setBigUint64(40, BigInt(layout.firstUsableLba), true)
  view.setBigUint64(48, BigInt(layout.lastUsableLba), true)
  out.set(guidToDisk(layout.diskGuid), 56)
  view.setBigUint64(72, BigInt(backup ? layout.backupEntriesLba : 2), true)
  view.setUint32(80, ENTRY_COUNT, true)
  view.setUint32(84, ENTRY_SIZE, true)
  view.setUint32(88, entriesCrc, true)
  view.setUint32(16, crc32(out.subarray(0, 92)), true)
  return out
}

/** LBA 0: the protective MBR, one 0xEE partition covering the disk from LBA 1 (capped at 2^32-1). */
export function protectiveMbr(totalSectors: number): Uint8Array {
  const out = new Uint8Array(SECTOR_SIZE)
  const view = new DataView(out.buffer)
  const e = 446
  out.set([0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff], e)
  view.setUint32(e + 8, 1, true)
  view.setUint32(e + 12, Math.min(totalSectors - 1, 0xffffffff), true)
  out[510] = 0x55
  out[511] = 0xaa
  return out
}

/** LBA 0..33: protective MBR, primary header, primary entry array. */
export function gptHead(layout: GptLayout): Uint8Array {
  const entries = gptEntryArray(layout)
  const out = new Uint8Array((2 + ENTRY_ARRAY_SECTORS) * SECTOR_SIZE)
  out.set(protectiveMbr(layout.totalSectors), 0)
  out.set(header(layout, false, crc32(entries)), SECTOR_SIZE)
  out.set(entries, 2 * SECTOR_SIZE)
  return out
}

/** The last 33 sectors: backup entry array, then the backup header. */
export function gptTail(layout: GptLayout): Uint8Array {
  const entries = gptEntryArray(layout)
  const out = new Uint8Array((ENTRY_ARRAY_SECTORS + 1) * SECTOR_SIZE)
  out.set(entries, 0)
  out.set(header(layout, true, crc32(entries)), ENTRY_ARRAY_SECTORS * SECTOR_SIZE)
  return out
}

/** Partition content: bytes, or chunks (sync or async). Shorter content is padded with zeros. */
export type PartitionContent = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

export interface GptDiskPartition extends Omit<GptPartitionSpec, 'sizeBytes'> {
  /** Default: the content's length when content is a Uint8Array. */
  sizeBytes?: number
  content?: PartitionContent
}

export interface GptDiskInput extends Omit<GptLayoutInput, 'partitions'> {
  partitions: readonly GptDiskPartition[]
}

const ZERO_CHUNK = 1024 * 1024

/** `n` zero bytes as views of one reused buffer: gaps and padding cost no memory that grows with the disk. */
function* zeros(zero: Uint8Array, n: number): Generator<Uint8Array> {
  while (n > 0) {
    const k = Math.min(n, zero.length)
    yield zero.subarray(0, k)
    n -= k
  }
}

async function* chunksOf(content: PartitionContent): AsyncGenerator<Uint8Array> {
  if (content instanceof Uint8Array) {
    yield content
    return
  }
  for await (const chunk of content as AsyncIterable<Uint8Array>) yield chunk
}

/** Resolves partition sizes (a Uint8Array content gives its own length) and lays the disk out. */
export function layoutGptDisk(input: GptDiskInput): GptLayout {
  return layoutGpt({
    ...input,
    partitions: input.partitions.map((p) => {
      const sizeBytes = p.sizeBytes ?? (p.content instanceof Uint8Array ? p.content.length : undefined)
      if (sizeBytes === undefined) throw new RangeError(`partition ${JSON.stringify(p.name)}: sizeBytes is required for streamed content`)
      const {content: _content, ...spec} = p
      return {...spec, sizeBytes}
    }),
  })
}

/**
 * The whole disk image as chunks, in order: head, gap, each partition's content padded to its size,
 * gaps, tail. Content longer than its partition is an error. Chunks of content are passed through
 * as given (not copied), one at a time: nothing of the disk is held beyond the chunk in hand.
 */
export async function* writeGptDisk(input: GptDiskInput): AsyncGenerator<Uint8Array> {
  const layout = layoutGptDisk(input)
  const zero = new Uint8Array(ZERO_CHUNK)
  const head = gptHead(layout)
  yield head
  let pos = head.length
  for (const [i, p] of layout.partitions.entries()) {
    yield* zeros(zero, p.offsetBytes - pos)
    pos = p.offsetBytes
    let written = 0
    const content = input.partitions[i]!.content
    if (content !== undefined) {
      for await (const chunk of chunksOf(content)) {
        written += chunk.length
        if (written > p.sizeBytes) {
          throw new RangeError(`partition ${JSON.stringify(p.name)}: content is larger than its size ${p.sizeBytes}`)
        }
        if (chunk.length > 0) yield chunk
      }
    }
    yield* zeros(zero, p.sizeBytes - written)
    pos += p.sizeBytes
  }
  const tailAt = layout.backupEntriesLba * SECTOR_SIZE
  yield* zeros(zero, tailAt - pos)
  yield gptTail(layout)
}
