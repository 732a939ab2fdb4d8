// Shape: the profile's own files, the init, and what the kernel needs before init runs; then pruning.
import {badInputError, profileError} from '../errors.js'
import type {Profile} from '../profile/types.js'
import type {Spool} from '../store/spool.js'
import {normalizeEntryName, resolveFully, resolveParent} from './paths.js'
import {prune, type PruneReport} from './prune.js'
import {ROOT, type Tree, putInode} from './tree.js'

export interface ShapeReport {
  files: string[]
  init?: string
  pruned: PruneReport['removed']
  /** Files whose security.capability was dropped (initramfs.capabilities: drop). */
  droppedCapabilities: string[]
}

const CAPABILITY_XATTR = 'security.capability'

/** The kernel opens /dev/console before it starts init; without it, init's output goes nowhere. */
const CONSOLE = {path: 'dev/console', major: 5, minor: 1, mode: 0o600}

export async function shapeTree(tree: Tree, profile: Profile, spool: Spool): Promise<ShapeReport> {
  const report: ShapeReport = {files: [], pruned: [], droppedCapabilities: []}
  if (profile.prune === 'default') report.pruned = prune(tree).removed

  for (const [i, file] of profile.files.entries()) {
    const where = profile.locate(['files', i, 'path'])
    const name = normalizeEntryName(file.path, where)
    // "//" or "/." normalize to the root: a file there would replace the whole tree.
    if (name === ROOT) throw profileError(`${where}: files[${i}].path "${file.path}" names the image root; give a path below it, e.g. /etc/hostname`)
    const path = resolveParent(tree, name, where)
    if (path === ROOT) throw profileError(`${where}: files[${i}].path "${file.path}" resolves to the image root`)
    if (file.source !== undefined) throw profileError(`${profile.locate(['files', i, 'source'])}: files[${i}].source is not supported yet`)
    const content = await spool.putBytes(Buffer.from(file.contents, 'utf8'))
    putInode(tree, path, {type: 'file', mode: file.mode, uid: file.uid, gid: file.gid, mtime: 0, content})
    report.files.push(`/${path}`)
  }

  putInode(tree, CONSOLE.path, {type: 'char', mode: CONSOLE.mode, uid: 0, gid: 0, mtime: 0, rdev: {major: CONSOLE.major, minor: CONSOLE.minor}})

  if (profile.init !== undefined) {
    const where = profile.locate(['init'])
    const name = normalizeEntryName(profile.init, where)
    const real = resolveFully(tree, name, where)
    const inode = tree.entries.get(real)
    if (!inode) throw profileError(`${where}: init "${profile.init}" is not in the image (add a package or a file that provides it)`)
    if (inode.type !== 'file') throw profileError(`${where}: init "${profile.init}" is a ${inode.type}, not a regular file`)
    if ((inode.mode & 0o111) === 0) throw profileError(`${where}: init "${profile.init}" is not executable (give it mode "0755")`)
    // The kernel runs /init from an initramfs; point it at the profile's init.
    if (name !== 'init') putInode(tree, 'init', {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target: `/${name}`})
    report.init = profile.init
  }

  // newc has no room for extended attributes: a capability would be lost silently, so the profile must choose.
  const capabilities = [...tree.entries].filter(([, inode]) => inode.xattrs && CAPABILITY_XATTR in inode.xattrs)
  if (capabilities.length > 0 && profile.initramfs.capabilities === 'drop') {
    for (const [path, inode] of capabilities) {
      delete inode.xattrs![CAPABILITY_XATTR]
      report.droppedCapabilities.push(`/${path}`)
    }
  } else if (capabilities.length > 0)
    throw badInputError(
      `the tree has files with file capabilities (security.capability), which an initramfs (newc cpio) cannot carry: ${capabilities
        .map(([p]) => `/${p}`)
        .join(', ')}; set initramfs.capabilities: drop in the profile to build without them`,
    )
  return report
}
