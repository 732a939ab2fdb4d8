// Path rules for untrusted layer entries. Written down here, applied everywhere (layer.ts, shape.ts):
//  1. Entry names are relative to the image root. A leading "/" or "./" is dropped; "." components are
//     dropped; a ".." component, a NUL byte or an empty name is refused (exit 4): no layer may name a
//     path outside its root, and we do not guess what it meant (go-containerregistry refuses them too).
//  2. Names that would leave the root on Windows are refused as well: a leading "\", a drive letter
//     ("C:..."), or a ".." between backslashes ("..\x"). No Linux package ships such a name, and a tar of
//     our tree may be unpacked elsewhere. Any other backslash is an ordinary byte of a Linux name (systemd
//     unit names carry "\x2d" escapes), so it is kept; only "/" separates components.
//  3. Intermediate components that are symlinks are followed, confined to the root: an absolute target
//     starts again at the image root and ".." never climbs above it (as a chroot would). So `bin/sh`
//     lands in `usr/bin/sh` when `bin -> usr/bin`, and no link can lead outside the tree. Whiteouts
//     resolve their parent directory the same way.
//  4. The last component is never followed: an entry replaces a symlink, it never writes through it.
//     A directory entry over a symlink replaces the symlink; a symlink over a directory replaces the
//     directory and everything below it.
//  5. Missing parents are created (0755 root:root); a non-directory in the way is replaced by a directory.
//     Both whatever a host would do: umoci refuses a layer with an entry below a file (not a directory),
//     and below a setgid directory Linux gives the parents it makes the setgid bit and the group
//     (test/rootfs/differential.test.ts shows both against umoci).
//  6. A hardlink's target names a path in the tree, resolved by rules 3 and 4: a leading "/" starts at
//     the root and ".." is clamped at the root (as containerd and umoci do), and the last component is
//     not followed, so a hardlink to a symlink links the symlink itself. A target that does not exist
//     or is a directory is refused. The target is resolved in the tree as it is before the link replaces
//     anything, even when it is named through the path the link replaces (umoci removes that path first
//     and then cannot find the target).
//  7. Symlink targets are kept exactly as written, even when a relative target climbs above the root:
//     the guest resolves them inside its own root, as the kernel does for "/..". (go-containerregistry's
//     flattener drops such links; umoci keeps them, as we do.)
//  8. The host file system is never written through a layer path: the tree is in memory and file
//     bytes go to content-addressed spool files named by their digest.
import {badInputError} from '../errors.js'
import {ROOT, type Tree} from './tree.js'

const MAX_SYMLINK_HOPS = 40

/** Normalizes a tar entry name to a root-relative path (rules 1 and 2); "" is the root itself. */
export function normalizeEntryName(name: string, where: string): string {
  if (name === '') throw badInputError(`${where}: an entry has an empty name`)
  if (name.includes('\0')) throw badInputError(`${where}: entry "${name}" contains a NUL byte`)
  if (/^[A-Za-z]:/.test(name) || name.startsWith('\\') || name.split(/[/\\]/).includes('..'))
    throw badInputError(`${where}: entry "${name}" contains "..", a drive letter or a leading "\\", which could leave the image root`)
  const parts: string[] = []
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue
    parts.push(part)
  }
  return parts.join('/')
}

/**
 * Resolves a root-relative path to the path it denotes in the tree, following symlinks in every
 * component but the last (rules 3 and 4). Components that do not exist yet are kept as they are.
 */
export function resolveParent(tree: Tree, path: string, where: string): string {
  if (path === ROOT) return ROOT
  const parts = path.split('/')
  const last = parts.pop()!
  const parent = resolveAll(tree, parts, where)
  return parent === ROOT ? last : `${parent}/${last}`
}

/** Resolves every component, the last included (for lookups such as the init). */
export function resolveFully(tree: Tree, path: string, where: string): string {
  return resolveAll(tree, path === ROOT ? [] : path.split('/'), where)
}

/** Resolves a hardlink's target (rule 6): inside the root, ".." clamped, the last component not followed. */
export function resolveLinkTarget(tree: Tree, linkname: string, where: string): string {
  if (linkname.includes('\0')) throw badInputError(`${where}: hardlink target contains a NUL byte`)
  const parts = linkname.split('/').filter((p) => p !== '' && p !== '.')
  const last = parts.at(-1)
  // A target ending in ".." (or naming the root) is a directory: resolve it whole and let the caller refuse it.
  if (last === undefined || last === '..') return resolveAll(tree, parts, where)
  const parent = resolveAll(tree, parts.slice(0, -1), where)
  return parent === ROOT ? last : `${parent}/${last}`
}

function resolveAll(tree: Tree, initial: string[], where: string): string {
  const pending = [...initial]
  const resolved: string[] = []
  let hops = 0
  while (pending.length > 0) {
    const part = pending.shift()!
    if (part === '' || part === '.') continue
    if (part === '..') {
      // Clamped: ".." at the root stays at the root.
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
