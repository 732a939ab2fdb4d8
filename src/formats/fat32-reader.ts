// A small FAT32 reader, for comparing two ESPs: the volume's boot-sector fields and every file and
// folder with its directory-entry fields (attributes, times, size, first cluster) and its bytes.
// Pure: bytes in, records out. Malformed images throw FatReadError (exit 4).
import {StagexError} from '../errors.js'

export class FatReadError extends StagexError {
  constructor(message: string) {
    super('bad-input', `FAT32: ${message}`)
    this.name = 'FatReadError'
  }
}

export interface FatVolume {
  bytesPerSector: number
  sectorsPerCluster: number
  reservedSectors: number
  fats: number
  fatSectors: number
  totalSectors: number
  rootCluster: number
  volumeId: number
  label: string
}

/** One directory entry as stored, under its long name when it has one. */
export interface FatEntry {
  /** "EFI/BOOT/BOOTX64.EFI": long names joined by "/". */
  path: string
  shortName: string
  directory: boolean
  attributes: number
  createTimeTenths: number
  createTime: number
  createDate: number
  accessDate: number
  writeTime: number
  writeDate: number
  firstCluster: number
  size: number
  /** Byte offset of the 32-byte short entry in the image (tests alter fields there). */
  entryOffset: number
  /** The file's bytes (empty for folders); a view into the image, not a copy. */
  data: Uint8Array
}

const ATTR_LFN = 0x0f
const ATTR_DIRECTORY = 0x10
const ATTR_VOLUME_ID = 0x08
const END_OF_CHAIN = 0x0ffffff8
/** A chain longer than the image has clusters loops. */
const MAX_DEPTH = 32

export function readFatVolume(image: Uint8Array): FatVolume {
  if (image.length < 512) throw new FatReadError(`image of ${image.length} bytes has no boot sector`)
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength)
  if (v.getUint16(510, true) !== 0xaa55) throw new FatReadError('no boot sector signature (0x55AA at 510)')
  const volume: FatVolume = {
    bytesPerSector: v.getUint16(11, true),
    sectorsPerCluster: v.getUint8(13),
    reservedSectors: v.getUint16(14, true),
    fats: v.getUint8(16),
    fatSectors: v.getUint32(36, true),
    totalSectors: v.getUint16(19, true) || v.getUint32(32, true),
    rootCluster: v.getUint32(44, true),
    volumeId: v.getUint32(67, true),
    label: Buffer.from(image.subarray(71, 82)).toString('latin1').trimEnd(),
  }
  if (![512, 1024, 2048, 4096].includes(volume.bytesPerSector) || volume.sectorsPerCluster === 0 || volume.fatSectors === 0)
    throw new FatReadError('not a FAT32 boot sector (bytes per sector, sectors per cluster or FAT size)')
  return volume
}

/** Every file and folder below the root, in directory order (depth first). */
export function readFatEntries(image: Uint8Array): {volume: FatVolume; entries: FatEntry[]} {
  const volume = readFatVolume(image)
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength)
  const sector = volume.bytesPerSector
  const clusterBytes = sector * volume.sectorsPerCluster
  const fatStart = volume.reservedSectors * sector
  const dataStart = (volume.reservedSectors + volume.fats * volume.fatSectors) * sector
  const clusterCount = Math.floor((image.length - dataStart) / clusterBytes)
  const clusterOffset = (cluster: number) => dataStart + (cluster - 2) * clusterBytes
  const chain = (first: number): number[] => {
    const clusters: number[] = []
    for (let c = first; c >= 2 && c < END_OF_CHAIN; c = v.getUint32(fatStart + c * 4, true) & 0x0fffffff) {
      if (c - 2 >= clusterCount || clusters.length > clusterCount) throw new FatReadError(`cluster chain from ${first} leaves the volume or loops`)
      clusters.push(c)
    }
    return clusters
  }
  const contents = (first: number, size: number): Uint8Array => {
    if (size === 0) return new Uint8Array(0)
    const clusters = chain(first)
    // Our writer places files contiguously: a view when it is, a copy otherwise.
    const contiguous = clusters.every((c, i) => c === first + i)
    if (contiguous && clusters.length * clusterBytes >= size) return image.subarray(clusterOffset(first), clusterOffset(first) + size)
    const out = new Uint8Array(size)
    let at = 0
    for (const c of clusters) {
      const take = Math.min(clusterBytes, size - at)
      out.set(image.subarray(clusterOffset(c), clusterOffset(c) + take), at)
      at += take
      if (at >= size) break
    }
    if (at < size) throw new FatReadError(`a file of ${size} bytes has only ${at} bytes of clusters`)
    return out
  }
  const entries: FatEntry[] = []
  const walk = (cluster: number, prefix: string, depth: number) => {
    if (depth > MAX_DEPTH) throw new FatReadError(`folders nested deeper than ${MAX_DEPTH}`)
    let longName: string[] = []
    for (const c of chain(cluster)) {
      for (let at = clusterOffset(c); at < clusterOffset(c) + clusterBytes; at += 32) {
        const first = image[at]!
        if (first === 0) return
        const attributes = image[at + 11]!
        if (first === 0xe5) {
          longName = []
          continue
        }
        if ((attributes & 0x3f) === ATTR_LFN) {
          longName.unshift(lfnPart(image, at))
          continue
        }
        const shortName = shortNameOf(image.subarray(at, at + 11))
        const name = longName.length > 0 ? longName.join('').split('\0')[0]! : shortName
        longName = []
        if (attributes & ATTR_VOLUME_ID || shortName === '.' || shortName === '..') continue
        const directory = (attributes & ATTR_DIRECTORY) !== 0
        const firstCluster = (v.getUint16(at + 20, true) << 16) | v.getUint16(at + 26, true)
        const size = v.getUint32(at + 28, true)
        const path = prefix + name
        entries.push({
          path,
          shortName,
          directory,
          attributes,
          createTimeTenths: image[at + 13]!,
          createTime: v.getUint16(at + 14, true),
          createDate: v.getUint16(at + 16, true),
          accessDate: v.getUint16(at + 18, true),
          writeTime: v.getUint16(at + 22, true),
          writeDate: v.getUint16(at + 24, true),
          firstCluster,
          size,
          entryOffset: at,
          data: directory ? new Uint8Array(0) : contents(firstCluster, size),
        })
        if (directory) walk(firstCluster, `${path}/`, depth + 1)
      }
    }
  }
  walk(volume.rootCluster, '', 0)
  return {volume, entries}
}

/** The 13 UCS-2 characters of one long-name entry (0xFFFF padding dropped). */
function lfnPart(image: Uint8Array, at: number): string {
  const units: number[] = []
  for (const [from, count] of [[1, 5], [14, 6], [28, 2]] as const)
    for (let i = 0; i < count; i++) {
      const unit = image[at + from + i * 2]! | (image[at + from + i * 2 + 1]! << 8)
      if (unit !== 0xffff) units.push(unit)
    }
  return String.fromCharCode(...units)
}

function shortNameOf(raw: Uint8Array): string {
  const text = Buffer.from(raw).toString('latin1')
  const base = text.slice(0, 8).trimEnd()
  const ext = text.slice(8, 11).trimEnd()
  return ext ? `${base}.${ext}` : base
}

/** A FAT date and time as "YYYY-MM-DD HH:MM:SS", for messages. */
export function formatFatTime(date: number, time = 0): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  const day = `${1980 + (date >> 9)}-${pad((date >> 5) & 15)}-${pad(date & 31)}`
  return `${day} ${pad(time >> 11)}:${pad((time >> 5) & 63)}:${pad((time & 31) * 2)}`
}
