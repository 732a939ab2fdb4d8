// Two FAT32 volumes: the boot sector's fields, then every file and folder's directory-entry fields
// (attributes, the create, write and access stamps, size, first cluster) and bytes.
import {type FatEntry, formatFatTime, readFatEntries} from '../formats/fat32-reader.js'
import {byteDifference, compareKeyed, type EntryDifference, fieldDifferences, MAX_ENTRY_DIFFERENCES, recordDifferences} from './difference.js'

export function compareFat(a: Uint8Array, b: Uint8Array): EntryDifference[] {
  const x = readFatEntries(a)
  const y = readFatEntries(b)
  const volume = recordDifferences('FAT volume', x.volume, y.volume)
  const files = compareKeyed(
    new Map(x.entries.map((e) => [e.path, e] as const)),
    new Map(y.entries.map((e) => [e.path, e] as const)),
    (path) => `FAT file ${path}`,
    compareFatEntry,
  )
  return [...volume, ...files].slice(0, MAX_ENTRY_DIFFERENCES)
}

function compareFatEntry(entry: string, x: FatEntry, y: FatEntry): EntryDifference[] {
  const fields = fieldDifferences(entry, [
    ['directory', x.directory, y.directory],
    ['shortName', x.shortName, y.shortName],
    ['attributes', `0x${x.attributes.toString(16)}`, `0x${y.attributes.toString(16)}`],
    ['size', x.size, y.size],
    ['createTime', formatFatTime(x.createDate, x.createTime) + ` +${x.createTimeTenths * 10}ms`, formatFatTime(y.createDate, y.createTime) + ` +${y.createTimeTenths * 10}ms`],
    ['writeTime', formatFatTime(x.writeDate, x.writeTime), formatFatTime(y.writeDate, y.writeTime)],
    ['accessDate', formatFatTime(x.accessDate).slice(0, 10), formatFatTime(y.accessDate).slice(0, 10)],
    ['firstCluster', x.firstCluster, y.firstCluster],
  ])
  return [...fields, ...(x.size === y.size ? byteDifference(entry, x.data, y.data) : [])]
}
