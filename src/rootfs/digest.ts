// A stage hash for a tree: sha256 of a canonical listing (path, type, mode, owner, time, content or target).
import {createHash} from 'node:crypto'
import {type Tree, sortedPaths} from './tree.js'

export function treeDigest(tree: Tree, sourceDateEpoch: number): string {
  const hash = createHash('sha256')
  const inodeIds = new Map<object, number>()
  for (const path of sortedPaths(tree)) {
    const inode = tree.entries.get(path)!
    let link = inodeIds.get(inode)
    if (link === undefined) inodeIds.set(inode, (link = inodeIds.size))
    const what = (inode.content && `${inode.content.id}+${inode.content.size}`) ?? inode.target ?? (inode.rdev ? `${inode.rdev.major},${inode.rdev.minor}` : '')
    const mode = inode.mode.toString(8).padStart(4, '0')
    hash.update(`/${path}\0${inode.type}\0${mode}\0${inode.uid}:${inode.gid}\0${Math.min(inode.mtime, sourceDateEpoch)}\0${link}\0${what}\n`)
  }
  return hash.digest('hex')
}
