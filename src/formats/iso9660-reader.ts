// A small ISO 9660 reader, for comparing two images: the primary volume descriptor's fields, the
// El Torito catalog's entries, the MBR, and every file and directory with its record and bytes.
// Pure: bytes in, records out. Reads what iso9660.ts writes (and plain ECMA-119 images).
import {StagexError} from '../errors.js'

const BLOCK = 2048

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

export interface IsoEntry {
  /** "ISOLINUX/ISOLINUX.BIN;1" as stored. */
  path: string
  directory: boolean
  lba: number
  size: number
  /** The 7-byte recording time as "1970-01-01T00:00:01 +0". */
  time: string
  flags: number
  data: Uint8Array
}

const bad = (message: string) => new StagexError('bad-input', `ISO 9660: ${message}`)
const text = (b: Uint8Array, at: number, n: number) => Buffer.from(b.subarray(at, at + n)).toString('latin1')
const trimmed = (b: Uint8Array, at: number, n: number) => text(b, at, n).replace(/[ \0]+$/, '')

function recordTime(t: Uint8Array): string {
  const two = (n: number) => String(n).padStart(2, '0')
  return `${1900 + t[0]!}-${two(t[1]!)}-${two(t[2]!)}T${two(t[3]!)}:${two(t[4]!)}:${two(t[5]!)} ${t[6]! >= 128 ? t[6]! - 256 : t[6]!}`
}

export function readIso(image: Uint8Array): {volume: IsoVolumeFields; bootEntries: IsoBootEntryFields[]; mbr?: IsoMbrFields; entries: IsoEntry[]} {
  if (image.length < 18 * BLOCK) throw bad(`an image of ${image.length} bytes is too small`)
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength)
  const pvd = image.subarray(16 * BLOCK, 17 * BLOCK)
  if (pvd[0] !== 1 || text(pvd, 1, 5) !== 'CD001') throw bad('no primary volume descriptor at block 16')
  const p = 16 * BLOCK
  const volume: IsoVolumeFields = {
    systemId: trimmed(pvd, 8, 32),
    volumeId: trimmed(pvd, 40, 32),
    volumeBlocks: v.getUint32(p + 80, true),
    pathTableSize: v.getUint32(p + 132, true),
    lPathTableLba: v.getUint32(p + 140, true),
    mPathTableLba: v.getUint32(p + 148, false),
    publisherId: trimmed(pvd, 318, 128),
    preparerId: trimmed(pvd, 446, 128),
    applicationId: trimmed(pvd, 574, 128),
    created: text(pvd, 813, 17).replace(/\0/g, ''),
    modified: text(pvd, 830, 17).replace(/\0/g, ''),
    expires: text(pvd, 847, 17).replace(/\0/g, ''),
    effective: text(pvd, 864, 17).replace(/\0/g, ''),
  }

  let catalog: number | undefined
  for (let lba = 17; (lba + 1) * BLOCK <= image.length; lba++) {
    const d = image.subarray(lba * BLOCK, (lba + 1) * BLOCK)
    if (text(d, 1, 5) !== 'CD001') throw bad(`block ${lba} is not a volume descriptor`)
    if (d[0] === 255) break
    if (d[0] === 0 && text(d, 7, 23) === 'EL TORITO SPECIFICATION') catalog = v.getUint32(lba * BLOCK + 71, true)
  }
  const bootEntries: IsoBootEntryFields[] = []
  if (catalog !== undefined) {
    if ((catalog + 1) * BLOCK > image.length) throw bad('the boot catalog lies outside the image')
    const c = catalog * BLOCK
    let platform = image[c + 1]!
    const entry = (at: number): IsoBootEntryFields => ({
      platform,
      bootable: image[at] === 0x88,
      media: image[at + 1]!,
      loadSegment: v.getUint16(at + 2, true),
      loadSectors: v.getUint16(at + 6, true),
      lba: v.getUint32(at + 8, true),
    })
    bootEntries.push(entry(c + 32))
    for (let at = c + 64; at < c + BLOCK && (image[at] === 0x90 || image[at] === 0x91); ) {
      const last = image[at] === 0x91
      platform = image[at + 1]!
      const count = v.getUint16(at + 2, true)
      for (let i = 0; i < count; i++) bootEntries.push(entry(at + 32 * (i + 1)))
      at += 32 * (count + 1)
      if (last) break
    }
  }

  let mbr: IsoMbrFields | undefined
  if (image[510] === 0x55 && image[511] === 0xaa) {
    mbr = {
      code: image.subarray(0, 432),
      lba432: v.getUint32(432, true),
      id: v.getUint32(440, true),
      partitions: [0, 1, 2, 3].map((i) => ({status: image[446 + 16 * i]!, type: image[450 + 16 * i]!, firstLba: v.getUint32(454 + 16 * i, true), sectors: v.getUint32(458 + 16 * i, true)})),
    }
  }

  const entries: IsoEntry[] = []
  const seen = new Set<number>()
  const walk = (lba: number, size: number, prefix: string) => {
    if (seen.has(lba)) throw bad(`directory at block ${lba} is listed twice`)
    seen.add(lba)
    if (lba * BLOCK + size > image.length) throw bad(`directory ${prefix || '/'} lies outside the image`)
    const dir = image.subarray(lba * BLOCK, lba * BLOCK + size)
    let at = 0
    let index = 0
    while (at < dir.length) {
      const len = dir[at]!
      if (len === 0) {
        at = (Math.floor(at / BLOCK) + 1) * BLOCK
        continue
      }
      if (len < 34 || at + len > dir.length) throw bad(`a bad directory record in ${prefix || '/'}`)
      const base = lba * BLOCK + at
      const idLen = dir[at + 32]!
      const flags = dir[at + 25]!
      const extent = v.getUint32(base + 2, true)
      const length = v.getUint32(base + 10, true)
      if (index >= 2) {
        const path = prefix + text(dir, at + 33, idLen)
        const directory = (flags & 2) !== 0
        if (extent * BLOCK + length > image.length) throw bad(`${path} lies outside the image`)
        entries.push({path, directory, lba: extent, size: length, time: recordTime(dir.subarray(at + 18, at + 25)), flags, data: directory ? new Uint8Array() : image.subarray(extent * BLOCK, extent * BLOCK + length)})
        if (directory) walk(extent, length, `${path}/`)
      }
      index++
      at += len
    }
  }
  const root = p + 156
  walk(v.getUint32(root + 2, true), v.getUint32(root + 10, true), '')
  return {volume, bootEntries, mbr, entries}
}
