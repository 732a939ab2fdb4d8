// The shaped tree as a deterministic tar (the `rootfs` command and the `rootfs-tar` output):
// UTF-8 path order, times clamped to SOURCE_DATE_EPOCH, numeric owners, hardlinks as tar links
// to the first path of their group.
import {type TarEntry, tarSegments} from '../formats/tar.js'
import {type ContentRef, type Inode, type Tree, ROOT, sortedPaths} from '../rootfs/tree.js'
import type {WrittenFile} from '../store/atomic.js'
import {type SinkSegment, writeSegmentsAtomically} from '../store/file-sink.js'
import {coalesce} from '../formats/bytes.js'

export function tarEntriesOf(tree: Tree, sourceDateEpoch: number): TarEntry[] {
  const firstPathOf = new Map<Inode, string>()
  const entries: TarEntry[] = []
  for (const path of sortedPaths(tree)) {
    if (path === ROOT) continue
    const inode = tree.entries.get(path)!
    const base = {name: path, mode: inode.mode & 0o7777, uid: inode.uid, gid: inode.gid, mtime: Math.min(inode.mtime, sourceDateEpoch), size: 0}
    const first = firstPathOf.get(inode)
    if (first !== undefined) {
      entries.push({...base, type: 'hardlink', linkName: first})
      continue
    }
    firstPathOf.set(inode, path)
    switch (inode.type) {
      case 'file': {
        const content = inode.content!
        entries.push({...base, type: 'file', size: content.size, data: {external: content}})
        break
      }
      case 'symlink':
        entries.push({...base, type: 'symlink', linkName: inode.target})
        break
      case 'char':
      case 'block':
        entries.push({...base, type: inode.type, devMajor: inode.rdev?.major ?? 0, devMinor: inode.rdev?.minor ?? 0})
        break
      default:
        entries.push({...base, type: inode.type})
    }
  }
  return entries
}

/** The tar's file content is copied from the spool by a sink worker: the main thread makes only headers. */
export async function writeRootfsTar(tree: Tree, sourceDateEpoch: number, outPath: string): Promise<WrittenFile & {entries: number}> {
  const entries = tarEntriesOf(tree, sourceDateEpoch)
  const segments = async function* (): AsyncGenerator<SinkSegment> {
    for await (const segment of coalesce(tarSegments(entries)))
      yield segment instanceof Uint8Array ? segment : {spool: segment.external as ContentRef}
  }
  const written = await writeSegmentsAtomically(outPath, segments())
  return {...written, entries: entries.length}
}
