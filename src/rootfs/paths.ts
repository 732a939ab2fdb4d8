// Path rules for untrusted layer entries. Written down here, applied everywhere:
//  1. Entry names are relative to the image root. A leading "/" or "./" is dropped; "." components are
//     dropped; a ".." component, a NUL byte or an empty name is refused (exit 4): no layer may name a
//     path outside its root, and we do not guess what it meant.
//  2. Intermediate components that are symlinks are followed, confined to the root: an absolute target
//     starts again at the image root and ".." never climbs above it (as a chroot would). So `bin/sh`
//     lands in `usr/bin/sh` when `bin -> usr/bin`, and no link can lead outside the tree.
//  3. The last component is never followed: an entry replaces a symlink, it never writes through it.
//  4. Symlink targets are kept exactly as written; they are resolved by the guest, inside its root.
//  5. The host file system is never written through a layer path: the tree is in memory and file
//     bytes go to content-addressed spool files named by their digest.
import {badInputError} from '../errors.js'
import {ROOT, type Tree} from './tree.js'

const MAX_SYMLINK_HOPS = 40

/** Normalizes a tar entry name to a root-relative path, refusing names that try to leave the root. */
export function normalizeEntryName(name: string, where: string): string {
  if (name.includes('\0')) throw badInputError(`${where}: entry name contains a NUL byte`)
  const parts: string[] = []
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') throw badInputError(`${where}: entry "${name}" contains "..", which could leave the image root`)
    parts.push(part)
  }
  return parts.join('/')
}

/**
 * Resolves a root-relative path to the path it denotes in the tree, following symlinks in every
 * component but the last (rule 2). Components that do not exist yet are kept as they are.
 */
export function resolveParent(tree: Tree, path: string, where: string): string {
  if (path === ROOT) return ROOT
  const parts = path.split('/')
  const last = parts.pop()!
  const parent = resolveAll(tree, parts, where)
  return parent === ROOT ? last : `${parent}/${last}`
}

/** Resolves every component, the last included (for hardlink sources and lookups). */
export function resolveFully(tree: Tree, path: string, where: string): string {
  return resolveAll(tree, path === ROOT ? [] : path.split('/'), where)
}

function resolveAll(tree: Tree, initial: string[], where: string): string {
  const pending = [...initial]
  const resolved: string[] = []
  let hops = 0
  while (pending.length > 0) {
    const part = pending.shift()!
    if (part === '' || part === '.') continue
    if (part === '..') {
      resolved.pop()
      continue
    }
    const candidate = [...resolved, part].join('/')
    const inode = tree.entries.get(candidate)
    if (inode?.type === 'symlink') {
      if (++hops > MAX_SYMLINK_HOPS) throw badInputError(`${where}: too many levels of symbolic links at "${candidate}"`)
      const target = inode.target ?? ''
      if (target.startsWith('/')) resolved.length = 0
      pending.unshift(...target.split('/'))
      continue
    }
    resolved.push(part)
  }
  return resolved.join('/')
}
