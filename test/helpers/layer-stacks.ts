// Random layer stacks from fixed seeds, for the differential test against umoci
// (test/rootfs/differential.test.ts). A stack is 1-4 layers of tar entries: files, directories,
// symlinks, hardlinks, FIFOs, device nodes, whiteouts and opaque markers, with replacements of every
// kind by every other, writes through symlinked directories (lib -> usr/lib), PAX owners >= 2^21,
// setuid/setgid/sticky modes and non-ASCII names.
//
// The generator keeps a model of the tree (our own tree and path functions) only to steer towards
// layers that a real image could hold: whiteouts first in each layer, hardlinks to what exists, no
// entry below a file. What the layers then DO is judged by umoci, not by the model.
// Cases outside those bounds (where we differ from umoci on purpose) are hand-written in the test.
import type {TarEntry} from '../../scripts/world/tar.js'
import {resolveFully, resolveParent} from '../../src/rootfs/paths.js'
import {type Inode, type NodeType, ROOT, type Tree, baseName, createTree, parentOf, putInode, removeSubtree} from '../../src/rootfs/tree.js'

/** mulberry32: small, fast and the same on every machine; a seed fixes the whole stack. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Stack {
  seed: number
  layers: TarEntry[][]
}

// A small name space, so that layers collide: the same paths are written, replaced and whited out.
const NAMES = ['a', 'b', 'c', 'lib', 'usr', 'x', 'é', 'sp ace', '日本']
const FILE_MODES = [0o644, 0o644, 0o755, 0o600, 0o444, 0o700, 0o640, 0o4755, 0o2755, 0o6711, 0o1755]
const DIR_MODES = [0o755, 0o755, 0o700, 0o1777, 0o2775, 0o555, 0o750, 0o711]
const IDS = [0, 0, 0, 0, 1000, 65534, 2 ** 21, 3_000_000, 2 ** 31 + 5]
const CONTENTS = ['', 'one\n', 'two\n', '#!/bin/sh\necho hi\n', 'x'.repeat(700), '\u00e9t\u00e9\n']

type Pick = <T>(items: readonly T[]) => T

export function randomStack(seed: number): Stack {
  const random = prng(seed)
  const pick: Pick = (items) => items[Math.floor(random() * items.length)]!
  const chance = (p: number) => random() < p
  const model = createTree()
  const layers: TarEntry[][] = []
  const layerCount = 1 + Math.floor(random() * 4)
  for (let l = 0; l < layerCount; l++) {
    const layer: TarEntry[] = []
    // A base layer that looks like core-filesystem now and then: lib -> usr/lib, bin -> usr/bin.
    if (l === 0 && chance(0.5)) {
      for (const e of skeleton()) addEntry(model, layer, e)
    }
    if (l > 0) {
      const whiteouts = Math.floor(random() * 3)
      for (let i = 0; i < whiteouts; i++) addWhiteout(model, layer, pick, chance)
    }
    const entries = 1 + Math.floor(random() * 8)
    for (let i = 0; i < entries; i++) {
      const entry = randomEntry(model, pick, chance, random)
      if (entry) addEntry(model, layer, entry)
    }
    layers.push(layer)
  }
  return {seed, layers}
}

function skeleton(): TarEntry[] {
  return [
    {type: 'dir', path: 'usr', mode: 0o755},
    {type: 'dir', path: 'usr/lib', mode: 0o755},
    {type: 'dir', path: 'usr/bin', mode: 0o755},
    {type: 'symlink', path: 'lib', target: 'usr/lib'},
    {type: 'symlink', path: 'bin', target: 'usr/bin'},
    {type: 'symlink', path: 'usr/lib64', target: 'lib'},
    {type: 'file', path: 'usr/lib/libc.so', data: 'libc\n', mode: 0o755},
  ]
}

/** Paths of the model (not the root), in a fixed order so that picks are reproducible. */
const pathsOf = (model: Tree, keep: (inode: Inode) => boolean = () => true) =>
  [...model.entries].filter(([p, inode]) => p !== ROOT && keep(inode)).map(([p]) => p).sort()

/** A symlink whose full resolution is `dir`, to reach it through (as "lib/x" reaches usr/lib/x). */
function aliasOf(model: Tree, dir: string): string | undefined {
  for (const p of pathsOf(model, (i) => i.type === 'symlink')) {
    try {
      if (resolveFully(model, p, 'model') === dir) return p
    } catch {
      // A loop: not an alias of anything.
    }
  }
  return undefined
}

function addWhiteout(model: Tree, layer: TarEntry[], pick: Pick, chance: (p: number) => boolean): void {
  const dirs = [ROOT, ...pathsOf(model, (i) => i.type === 'dir')]
  if (chance(0.25)) {
    // Opaque: a directory's lower children go, the directory stays.
    const dir = pick(dirs)
    if (dir === ROOT && !chance(0.3)) return
    const alias = dir !== ROOT && chance(0.5) ? aliasOf(model, dir) : undefined
    layer.push({type: 'file', path: `${alias ?? (dir === ROOT ? '.' : dir)}/.wh..wh..opq`, data: ''})
    for (const p of [...model.entries.keys()]) if (p !== ROOT && (dir === ROOT || p.startsWith(`${dir}/`))) model.entries.delete(p)
    return
  }
  const existing = pathsOf(model)
  // Mostly something that exists; sometimes a name that does not (a no-op that must create nothing).
  const someDir = pick(dirs)
  const target = existing.length > 0 && chance(0.8) ? pick(existing) : `${someDir === ROOT ? '' : `${someDir}/`}${pick(NAMES)}`
  const dir = parentOf(target)
  if (dir !== ROOT && model.entries.get(dir)?.type !== 'dir') return
  const alias = dir !== ROOT && chance(0.5) ? aliasOf(model, dir) : undefined
  const written = alias ?? dir
  layer.push({type: 'file', path: `${written === ROOT ? '' : `${written}/`}.wh.${baseName(target)}`, data: ''})
  if (model.entries.has(target)) removeSubtree(model, target)
}

function randomOwner(pick: Pick): {uid: number; gid: number; pax?: Record<string, string>} {
  const uid = pick(IDS)
  const gid = pick(IDS)
  // tar-stream's ustar fields hold 7 octal digits: larger owners go in PAX records only, as GNU tar writes them.
  const pax: Record<string, string> = {}
  if (uid >= 2 ** 21) pax.uid = String(uid)
  if (gid >= 2 ** 21) pax.gid = String(gid)
  return {uid, gid, ...(Object.keys(pax).length > 0 ? {pax} : {})}
}

/** A name for a new entry: an existing path (a replacement), a child of a directory, or a path through a symlink. */
function randomName(model: Tree, pick: Pick, chance: (p: number) => boolean): string {
  const existing = pathsOf(model)
  const r = Math.floor(chance(0.5) ? 0 : chance(0.5) ? 1 : 2)
  if (r === 0 && existing.length > 0) return pick(existing)
  if (r === 1) {
    const links = pathsOf(model, (i) => i.type === 'symlink')
    if (links.length > 0) return `${pick(links)}/${pick(NAMES)}`
  }
  const dirs = pathsOf(model, (i) => i.type === 'dir')
  const base = dirs.length > 0 && chance(0.6) ? `${pick(dirs)}/` : ''
  return `${base}${pick(NAMES)}${chance(0.2) ? `/${pick(NAMES)}` : ''}`
}

function randomEntry(model: Tree, pick: Pick, chance: (p: number) => boolean, random: () => number): TarEntry | undefined {
  const kind = pick(['file', 'file', 'file', 'dir', 'dir', 'symlink', 'symlink', 'hardlink', 'hardlink', 'fifo', 'char', 'root'] as const)
  const owner = randomOwner(pick)
  // Names as layers write them: mostly bare, sometimes "./x" or "/x" (both mean x).
  const spell = (name: string) => (chance(0.1) ? `./${name}` : chance(0.05) ? `/${name}` : name)
  if (kind === 'root') return {type: 'dir', path: './', mode: pick(DIR_MODES), ...owner}
  const name = randomName(model, pick, chance)
  switch (kind) {
    case 'file': {
      const data = pick(CONTENTS) + (chance(0.5) ? String(Math.floor(random() * 1000)) : '')
      return {type: 'file', path: spell(name), data, mode: pick(FILE_MODES), ...owner}
    }
    case 'dir':
      return {type: 'dir', path: spell(name), mode: pick(DIR_MODES), ...owner}
    case 'symlink': {
      const existing = pathsOf(model)
      const target = pick([
        'usr/lib',
        '/usr/lib',
        '../usr/lib',
        '../../../etc',
        'nowhere',
        existing.length > 0 ? pick(existing) : 'a',
        existing.length > 0 ? `/${pick(existing)}` : '/a',
        pick(NAMES),
      ])
      return {type: 'symlink', path: spell(name), target, mode: chance(0.9) ? 0o777 : 0o755, ...owner}
    }
    case 'hardlink': {
      // To a file, FIFO or symlink that exists now (a link to a symlink links the symlink itself).
      const targets = pathsOf(model, (i) => i.type === 'file' || i.type === 'fifo' || (i.type === 'symlink' && chance(0.3)))
      if (targets.length === 0) return undefined
      const target = pick(targets)
      const dir = parentOf(target)
      const alias = dir !== ROOT && chance(0.3) ? aliasOf(model, dir) : undefined
      const linkName = alias ? `${alias}/${baseName(target)}` : chance(0.2) ? `/${target}` : target
      return {type: 'hardlink', path: spell(name), target: linkName, ...owner}
    }
    case 'fifo':
      return {type: 'fifo', path: spell(name), mode: pick([0o644, 0o600]), ...owner}
    case 'char':
      return {type: 'char', path: spell(name), major: 1, minor: 3, mode: 0o666}
  }
}

/**
 * Adds an entry when a real layer could hold it here (resolvable, not the root, not below a file,
 * a hardlink not to itself or its own ancestor), and updates the model as applying it would.
 */
function addEntry(model: Tree, layer: TarEntry[], entry: TarEntry): void {
  const bare = entry.path.replace(/^\.?\/+/, '').replace(/\/+$/, '')
  if (bare === '' || bare === '.') {
    if (entry.type !== 'dir') return
    putInode(model, ROOT, {type: 'dir', mode: entry.mode ?? 0o755, uid: entry.uid ?? 0, gid: entry.gid ?? 0, mtime: 0})
    layer.push(entry)
    return
  }
  let path: string
  try {
    path = resolveParent(model, bare, 'model')
  } catch {
    return // a symlink loop: umoci and we both refuse it, which says nothing
  }
  if (path === ROOT) return
  // Below a file: umoci cannot make the parent (ENOTDIR), we replace the file (paths.ts rule 5): a hand-written case.
  for (let p = parentOf(path); p !== ROOT; p = parentOf(p)) {
    const inode = model.entries.get(p)
    if (inode && inode.type !== 'dir') return
  }
  // A parent made below a setgid directory: Linux gives umoci's the setgid bit and the directory's group,
  // ours are 0755 root:root whatever the host does (paths.ts rule 5): a hand-written case.
  for (let p = parentOf(path), made = false; ; p = parentOf(p)) {
    const inode = model.entries.get(p)
    if (!inode) made = true
    else if (made && inode.type === 'dir' && (inode.mode & 0o2000) !== 0) return
    else if (inode) break
    if (p === ROOT) break
  }
  // The same path twice in one layer (an archive no tool writes): tar order decides, as it does for us.
  if (layer.some((e) => e.path.replace(/^\.?\/+/, '').replace(/\/+$/, '') === bare)) return
  const base = {mode: entry.mode ?? 0o644, uid: entry.uid ?? 0, gid: entry.gid ?? 0, mtime: 0}
  switch (entry.type) {
    case 'file':
    case 'dir':
    case 'fifo':
      putInode(model, path, {type: entry.type as NodeType, ...base})
      break
    case 'symlink':
      putInode(model, path, {type: 'symlink', ...base, target: entry.target})
      break
    case 'hardlink': {
      let source: string
      try {
        source = resolveParent(model, entry.target.replace(/^\/+/, ''), 'model')
      } catch {
        return
      }
      const target = model.entries.get(source)
      if (!target || target.type === 'dir' || source === path || source.startsWith(`${path}/`)) return
      // A link whose target is named through the path it replaces ("usr/lib64" => "usr/lib64/libc.so",
      // usr/lib64 a symlink): umoci clobbers the path before it resolves the target and fails (ENOENT);
      // we resolve the target in the tree as it was. No writer makes such a layer.
      const parts = entry.target.replace(/^\/+/, '').split('/')
      for (let i = 1; i < parts.length; i++) if (resolveParent(model, parts.slice(0, i).join('/'), 'model') === path) return
      putInode(model, path, target)
      break
    }
    case 'char':
    case 'block':
      // We drop the node and make no parent for it, umoci makes both: a hand-written case covers missing parents.
      for (let p = parentOf(path); p !== ROOT; p = parentOf(p)) if (!model.entries.has(p)) return
      // Kept in the model so that nothing is put below it (umoci's node is in the way there).
      putInode(model, path, {type: entry.type, ...base})
      break
  }
  layer.push(entry)
}

/** The stack as a person reads it, one entry a line: what a failing seed prints. */
export function describeStack(stack: Stack): string {
  const lines = [`seed ${stack.seed}: ${stack.layers.length} layer(s)`]
  for (const [i, layer] of stack.layers.entries()) {
    lines.push(`  layer ${i}:`)
    for (const e of layer) {
      const owner = `${e.uid ?? 0}:${e.gid ?? 0}`
      const mode = e.mode === undefined ? '' : ` ${e.mode.toString(8).padStart(4, '0')}`
      const what =
        e.type === 'symlink' ? ` -> ${e.target}` : e.type === 'hardlink' ? ` => ${e.target}` : e.type === 'file' ? ` ${JSON.stringify(String(e.data).slice(0, 24))}` : e.type === 'char' || e.type === 'block' ? ` ${e.major},${e.minor}` : ''
      lines.push(`    ${e.type.padEnd(8)} ${JSON.stringify(e.path)}${mode} ${owner}${what}`)
    }
  }
  return lines.join('\n')
}
