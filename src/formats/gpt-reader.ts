// A small GPT reader, for comparing two disks: the primary header's fields and every used entry.
// Pure: bytes in, records out (GUIDs in their mixed-endian text form, as gpt.ts writes them).
import {StagexError} from '../errors.js'
import {SECTOR_SIZE} from './gpt.js'

export interface GptHeaderFields {
  revision: number
  headerSize: number
  headerCrc32: number
  currentLba: bigint
  backupLba: bigint
  firstUsableLba: bigint
  lastUsableLba: bigint
  diskGuid: string
  entriesLba: bigint
  entryCount: number
  entrySize: number
  entriesCrc32: number
}

export interface GptEntryFields {
  index: number
  typeGuid: string
  uniqueGuid: string
  firstLba: bigint
  lastLba: bigint
  attributes: bigint
  name: string
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex').toUpperCase()

/** Mixed-endian GUID: the first three groups little-endian, the rest as stored. */
export function guidText(b: Uint8Array): string {
  const le = (from: number, to: number) => hex(Uint8Array.from(b.subarray(from, to)).reverse())
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`
}

export function readGpt(disk: Uint8Array): {header: GptHeaderFields; entries: GptEntryFields[]} {
  if (disk.length < 3 * SECTOR_SIZE) throw new StagexError('bad-input', `GPT: a disk of ${disk.length} bytes is too small`)
  const v = new DataView(disk.buffer, disk.byteOffset, disk.byteLength)
  const h = SECTOR_SIZE
  if (Buffer.from(disk.subarray(h, h + 8)).toString('latin1') !== 'EFI PART') throw new StagexError('bad-input', 'GPT: no "EFI PART" header at LBA 1')
  const header: GptHeaderFields = {
    revision: v.getUint32(h + 8, true),
    headerSize: v.getUint32(h + 12, true),
    headerCrc32: v.getUint32(h + 16, true),
    currentLba: v.getBigUint64(h + 24, true),
    backupLba: v.getBigUint64(h + 32, true),
    firstUsableLba: v.getBigUint64(h + 40, true),
    lastUsableLba: v.getBigUint64(h + 48, true),
    diskGuid: guidText(disk.subarray(h + 56, h + 72)),
    entriesLba: v.getBigUint64(h + 72, true),
    entryCount: v.getUint32(h + 80, true),
    entrySize: v.getUint32(h + 84, true),
    entriesCrc32: v.getUint32(h + 88, true),
  }
  const entries: GptEntryFields[] = []
  const base = Number(header.entriesLba) * SECTOR_SIZE
  if (header.entrySize < 128 || base + header.entryCount * header.entrySize > disk.length)
    throw new StagexError('bad-input', 'GPT: the entry array lies outside the disk')
  for (let i = 0; i < header.entryCount; i++) {
    const at = base + i * header.entrySize
    const type = disk.subarray(at, at + 16)
    if (type.every((b) => b === 0)) continue
    const nameUnits: number[] = []
    for (let k = 0; k < 36; k++) {
      const unit = v.getUint16(at + 56 + k * 2, true)
      if (unit === 0) break
      nameUnits.push(unit)
    }
    entries.push({
      index: i,
      typeGuid: guidText(type),
      uniqueGuid: guidText(disk.subarray(at + 16, at + 32)),
      firstLba: v.getBigUint64(at + 32, true),
      lastLba: v.getBigUint64(at + 40, true),
      attributes: v.getBigUint64(at + 48, true),
      name: String.fromCharCode(...nameUnits),
    })
  }
  return {header, entries}
}
