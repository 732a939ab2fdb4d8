// Reads a GPT disk or a FAT32 volume (an ESP) from disk for `inspect`. A disk: the primary header
// with its CRCs checked and every used partition; an EFI System partition of at most ESP_SHOWN_MAX
// bytes is read and listed as FAT. A FAT volume is read whole into memory (fat32-reader reads an
// image in memory; an ESP is small), its boot-sector fields and every file and folder listed; a
// PE file on it (BOOTX64.EFI: the UKI) is read by pe-inspect, so its signature is checked too.
import {readFile} from 'node:fs/promises'
import {crc32} from '../formats/crc32.js'
import {readFatEntries, formatFatTime} from '../formats/fat32-reader.js'
import {ESP_TYPE_GUID, LINUX_DATA_TYPE_GUID, ROOT_X86_64_TYPE_GUID, SECTOR_SIZE} from '../formats/gpt.js'
import {readGpt} from '../formats/gpt-reader.js'
import {StagexError} from '../errors.js'
import {sha256Hex} from './disk.js'
import {readFileRange, readingFile} from './file-range.js'
import {inspectPeInput, peBytesInput, type PeInspection} from './pe-inspect.js'

/** An EFI System partition larger than this is not read to list its files. */
export const ESP_SHOWN_MAX = 512 * 1024 * 1024

export interface FatContents {
  volume: {volumeId: string; label: string; bytesPerSector: number; sectorsPerCluster: number; reservedSectors: number; fats: number; fatSectors: number; totalSectors: number; rootCluster: number}
  files: {path: string; directory: boolean; size: number; written: string; firstCluster: number; sha256?: string; pe?: PeSummary}[]
}

/** What inspect says of a PE file inside a volume: is it a UKI, its Authenticode hash, its signatures. */
export type PeSummary = Pick<PeInspection, 'machine' | 'uki' | 'authenticodeSha256' | 'signatures'>

export interface FatInspection extends FatContents {
  format: 'fat32'
  file: string
  size: number
}

export interface GptInspection {
  format: 'gpt'
  file: string
  size: number
  header: {
    diskGuid: string
    revision: string
    currentLba: number
    backupLba: number
    firstUsableLba: number
    lastUsableLba: number
    entriesLba: number
    entryCount: number
    entrySize: number
    headerCrc32: {stored: string; computed: string}
    entriesCrc32: {stored: string; computed: string}
  }
  partitions: {
    index: number
    name: string
    type: string
    typeGuid: string
    uniqueGuid: string
    firstLba: number
    lastLba: number
    bytes: number
    attributes: string
    /** An EFI System partition's FAT volume, when it is one and small enough to read. */
    fat?: FatContents
  }[]
}

const TYPE_NAMES: Record<string, string> = {
  [ESP_TYPE_GUID]: 'EFI System',
  [LINUX_DATA_TYPE_GUID]: 'Linux filesystem',
  [ROOT_X86_64_TYPE_GUID]: 'Linux root (x86-64)',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
}

const hex32 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`

/** The FAT volume's fields and files (bad input when it is not FAT32). */
export async function fatContents(image: Uint8Array, options: {sha256?: boolean} = {}): Promise<FatContents> {
  const {volume, entries} = readFatEntries(image)
  const id = volume.volumeId.toString(16).toUpperCase().padStart(8, '0')
  const files: FatContents['files'] = []
  for (const e of entries) {
    const file: FatContents['files'][number] = {path: e.path, directory: e.directory, size: e.size, written: formatFatTime(e.writeDate, e.writeTime), firstCluster: e.firstCluster}
    if (options.sha256 && !e.directory) file.sha256 = sha256Hex(e.data)
    if (!e.directory && e.data[0] === 0x4d && e.data[1] === 0x5a) file.pe = await peSummary(e.path, e.data)
    files.push(file)
  }
  return {volume: {...volume, volumeId: `${id.slice(0, 4)}-${id.slice(4)}`}, files}
}

/** A file that starts with "MZ" but is no PE32+ image is listed without a summary. */
async function peSummary(name: string, bytes: Uint8Array): Promise<PeSummary | undefined> {
  try {
    const {machine, uki, authenticodeSha256, signatures} = await inspectPeInput(peBytesInput(name, bytes))
    return {machine, uki, authenticodeSha256, signatures}
  } catch (error) {
    if (error instanceof StagexError) return undefined
    throw error
  }
}

export async function inspectFat(path: string, size: number, options: {sha256?: boolean} = {}): Promise<FatInspection> {
  const image = await readFile(path)
  return {format: 'fat32', file: path, size, ...(await readingFile(path, () => fatContents(image, options)))}
}

export async function inspectGpt(path: string, size: number, options: {sha256?: boolean} = {}): Promise<GptInspection> {
  const head = await readFileRange(path, 0, Math.min(size, 2 * SECTOR_SIZE))
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength)
  // The entry array is where the header says (LBA 2 in every disk we make): read up to its end.
  const entriesEnd = head.length >= 2 * SECTOR_SIZE ? Number(v.getBigUint64(SECTOR_SIZE + 72, true)) * SECTOR_SIZE + v.getUint32(SECTOR_SIZE + 80, true) * v.getUint32(SECTOR_SIZE + 84, true) : 0
  const disk = await readFileRange(path, 0, Math.min(size, Math.max(head.length, entriesEnd)))
  const gpt = await readingFile(path, () => readGpt(disk))
  const h = gpt.header
  const headerBytes = Uint8Array.from(disk.subarray(SECTOR_SIZE, SECTOR_SIZE + h.headerSize))
  headerBytes.fill(0, 16, 20)
  const entriesAt = Number(h.entriesLba) * SECTOR_SIZE
  const partitions: GptInspection['partitions'] = []
  for (const e of gpt.entries) {
    const bytes = Number(e.lastLba - e.firstLba + 1n) * SECTOR_SIZE
    const partition: GptInspection['partitions'][number] = {
      index: e.index + 1,
      name: e.name,
      type: TYPE_NAMES[e.typeGuid] ?? 'unknown',
      typeGuid: e.typeGuid,
      uniqueGuid: e.uniqueGuid,
      firstLba: Number(e.firstLba),
      lastLba: Number(e.lastLba),
      bytes,
      attributes: `0x${e.attributes.toString(16).padStart(16, '0')}`,
    }
    const start = Number(e.firstLba) * SECTOR_SIZE
    if (e.typeGuid === ESP_TYPE_GUID && bytes <= ESP_SHOWN_MAX && start + bytes <= size) {
      try {
        partition.fat = await fatContents(await readFileRange(path, start, bytes), options)
      } catch (error) {
        if (!(error instanceof StagexError)) throw error // not FAT32: the partition is listed without files
      }
    }
    partitions.push(partition)
  }
  return {
    format: 'gpt',
    file: path,
    size,
    header: {
      diskGuid: h.diskGuid,
      revision: `${h.revision >>> 16}.${h.revision & 0xffff}`,
      currentLba: Number(h.currentLba),
      backupLba: Number(h.backupLba),
      firstUsableLba: Number(h.firstUsableLba),
      lastUsableLba: Number(h.lastUsableLba),
      entriesLba: Number(h.entriesLba),
      entryCount: h.entryCount,
      entrySize: h.entrySize,
      headerCrc32: {stored: hex32(h.headerCrc32), computed: hex32(crc32(headerBytes))},
      entriesCrc32: {stored: hex32(h.entriesCrc32), computed: hex32(crc32(disk.subarray(entriesAt, entriesAt + h.entryCount * h.entrySize)))},
    },
    partitions,
  }
}
