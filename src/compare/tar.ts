// Two tar archives, member by member: type, mode, owner, size, bytes, mtime, link target.
import {createHash} from 'node:crypto'
import {type TarHeader, TarReader} from '../formats/tar-reader.js'
import {compareKeyed, type EntryDifference, fieldDifferences} from './difference.js'

interface TarMember {
  header: TarHeader
  sha256: string
}

function tarMembers(bytes: Uint8Array): Map<string, TarMember> {
  const members = new Map<string, TarMember>()
  let current: {header: TarHeader; hash: ReturnType<typeof createHash>} | undefined
  const reader = new TarReader({
    entry: (header) => (current = {header, hash: createHash('sha256')}),
    data: (chunk) => current!.hash.update(chunk),
    end: () => {
      members.set(Buffer.from(current!.header.name).toString('utf8'), {header: current!.header, sha256: current!.hash.digest('hex')})
    },
  })
  reader.push(bytes)
  reader.finish()
  return members
}

export function compareTar(a: Uint8Array, b: Uint8Array): EntryDifference[] {
  return compareKeyed(tarMembers(a), tarMembers(b), (name) => `tar member ${name}`, (entry, x, y) =>
    fieldDifferences(entry, [
      ['type', x.header.type, y.header.type],
      ['mode', `0${x.header.mode.toString(8)}`, `0${y.header.mode.toString(8)}`],
      ['owner', `${x.header.uid}:${x.header.gid}`, `${y.header.uid}:${y.header.gid}`],
      ['size', x.header.size, y.header.size],
      ['bytes', `sha256 ${x.sha256}`, `sha256 ${y.sha256}`],
      ['mtime', x.header.mtime, y.header.mtime],
      ['link', Buffer.from(x.header.linkName).toString('utf8'), Buffer.from(y.header.linkName).toString('utf8')],
    ]),
  )
}
