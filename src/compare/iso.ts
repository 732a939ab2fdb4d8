// Two ISO 9660 images: the volume descriptor's fields, the El Torito entries, the MBR, then every
// file and directory's record fields and bytes; a differing EFI boot image (the ESP) is compared as FAT.
import {type IsoEntry, readIso} from '../formats/iso9660-reader.js'
import {byteDifference, compareKeyed, type EntryDifference, fieldDifferences, MAX_ENTRY_DIFFERENCES, recordDifferences} from './difference.js'
import {compareFat} from './fat.js'

export function compareIso(a: Uint8Array, b: Uint8Array): EntryDifference[] {
  const x = readIso(a)
  const y = readIso(b)
  const volume = recordDifferences('ISO volume', x.volume, y.volume)
  const boot = compareKeyed(
    new Map(x.bootEntries.map((e, i) => [String(i + 1), e] as const)),
    new Map(y.bootEntries.map((e, i) => [String(i + 1), e] as const)),
    (n) => `El Torito entry ${n}`,
    (entry, s, t) => recordDifferences(entry, s, t),
  )
  const mbr =
    x.mbr && y.mbr
      ? [
          ...byteDifference('MBR boot code', x.mbr.code, y.mbr.code),
          ...fieldDifferences('MBR', [['lba432', x.mbr.lba432, y.mbr.lba432], ['id', x.mbr.id.toString(16), y.mbr.id.toString(16)]]),
          ...x.mbr.partitions.flatMap((p, i) => recordDifferences(`MBR partition ${i + 1}`, p, y.mbr!.partitions[i]!)),
        ]
      : fieldDifferences('MBR', [['present', x.mbr !== undefined, y.mbr !== undefined]])
  const efiLbas = (entries: typeof x.bootEntries) => new Set(entries.filter((e) => e.platform === 0xef).map((e) => e.lba))
  const efi = [efiLbas(x.bootEntries), efiLbas(y.bootEntries)] as const
  const files = compareKeyed(
    new Map(x.entries.map((e) => [e.path, e] as const)),
    new Map(y.entries.map((e) => [e.path, e] as const)),
    (path) => `ISO file ${path}`,
    (entry, s, t) => compareEntry(entry, s, t, efi[0].has(s.lba) && efi[1].has(t.lba)),
  )
  return [...volume, ...boot, ...mbr, ...files].slice(0, MAX_ENTRY_DIFFERENCES)
}

function compareEntry(entry: string, x: IsoEntry, y: IsoEntry, efiImage: boolean): EntryDifference[] {
  const fields = fieldDifferences(entry, [
    ['directory', x.directory, y.directory],
    ['flags', x.flags, y.flags],
    ['time', x.time, y.time],
    ['size', x.size, y.size],
    ['lba', x.lba, y.lba],
  ])
  if (x.directory || x.size !== y.size || Buffer.compare(x.data, y.data) === 0) return fields
  if (efiImage) {
    try {
      return [...fields, ...compareFat(x.data, y.data).map((d) => ({...d, entry: `${entry} (ESP): ${d.entry}`}))]
    } catch {
      // Not a FAT volume after all: its bytes say where.
    }
  }
  return [...fields, ...byteDifference(entry, x.data, y.data)]
}
