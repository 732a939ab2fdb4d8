// Two newc archives, member by member: mode, owner, size, bytes, then the other header fields.
import {readNewc, type CpioRecord} from '../formats/cpio.js'
import {byteDifference, compareKeyed, type EntryDifference, fieldDifferences} from './difference.js'

const octal = (n: number) => `0${n.toString(8)}`

export function compareCpio(a: Uint8Array, b: Uint8Array): EntryDifference[] {
  const members = (bytes: Uint8Array) => new Map(readNewc(bytes).map((r) => [r.name, r] as const))
  return compareKeyed(members(a), members(b), (name) => `cpio member ${name}`, compareMember)
}

function compareMember(entry: string, x: CpioRecord, y: CpioRecord): EntryDifference[] {
  const header = fieldDifferences(entry, [
    ['mode', octal(x.mode), octal(y.mode)],
    ['owner', `${x.uid}:${x.gid}`, `${y.uid}:${y.gid}`],
    ['size', x.size, y.size],
  ])
  const bytes = x.size === y.size ? byteDifference(entry, x.data, y.data) : []
  const rest = fieldDifferences(entry, [
    ['mtime', x.mtime, y.mtime],
    ['nlink', x.nlink, y.nlink],
    ['ino', x.ino, y.ino],
    ['rdev', `${x.rdevMajor}:${x.rdevMinor}`, `${y.rdevMajor}:${y.rdevMinor}`],
  ])
  return [...header, ...bytes, ...rest]
}
