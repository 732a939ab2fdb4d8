// The in-memory root tree: metadata and references only. File bytes stay in the spool on disk.
// Paths are relative to the root, without a leading slash ("usr/bin/sh"); the root itself is "".
// Hardlinks are paths that share one Inode object.

export type NodeType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo'

/**
 * A file's bytes: `size` bytes at `offset` in the file at `path` (a spool file). `id` names the bytes
 * without reading them: "<layer diffId>@<offset>" for layer content (the diffId was checked, so the
 * range's bytes are fixed by it) or "sha256:<hex>" for the profile's own files. Stage hashes use it;
 * whoever needs a file's sha256 (a listing, a diff) hashes the range.
 */
export interface ContentRef {
  id: string
  size: number
  path: string
  offset: number
}

/** `size` bytes at `offset` inside `content`, as content of its own (for ranged reads). */
export const rangeOf = (content: ContentRef, offset: number, size: number): ContentRef => ({
  id: `${content.id}+${offset}`,
  size,
  path: content.path,
  offset: content.offset + offset,
})

/**
 * Where an inode came from: the package and layer that last set it (for a directory, its metadata),
 * or none for what the tool and the profile add (the shape stage, the root). One object per applied
 * layer is shared by all its entries, so 30,000 entries cost a handful of objects, not 30,000.
 */
export interface Origin {
  package: string
  /** The layer's digest, as the image's manifest names it. */
  layer?: string
}

export interface Inode {
  type: NodeType
  /** Permission bits including setuid, setgid and sticky (mask 0o7777). */
  mode: number
  uid: number
  gid: number
  mtime: number
  content?: ContentRef
  /** Symlink target, exactly as written. */
  target?: string
  rdev?: {major: number; minor: number}
  xattrs?: Record<string, Uint8Array>
  /** Provenance (see Origin); absent for what the shape stage adds. Hardlinks share it with their Inode. */
  origin?: Origin
}

export interface Tree {
  entries: Map<string, Inode>
}

export const ROOT = ''

export function createTree(): Tree {
  return {entries: new Map([[ROOT, {type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0}]])}
}

export const parentOf = (path: string): string => {
  const slash = path.lastIndexOf('/')
  return slash < 0 ? ROOT : path.slice(0, slash)
}

export const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1)

export const isUnder = (path: string, ancestor: string): boolean =>
  ancestor === ROOT ? path !== ROOT : path === ancestor || path.startsWith(`${ancestor}/`)

/** Paths in UTF-8 byte order (a parent always sorts before its children). */
export function sortedPaths(tree: Tree): string[] {
  // Each path is encoded once, not at every comparison.
  return [...tree.entries.keys()]
    .map((path) => ({path, bytes: Buffer.from(path, 'utf8')}))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map((entry) => entry.path)
}

export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** Removes a path and, for a directory, everything below it (never the root itself). */
export function removeSubtree(tree: Tree, path: string): void {
  // Only a directory has anything below it: anything else is one entry, removed without a scan.
  const inode = tree.entries.get(path)
  if (inode && inode.type !== 'dir' && path !== ROOT) {
    tree.entries.delete(path)
    return
  }
  for (const p of [...tree.entries.keys()]) {
    if (p === ROOT) continue
    if (p === path || isUnder(p, path)) tree.entries.delete(p)
  }
}

/** Creates missing parent directories (0755 root:root, as container runtimes do), from `origin` (the entry that needed them). */
export function ensureParents(tree: Tree, path: string, mtime = 0, origin?: Origin): void {
  const parts = path.split('/')
  let current = ROOT
  for (const part of parts.slice(0, -1)) {
    current = current === ROOT ? part : `${current}/${part}`
    const existing = tree.entries.get(current)
    if (existing?.type === 'dir') continue
    if (existing) tree.entries.delete(current)
    const dir: Inode = {type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime}
    if (origin) dir.origin = origin
    tree.entries.set(current, dir)
  }
}

/**
 * Puts an inode at a path. A directory over a directory only updates metadata (children stay);
 * anything else replaces what was there, a whole directory tree included (image-spec).
 */
export function putInode(tree: Tree, path: string, inode: Inode): void {
  const existing = tree.entries.get(path)
  if (existing?.type === 'dir' && inode.type === 'dir') {
    // The directory's metadata now comes from the newer entry, and so does its origin (none: the profile's).
    Object.assign(existing, {mode: inode.mode, uid: inode.uid, gid: inode.gid, mtime: inode.mtime, xattrs: inode.xattrs, origin: inode.origin})
    return
  }
  if (existing) removeSubtree(tree, path)
  ensureParents(tree, path, 0, inode.origin)
  tree.entries.set(path, inode)
}

/** Groups of paths that share an inode (hardlinks), keyed by the inode; singletons included. */
export function linkGroups(tree: Tree): Map<Inode, string[]> {
  const groups = new Map<Inode, string[]>()
  for (const path of sortedPaths(tree)) {
    const inode = tree.entries.get(path)!
    const group = groups.get(inode)
    if (group) group.push(path)
    else groups.set(inode, [path])
  }
  return groups
}
