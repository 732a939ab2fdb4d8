// Reads an ISO 9660 image from disk for `inspect` (our image.iso, or one xorriso made): the primary
// volume descriptor, the El Torito entries with the file each boots, the isohybrid MBR and every
// file's record. Only the system area, the descriptors, the catalog and the directories are read
// (iso9660-reader's readIsoRecords through a file reader), and the EFI boot image (the ESP), which is
// listed as FAT with the UKI's signature checked; with `sha256`, each file's bytes are streamed once
// to hash them.
import {createReadStream} from 'node:fs'
import {ISO_BLOCK} from '../formats/iso9660.js'
import {type IsoRecords, readIsoRecords} from '../formats/iso9660-reader.js'
import {sha256Stream} from './disk.js'
import {ESP_SHOWN_MAX, type FatContents, fatContents} from './disk-inspect.js'
import {StagexError} from '../errors.js'
import {openFileReader, readFileRange, readingFile} from './file-range.js'


export interface IsoInspection {
  format: 'iso9660'
  file: string
  size: number
  volume: IsoRecords['volume'] & {volumeBytes: number}
  boot: {
    index: number
    platform: string
    bootable: boolean
    emulation: string
    loadSegment: number
    /** 512-byte sectors the firmware loads (0: the whole image, for EFI). */
    loadSectors: number
    lba: number
    /** The file at that block, and its size. */
    file?: string
    size?: number
  }[]
  mbr: {id: string; lba432: number; partitions: {index: number; bootable: boolean; type: string; firstLba: number; sectors: number}[]} | null
  files: {path: string; directory: boolean; lba: number; size: number; time: string; flags: number; sha256?: string}[]
  /** The EFI El Torito entry's image read as a FAT32 volume (null: none, larger than ESP_SHOWN_MAX, or not FAT32). */
  esp: (FatContents & {file: string}) | null
}

const PLATFORMS: Record<number, string> = {0: 'bios', 1: 'powerpc', 2: 'mac', 0xef: 'efi'}
const EMULATIONS = ['none', '1.2M floppy', '1.44M floppy', '2.88M floppy', 'hard disk']
const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, '0')}`

export async function inspectIso(path: string, size: number, options: {sha256?: boolean} = {}): Promise<IsoInspection> {
  const reader = openFileReader(path, size)
  let records: IsoRecords
  try {
    records = await readingFile(path, () => readIsoRecords(reader))
  } finally {
    reader.close()
  }
  const byLba = new Map(records.entries.filter((e) => !e.directory).map((e) => [e.lba, e] as const))
  const files: IsoInspection['files'] = []
  for (const e of records.entries) {
    const file: IsoInspection['files'][number] = {path: e.path, directory: e.directory, lba: e.lba, size: e.size, time: e.time, flags: e.flags}
    if (options.sha256 && !e.directory) file.sha256 = await hashRange(path, e.lba * ISO_BLOCK, e.size)
    files.push(file)
  }
  const efi = records.bootEntries.find((b) => b.platform === 0xef && byLba.has(b.lba))
  const espFile = efi && byLba.get(efi.lba)!
  let esp: IsoInspection['esp'] = null
  if (espFile && espFile.size <= ESP_SHOWN_MAX) {
    try {
      esp = {file: espFile.path, ...(await fatContents(await readFileRange(path, espFile.lba * ISO_BLOCK, espFile.size), options))}
    } catch (error) {
      if (!(error instanceof StagexError)) throw error // not a FAT32 volume: the entry is listed alone
    }
  }
  return {
    format: 'iso9660',
    file: path,
    size,
    volume: {...records.volume, volumeBytes: records.volume.volumeBlocks * ISO_BLOCK},
    boot: records.bootEntries.map((b, i) => {
      const target = byLba.get(b.lba)
      return {
        index: i + 1,
        platform: PLATFORMS[b.platform] ?? hex(b.platform, 2),
        bootable: b.bootable,
        emulation: EMULATIONS[b.media & 0x0f] ?? hex(b.media, 2),
        loadSegment: b.loadSegment,
        loadSectors: b.loadSectors,
        lba: b.lba,
        ...(target && {file: target.path, size: target.size}),
      }
    }),
    mbr: records.mbr
      ? {
          id: hex(records.mbr.id, 8),
          lba432: records.mbr.lba432,
          partitions: records.mbr.partitions
            .map((p, i) => ({index: i + 1, bootable: p.status === 0x80, type: hex(p.type, 2), firstLba: p.firstLba, sectors: p.sectors}))
            .filter((p) => p.type !== '0x00' || p.sectors > 0),
        }
      : null,
    files,
    esp,
  }
}

/** sha256 of bytes [at, at + length) of the file, streamed (an empty range has no stream to read). */
async function hashRange(path: string, at: number, length: number): Promise<string> {
  const range = length > 0 ? (createReadStream(path, {start: at, end: at + length - 1, highWaterMark: 1024 * 1024}) as AsyncIterable<Buffer>) : []
  return (await sha256Stream(range)).sha256
}
