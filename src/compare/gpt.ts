// Two GPT disks: the primary header's fields, each entry's fields, then inside a differing
// partition its content (a FAT32 ESP compared as one, anything else by bytes).
import {ESP_TYPE_GUID, SECTOR_SIZE} from '../formats/gpt.js'
import {type GptEntryFields, readGpt} from '../formats/gpt-reader.js'
import {byteDifference, compareKeyed, type EntryDifference, fieldDifferences, MAX_ENTRY_DIFFERENCES, recordDifferences} from './difference.js'
import {compareFat} from './fat.js'

export function compareGpt(a: Uint8Array, b: Uint8Array): EntryDifference[] {
  const x = readGpt(a)
  const y = readGpt(b)
  const header = recordDifferences('GPT header', x.header, y.header)
  const entries = compareKeyed(
    new Map(x.entries.map((e) => [String(e.index + 1), e] as const)),
    new Map(y.entries.map((e) => [String(e.index + 1), e] as const)),
    (n) => `GPT entry ${n}`,
    (entry, s, t) => [
      ...fieldDifferences(entry, (['name', 'typeGuid', 'uniqueGuid', 'firstLba', 'lastLba', 'attributes'] as const).map((f) => [f, s[f], t[f]] as const)),
      ...partitionDifferences(entry, s, a, t, b),
    ],
  )
  return [...header, ...entries].slice(0, MAX_ENTRY_DIFFERENCES)
}

function partitionDifferences(entry: string, s: GptEntryFields, a: Uint8Array, t: GptEntryFields, b: Uint8Array): EntryDifference[] {
  const slice = (e: GptEntryFields, disk: Uint8Array) => disk.subarray(Number(e.firstLba) * SECTOR_SIZE, (Number(e.lastLba) + 1) * SECTOR_SIZE)
  const x = slice(s, a)
  const y = slice(t, b)
  if (x.length === y.length && Buffer.compare(x, y) === 0) return []
  if (s.typeGuid === ESP_TYPE_GUID && t.typeGuid === ESP_TYPE_GUID)
    return compareFat(x, y).map((d) => ({...d, entry: `${entry} (ESP): ${d.entry}`}))
  return byteDifference(`${entry} content`, x, y)
}
