// Shape: the profile's dirs, files, symlinks, users and groups; the init, and what the kernel needs
// before init runs; pruning first, so nothing the profile adds is pruned.
// Every profile path goes through the layer rules of paths.ts; a profile path that those rules refuse
// is the profile's mistake (exit 2, at its field), not bad input.
import {readdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {badInputError, isStagexError, profileError} from '../errors.js'
import type {Profile, ProfileGroup, ProfileUser} from '../profile/types.js'
import {openContentReader, type Spool} from '../store/spool.js'
import {normalizeEntryName, resolveFully, resolveParent} from './paths.js'
import {prune, type PruneReport} from './prune.js'
import {compareUtf8, ROOT, type Tree, putInode} from './tree.js'

export interface ShapeReport {
  /** Every file the profile added (a source folder gives one item per file), with its size and sha256. */
  files: {path: string; size: number; sha256: string}[]
  /** Folders the profile added: `dirs:` and the folders of a source folder. */
  dirs: string[]
  symlinks: {path: string; target: string}[]
  users: ProfileUser[]
  groups: ProfileGroup[]
  /** Home folders created because they were missing. */
  homes: string[]
  init?: string
  pruned: PruneReport['removed']
  /** Files whose security.capability was dropped (initramfs.capabilities: drop). */
  droppedCapabilities: string[]
}

const CAPABILITY_XATTR = 'security.capability'

/** The kernel opens /dev/console before it starts init; without it, init's output goes nowhere. */
const CONSOLE = {path: 'dev/console', major: 5, minor: 1, mode: 0o600}

export async function shapeTree(tree: Tree, profile: Profile, spool: Spool): Promise<ShapeReport> {
  const report: ShapeReport = {files: [], dirs: [], symlinks: [], users: [], groups: [], homes: [], pruned: [], droppedCapabilities: []}
  // keep: paths stay (prune.ts); the no-compiler check still reads their content.
  if (profile.prune === 'default') report.pruned = prune(tree, {keep: profile.keep, locateKeep: (i) => profile.locate(['keep', i])}).removed

  for (const [i, dir] of profile.dirs.entries()) {
    const path = profilePath(tree, dir.path, profile, ['dirs', i, 'path'])
    putInode(tree, path, {type: 'dir', mode: dir.mode, uid: dir.uid, gid: dir.gid, mtime: 0})
    report.dirs.push(`/${path}`)
  }

  for (const [i, file] of profile.files.entries()) {
    const path = profilePath(tree, file.path, profile, ['files', i, 'path'])
    const owner = {uid: file.uid, gid: file.gid, mtime: 0}
    if (file.source === undefined) {
      const content = spool.putBytes(Buffer.from(file.contents, 'utf8'))
      putInode(tree, path, {type: 'file', mode: file.mode, ...owner, content})
      report.files.push({path: `/${path}`, size: content.size, sha256: content.id})
      continue
    }
    // Only the bytes come from the host: modes, owners and times are the profile's, so any host gives the same tree.
    for (const item of await sourceItems(file.source, profile.locate(['files', i, 'source']))) {
      const at = item.relative === '' ? path : `${path}/${item.relative}`
      if (item.kind === 'dir') {
        putInode(tree, at, {type: 'dir', mode: file.dirMode, ...owner})
        report.dirs.push(`/${at}`)
      } else {
        const content = spool.putBytes(await readFile(item.host))
        putInode(tree, at, {type: 'file', mode: file.mode, ...owner, content})
        report.files.push({path: `/${at}`, size: content.size, sha256: content.id})
      }
    }
  }

  for (const [i, link] of profile.symlinks.entries()) {
    const path = profilePath(tree, link.path, profile, ['symlinks', i, 'path'])
    // Kept exactly as written (paths.ts rule 7): the guest resolves it inside its own root.
    putInode(tree, path, {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target: link.target})
    report.symlinks.push({path: `/${path}`, target: link.target})
  }

  if (profile.users.length > 0 || profile.groups.length > 0) writeAccounts(tree, profile, spool, report)

  putInode(tree, CONSOLE.path, {type: 'char', mode: CONSOLE.mode, uid: 0, gid: 0, mtime: 0, rdev: {major: CONSOLE.major, minor: CONSOLE.minor}})

  if (profile.init !== undefined) {
    const where = profile.locate(['init'])
    const name = profileName(profile.init, where, 'init')
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

/**
 * A profile path as the tree path it lands on: layer rules (normalizeEntryName, resolveParent), but a
 * refusal is the profile's (exit 2, at the field). The root itself is refused: a file or link there would replace the tree.
 */
function profilePath(tree: Tree, raw: string, profile: Profile, field: (string | number)[]): string {
  const where = profile.locate(field)
  const label = fieldLabel(field)
  const name = profileName(raw, where, label)
  // "//" or "/." normalize to the root.
  if (name === ROOT) throw profileError(`${where}: ${label} "${raw}" names the image root; give a path below it, e.g. /etc/hostname`)
  const path = resolveParent(tree, name, where)
  if (path === ROOT) throw profileError(`${where}: ${label} "${raw}" resolves to the image root`)
  return path
}

const fieldLabel = (field: (string | number)[]) => field.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')

/** normalizeEntryName for a profile's path: the same rule, but its refusal is exit 2, naming the field. */
function profileName(raw: string, where: string, label: string): string {
  try {
    return normalizeEntryName(raw, where)
  } catch (error) {
    if (isStagexError(error) && error.kind === 'bad-input') throw profileError(error.message.replace(/ entry "/, ` ${label} "`))
    throw error
  }
}

interface SourceItem {
  kind: 'dir' | 'file'
  /** Path below the source ("" for the source itself), "/"-separated. */
  relative: string
  host: string
}

const utf8 = new TextDecoder('utf-8', {fatal: true})

/**
 * What a `source:` gives: the file itself, or the folder and everything below it, parents before
 * children and names in UTF-8 byte order (never the host's listing order). Symlinks and special files
 * are refused, all of them named at once: copying a link's target would import host paths silently.
 */
async function sourceItems(source: string, where: string): Promise<SourceItem[]> {
  let top
  try {
    top = await stat(source)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw profileError(`${where}: cannot read source "${source}" (${code === 'ENOENT' ? 'no such file or folder' : code})`)
  }
  if (top.isFile()) return [{kind: 'file', relative: '', host: source}]
  if (!top.isDirectory()) throw profileError(`${where}: source "${source}" is neither a file nor a folder`)

  const items: SourceItem[] = [{kind: 'dir', relative: '', host: source}]
  const refused: string[] = []
  const walk = async (host: string, relative: string) => {
    const entries = await readdir(host, {withFileTypes: true, encoding: 'buffer'})
    const named = entries.map((entry) => {
      let name: string
      try {
        name = utf8.decode(entry.name)
      } catch {
        throw profileError(`${where}: source "${source}" has a name that is not UTF-8 below ${relative || '.'} (bytes ${Buffer.from(entry.name).toString('hex')})`)
      }
      return {entry, name}
    })
    named.sort((a, b) => compareUtf8(a.name, b.name))
    for (const {entry, name} of named) {
      const childHost = join(host, name)
      const childRelative = relative === '' ? name : `${relative}/${name}`
      if (entry.isDirectory()) {
        items.push({kind: 'dir', relative: childRelative, host: childHost})
        await walk(childHost, childRelative)
      } else if (entry.isFile()) items.push({kind: 'file', relative: childRelative, host: childHost})
      else refused.push(`${childHost} (${entry.isSymbolicLink() ? 'a symlink' : 'not a regular file'})`)
    }
  }
  await walk(source, '')
  if (refused.length > 0)
    throw profileError(
      `${where}: source "${source}" holds entries that are not files or folders: ${refused.join(', ')}; ` +
        'give symlinks in the profile\'s symlinks: list instead',
    )
  // Names such as "\x" are refused by the layer rules too; the message names the source.
  for (const item of items) if (item.relative !== '') normalizeSourceName(item.relative, where, source)
  return items
}

function normalizeSourceName(relative: string, where: string, source: string): void {
  try {
    normalizeEntryName(relative, where)
  } catch (error) {
    if (isStagexError(error) && error.kind === 'bad-input') throw profileError(`${error.message} (in source "${source}")`)
    throw error
  }
}

// --- users and groups ---------------------------------------------------------------------------
// /etc/passwd and /etc/group: the image's lines are kept as they are and in their order, then the
// profile's, in profile order. An entry that is already there with the same values is not repeated;
// the same name or id with other values is refused, naming both. A profile group that is already there
// (same name and gid) gets the profile's members added to its member list.
// /etc/shadow: every user in the resulting /etc/passwd without a shadow entry gets a locked one,
// "NAME:!:1::::::" (9 fields as shadow(5), musl and busybox parse them). "!" is no crypt(3) output,
// so no password matches (shadow's and busybox's "passwd -l" mark a lock the same way); last change
// day 1, not 0 (0 asks for a change at the next login) and not today (the bytes would change daily);
// no aging. Mode 0600 root:root, whatever the image had: only root reads it.

interface AccountFile {
  path: string
  lines: string[]
  /** Mode and owner of the file the image had (kept), or the default. */
  meta: {mode: number; uid: number; gid: number}
}

function writeAccounts(tree: Tree, profile: Profile, spool: Spool, report: ShapeReport): void {
  const reader = openContentReader()
  try {
    const passwd = readAccountFile(tree, 'etc/passwd', reader)
    const group = readAccountFile(tree, 'etc/group', reader)

    const passwdAt = (line: number) => `line ${line + 1} of the image's /etc/passwd: "${passwd.lines[line]}"`
    const users = indexLines(passwd.lines)
    for (const [i, user] of profile.users.entries()) {
      const where = profile.locate(['users', i])
      const byName = users.byName.get(user.name)
      const byId = users.byId.get(String(user.uid))
      const line = `${user.name}:x:${user.uid}:${user.gid}::${user.home}:${user.shell}`
      if (byName !== undefined) {
        const f = passwd.lines[byName]!.split(':')
        if (f[2] !== String(user.uid) || f[3] !== String(user.gid) || f[5] !== user.home || f[6] !== user.shell)
          throw profileError(`${where}: user "${user.name}" (${line}) conflicts with ${passwdAt(byName)}: the same name with other values; match them or choose another name`)
      } else if (byId !== undefined) {
        throw profileError(`${where}: user "${user.name}" has uid ${user.uid}, which ${passwdAt(byId)} already has; choose another uid`)
      } else {
        passwd.lines.push(line)
        users.byName.set(user.name, passwd.lines.length - 1)
        users.byId.set(String(user.uid), passwd.lines.length - 1)
      }
      report.users.push(user)
    }

    const groupAt = (line: number) => `line ${line + 1} of the image's /etc/group: "${group.lines[line]}"`
    const groups = indexLines(group.lines)
    for (const [i, g] of profile.groups.entries()) {
      const where = profile.locate(['groups', i])
      for (const [j, member] of g.members.entries())
        if (!users.byName.has(member))
          throw profileError(`${profile.locate(['groups', i, 'members', j])}: group "${g.name}" lists "${member}", who is neither in users: nor in the image's /etc/passwd`)
      const byName = groups.byName.get(g.name)
      const byId = groups.byId.get(String(g.gid))
      if (byName !== undefined) {
        const f = group.lines[byName]!.split(':')
        if (f[2] !== String(g.gid))
          throw profileError(`${where}: group "${g.name}" (gid ${g.gid}) conflicts with ${groupAt(byName)}: the same name with another gid`)
        const members = f[3] === '' ? [] : f[3]!.split(',')
        for (const m of g.members) if (!members.includes(m)) members.push(m)
        group.lines[byName] = [...f.slice(0, 3), members.join(','), ...f.slice(4)].join(':')
      } else if (byId !== undefined) {
        throw profileError(`${where}: group "${g.name}" has gid ${g.gid}, which ${groupAt(byId)} already has; choose another gid`)
      } else {
        group.lines.push(`${g.name}:x:${g.gid}:${g.members.join(',')}`)
        groups.byName.set(g.name, group.lines.length - 1)
        groups.byId.set(String(g.gid), group.lines.length - 1)
      }
      report.groups.push(g)
    }

    // Only the files the profile changes are written again.
    if (profile.users.length > 0) writeAccountFile(tree, passwd, spool)
    if (profile.groups.length > 0) writeAccountFile(tree, group, spool)

    if (profile.users.length > 0) {
      const shadow = readAccountFile(tree, 'etc/shadow', reader)
      const shadowed = indexLines(shadow.lines, false).byName
      for (const [name] of users.byName) {
        const existing = shadowed.get(name)
        // A shadow line for a user the image did not have could carry a password nobody audited.
        if (existing !== undefined && !users.before.has(name))
          throw badInputError(`line ${existing + 1} of the image's /etc/shadow has an entry for "${name}", a user only the profile adds; remove it from the package`)
        if (existing === undefined) shadow.lines.push(`${name}:!:1::::::`)
      }
      shadow.meta = {mode: 0o600, uid: 0, gid: 0}
      writeAccountFile(tree, shadow, spool)
    }

    for (const [i, user] of profile.users.entries()) {
      const where = profile.locate(['users', i, 'home'])
      const name = profileName(user.home, where, `users[${i}].home`)
      const real = resolveFully(tree, name, where)
      // An existing home (a package's, a profile dir) is left as it is; "/" is always there.
      if (real === ROOT || tree.entries.has(real)) continue
      putInode(tree, real, {type: 'dir', mode: 0o700, uid: user.uid, gid: user.gid, mtime: 0})
      report.homes.push(`/${real}`)
    }
  } finally {
    reader.close()
  }
}

/** Line numbers by name (field 1) and by id (field 3; /etc/shadow has none), first occurrence; `before` = the image's names. */
function indexLines(lines: string[], withIds = true) {
  const byName = new Map<string, number>()
  const byId = new Map<string, number>()
  for (const [i, line] of lines.entries()) {
    // Comments and lines of another shape stay as they are; they name nobody.
    if (line.startsWith('#')) continue
    const f = line.split(':')
    if (f.length < 2 || f[0] === '') continue
    if (!byName.has(f[0]!)) byName.set(f[0]!, i)
    if (withIds && f[2] !== undefined && !byId.has(f[2])) byId.set(f[2], i)
  }
  return {byName, byId, before: new Set(byName.keys())}
}

function readAccountFile(tree: Tree, path: string, reader: ReturnType<typeof openContentReader>): AccountFile {
  const real = resolveFully(tree, path, `/${path}`)
  const inode = tree.entries.get(real)
  const meta = {mode: inode?.mode ?? 0o644, uid: inode?.uid ?? 0, gid: inode?.gid ?? 0}
  if (!inode) return {path, lines: [], meta}
  if (inode.type !== 'file') throw badInputError(`/${path} in the image is a ${inode.type}, not a file: cannot add the profile's users and groups`)
  const text = inode.content ? reader.bytes(inode.content).toString('utf8') : ''
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return {path, lines, meta}
}

/** Written as a regular file at the path itself (a symlink there is replaced, never written through). */
function writeAccountFile(tree: Tree, file: AccountFile, spool: Spool): void {
  const content = spool.putBytes(Buffer.from(file.lines.map((l) => `${l}\n`).join(''), 'utf8'))
  const path = resolveParent(tree, file.path, `/${file.path}`)
  putInode(tree, path, {type: 'file', ...file.meta, mtime: 0, content})
}
