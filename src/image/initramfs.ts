// Initramfs: the tree as a newc cpio (sorted, inodes numbered in order, real nlink, clamped times),
// compressed with the pinned gzip or not at all. Writes to a temp file and renames it into place.
import {createHash} from 'node:crypto'
import {type CpioEntry, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, writeNewc} from '../formats/cpio.js'
import {GZIP_BLOCKS_METHOD, gzipParallel} from './parallel-gzip.js'
import {type Inode, type NodeType, type Tree, ROOT, linkGroups, parentOf, sortedPaths} from '../rootfs/tree.js'
import {writeFileAtomically} from '../store/atomic.js'
import {type ContentReader, openContentReader} from '../store/spool.js'
import {coalesce} from '../formats/bytes.js'

const typeBits: Record<NodeType, number> = {
  file: S_IFREG,
  dir: S_IFDIR,
  symlink: S_IFLNK,
  char: S_IFCHR,
  block: S_IFBLK,
  fifo: S_IFIFO,
}

/** The cpio records of a tree, in UTF-8 path order. The root itself is not archived. */
export function cpioEntriesOf(tree: Tree, sourceDateEpoch: number, reader: ContentReader): CpioEntry[] {
  const paths = sortedPaths(tree).filter((p) => p !== ROOT)
  const groups = linkGroups(tree)
  const subdirs = new Map<string, number>()
  for (const p of paths) if (tree.entries.get(p)!.type === 'dir') subdirs.set(parentOf(p), (subdirs.get(parentOf(p)) ?? 0) + 1)

  const inoOf = new Map<Inode, number>()
  let nextIno = 1
  return paths.map((path) => {
    const inode = tree.entries.get(path)!
    let ino = inoOf.get(inode)
    if (ino === undefined) {
      ino = nextIno++
      inoOf.set(inode, ino)
    }
    const group = groups.get(inode)!
    const nlink = inode.type === 'dir' ? 2 + (subdirs.get(path) ?? 0) : group.length
    const carriesData = group[group.length - 1] === path
    const entry: CpioEntry = {
      name: path,
      mode: typeBits[inode.type] | (inode.mode & 0o7777),
      uid: inode.uid,
      gid: inode.gid,
      nlink,
      mtime: Math.min(inode.mtime, sourceDateEpoch),
      ino,
      size: 0,
    }
    if (inode.type === 'file' && carriesData && inode.content) {
      const content = inode.content
      entry.size = content.size
      entry.data = () => reader.chunks(content)
    } else if (inode.type === 'symlink') {
      const target = Buffer.from(inode.target ?? '', 'utf8')
      entry.size = target.length
      entry.data = target
    }
    if (inode.rdev) {
      entry.rdevMajor = inode.rdev.major
      entry.rdevMinor = inode.rdev.minor
    }
    return entry
  })
}

export interface InitramfsResult {
  path: string
  size: number
  sha256: string
  /** sha256 of the cpio before compression (DESIGN.md: the record keeps both). */
  uncompressedSha256: string
  uncompressedSize: number
  /** How the cpio was compressed: 'none', or the gzip method's name (build.json records it). */
  compression: string
  entries: number
}

export async function writeInitramfs(
  tree: Tree,
  sourceDateEpoch: number,
  compression: 'gzip' | 'none',
  reader: ContentReader,
  outPath: string,
): Promise<InitramfsResult> {
  // gzip copies every chunk into its blocks at once, so file content can be read into one buffer
  // again and again (and needs no coalescing); written as it is, each chunk must be a buffer of its own.
  const gzip = compression === 'gzip'
  const contentReader = gzip ? openContentReader({transientChunks: true}) : reader
  const entries = cpioEntriesOf(tree, sourceDateEpoch, contentReader)
  const rawHash = createHash('sha256')
  let rawSize = 0
  async function* hashed(chunks: AsyncIterable<Uint8Array>) {
    for await (const chunk of chunks) {
      rawHash.update(chunk)
      rawSize += chunk.length
      yield chunk
    }
  }
  let written
  try {
    // Blocks compressed on every core; the bytes do not depend on how many (src/formats/gzip.ts).
    const bytes = gzip ? gzipParallel(hashed(writeNewc(entries)), {level: 9}) : hashed(coalesce(writeNewc(entries)))
    written = await writeFileAtomically(outPath, bytes)
  } finally {
    if (contentReader !== reader) contentReader.close()
  }
  const {size, sha256} = written
  return {
    path: outPath,
    size,
    sha256,
    uncompressedSha256: rawHash.digest('hex'),
    uncompressedSize: rawSize,
    compression: compression === 'gzip' ? GZIP_BLOCKS_METHOD : 'none',
    entries: entries.length,
  }
}
