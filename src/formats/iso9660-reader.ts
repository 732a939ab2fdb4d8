// A small ISO 9660 reader, for comparing two images and for inspect: the primary volume descriptor's
// fields, the El Torito catalog's entries, the MBR, and every file and directory with its record and
// bytes. Pure: bytes in, records out. Reads what iso9660.ts writes (and plain ECMA-119 images).
// readIsoRecords reads through a random-access reader and touches only the system area, the volume
// descriptors, the boot catalog and the directories (inspect reads a large image from disk that way);
// readIso reads an image in memory and adds each file's bytes as a view.
import {StagexError} from '../errors.js'
import {ISO_BLOCK} from './iso9660.js'


export interface IsoVolumeFields {
  systemId: string
  volumeId: string
  volumeBlocks: number
  pathTableSize: number
  lPathTableLba: number
  mPathTableLba: number
  publisherId: string
  preparerId: string
  applicationId: string
  created: string
  modified: string
  expires: string
  effective: string
}

export interface IsoBootEntryFields {
  platform: number
  bootable: boolean
  media: number
  loadSegment: number
  loadSectors: number
  lba: number
}

export interface IsoMbrFields {
  /** The first 432 bytes: the boot code. */
  code: Uint8Array
  lba432: number
  id: number
  partitions: {status: number; type: number; firstLba: number; sectors: number}[]
}

/** Bytes [at, at + length) of an image of `size` bytes (fewer only past its end). */
export interface IsoByteReader {
  size: number
  read(at: number, length: number): Uint8Array
}

export interface IsoRecord {
  /** "ISOLINUX/ISOLINUX.BIN;1" as stored. */
  path: string
  directory: boolean
  lba: number
  size: number
  /** The 7-byte recording time as "1970-01-01T00:00:01 +0". */
  time: string
  flags: number
}

export interface IsoEntry extends IsoRecord {
  data: Uint8Array
}

export interface IsoRecords {
  volume: IsoVolumeFields
  bootEntries: IsoBootEntryFields[]
  mbr?: IsoMbrFields
  entries: IsoRecord[]
}

const bad = (message: string) => new StagexError('bad-input', `ISO 9660: ${message}`)
const text = (b: Uint8Array, at: number, n: number) => Buffer.from(b.subarray(at, at + n)).toString('latin1')
const trimmed = (b: Uint8Array, at: number, n: number) => text(b, at, n).replace(/[ \0]+$/, '')

function recordTime(t: Uint8Array): string {
  const two = (n: number) => String(n).padStart(2, '0')
  return `${1900 + t[0]!}-${two(t[1]!)}-${two(t[2]!)}T${two(t[3]!)}:${two(t[4]!)}:${two(t[5]!)} ${t[6]! >= 128 ? t[6]! - 256 : t[6]!}`
}

export function readIso(image: Uint8Array): {volume: IsoVolumeFields; bootEntries: IsoBootEntryFields[]; mbr?: IsoMbrFields; entries: IsoEntry[]} {
  const records = readIsoRecords({size: image.length, read: (at, length) => image.subarray(at, at + length)})
  const data = (e: IsoRecord) => (e.directory ? new Uint8Array() : image.subarray(e.lba * ISO_BLOCK, e.lba * ISO_BLOCK + e.size))
  return {...records, entries: records.entries.map((e) => ({...e, data: data(e)}))}
}

/** The image's structure, read through `source` block by block; file bytes are not read. */
export function readIsoRecords(source: IsoByteReader): IsoRecords {
  if (source.size < 18 * ISO_BLOCK) throw bad(`an image of ${source.size} bytes is too small`)
  const read = (at: number, length: number) => {
    const bytes = source.read(at, length)
    if (bytes.length !== length) throw bad(`cut short at byte ${at + bytes.length}`)
    return bytes
  }
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)
  const pvd = read(16 * ISO_BLOCK, ISO_BLOCK)
  const pv = view(pvd)
  if (pvd[0] !== 1 || text(pvd, 1, 5) !== 'CD001') throw bad('no primary volume descriptor at block 16')
  const volume: IsoVolumeFields = {
    systemId: trimmed(pvd, 8, 32),
    volumeId: trimmed(pvd, 40, 32),
    volumeBlocks: pv.getUint32(80, true),
    pathTableSize: pv.getUint32(132, true),
    lPathTableLba: pv.getUint32(140, true),
    mPathTableLba: pv.getUint32(148, false),
    publisherId: trimmed(pvd, 318, 128),
    preparerId: trimmed(pvd, 446, 128),
    applicationId: trimmed(pvd, 574, 128),
    created: text(pvd, 813, 17).replace(/\0/g, ''),
    modified: text(pvd, 830, 17).replace(/\0/g, ''),
    expires: text(pvd, 847, 17).replace(/\0/g, ''),
    effective: text(pvd, 864, 17).replace(/\0/g, ''),
  }

  let catalog: number | undefined
  for (let lba = 17; (lba + 1) * ISO_BLOCK <= source.size; lba++) {
    const d = read(lba * ISO_BLOCK, ISO_BLOCK)
    if (text(d, 1, 5) !== 'CD001') throw bad(`block ${lba} is not a volume descriptor`)
    if (d[0] === 255) break
    if (d[0] === 0 && text(d, 7, 23) === 'EL TORITO SPECIFICATION') catalog = view(d).getUint32(71, true)
  }
  const bootEntries: IsoBootEntryFields[] = []
  if (catalog !== undefined) {
    if ((catalog + 1) * ISO_BLOCK > source.size) throw bad('the boot catalog lies outside the image')
    const c = read(catalog * ISO_BLOCK, ISO_BLOCK)
    const cv = view(c)
    let platform = c[1]!
    const entry = (at: number): IsoBootEntryFields => ({
      platform,
      bootable: c[at] === 0x88,
      media: c[at + 1]!,
      loadSegment: cv.getUint16(at + 2, true),
      loadSectors: cv.getUint16(at + 6, true),
      lba: cv.getUint32(at + 8, true),
    })
    bootEntries.push(entry(32))
    for (let at = 64; at < ISO_BLOCK && (c[at] === 0x90 || c[at] === 0x91); ) {
      const last = c[at] === 0x91
      platform = c[at + 1]!
      const count = cv.getUint16(at + 2, true)
      for (let i = 0; i < count && at + 32 * (i + 2) <= ISO_BLOCK; i++) bootEntries.push(entry(at + 32 * (i + 1)))
      at += 32 * (count + 1)
      if (last) break
    }
  }

  let mbr: IsoMbrFields | undefined
  const system = read(0, 512)
  if (system[510] === 0x55 && system[511] === 0xaa) {
    const sv = view(system)
    mbr = {
      code: system.subarray(0, 432),
      lba432: sv.getUint32(432, true),
      id: sv.getUint32(440, true),
      partitions: [0, 1, 2, 3].map((i) => ({status: system[446 + 16 * i]!, type: system[450 + 16 * i]!, firstLba: sv.getUint32(454 + 16 * i, true), sectors: sv.getUint32(458 + 16 * i, true)})),
    }
  }

  const entries: IsoRecord[] = []
  const seen = new Set<number>()
  const walk = (lba: number, size: number, prefix: string) => {
    if (seen.has(lba)) throw bad(`directory at block ${lba} is listed twice`)
    seen.add(lba)
    if (lba * ISO_BLOCK + size > source.size) throw bad(`directory ${prefix || '/'} lies outside the image`)
    const dir = read(lba * ISO_BLOCK, size)
    const dv = view(dir)
    let at = 0
    let index = 0
    while (at < dir.length) {
      const len = dir[at]!
      if (len === 0) {
        at = (Math.floor(at / ISO_BLOCK) + 1) * ISO_BLOCK
        continue
      }
      if (len < 34 || at + len > dir.length) throw bad(`a bad directory record in ${prefix || '/'}`)
      const idLen = dir[at + 32]!
      const flags = dir[at + 25]!
      const extent = dv.getUint32(at + 2, true)
      const length = dv.getUint32(at + 10, true)
      if (index >= 2) {
        const path = prefix + text(dir, at + 33, idLen)
        const directory = (flags & 2) !== 0
        if (extent * ISO_BLOCK + length > source.size) throw bad(`${path} lies outside the image`)
        entries.push({path, directory, lba: extent, size: length, time: recordTime(dir.subarray(at + 18, at + 25)), flags})
        if (directory) walk(extent, length, `${path}/`)
      }
      index++
      at += len
    }
  }
  walk(pv.getUint32(156 + 2, true), pv.getUint32(156 + 10, true), '')
  return {volume, bootEntries, mbr, entries}
}
