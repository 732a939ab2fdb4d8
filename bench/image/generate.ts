// A synthetic StageX-like image for the data-path benchmark (bench/image.ts): an OCI image layout
// (index.json -> image index -> manifest, as StageX publishes) with 4 gzip layers, over 20,000 files
// and over 500 MB of file content, made from a seed.
//
//   node --import tsx bench/image/generate.ts [--seed S] [--force] [--verify]
//
// What is deterministic: the uncompressed tar of every layer (so the diff_ids) depends only on the
// seed and GENERATOR_VERSION, on any machine: contents come from our own PRNG (content.ts), entries
// are written by tar-stream (pinned in package-lock) with fixed times and owners. The gzip bytes (so
// the layer digests) come from the host's `gzip -n -6` (node:zlib when there is none) and may differ
// between machines and gzip versions; nothing here depends on them. `--verify` rebuilds the tars
// without compressing and checks their sha256 against the diff_ids recorded at generation.
//
// Shape, as in a real root file system: ~40% of the bytes text-like (compresses 3-5x), ~35% ELF-like
// (~2x), ~25% already compressed (~1x); log-normal file sizes (mostly small files, a few of 10-50 MB);
// usr/bin, usr/lib, usr/libexec, usr/include, usr/share/{doc,man,locale,...}, etc. Layer 1 is the
// base (StageX's core-filesystem links: bin, sbin, lib, lib64 -> usr/...; usr/lib64 -> /usr/lib).
// Layers 2-4 add packages and change lower ones: whiteouts of files and directories, opaque
// directories, files replaced by symlinks and directories by files (with and without a whiteout),
// symlinks by files, a file by a directory, upgraded files, hardlinks within a layer, and entries
// written through the symlinked directories (lib/x lands in usr/lib/x).
//
// The result is cached in .cache/bench/image/v<version>-<seed>/ (.cache is git-ignored) and made only
// when missing; paths.txt there lists every path of the flattened tree as this generator expects it
// (the bench checks both tools against it), image.json the figures.
import {spawn, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createWriteStream, existsSync} from 'node:fs'
import {mkdir, readFile, rename, rm, symlink, readlink, writeFile, lstat} from 'node:fs/promises'
import {dirname, join, relative, resolve} from 'node:path'
import {once} from 'node:events'
import {Transform, type Readable, type Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {createGzip} from 'node:zlib'
import tarStream from 'tar-stream'
import {FIXTURE_CREATED, MEDIA, REF_NAME_ANNOTATION, blobPath, writeBlob, type Descriptor} from '../../scripts/world/oci-layout.js'
import {comparePaths} from '../../scripts/world/tar.js'
import {type ContentKind, Rng, WORDS, fileContent} from './content.js'

/** Bump when anything changes the generated tars: it is part of the cache key. */
export const GENERATOR_VERSION = 1
export const DEFAULT_SEED = 'stagex-bench-1'
/** The package name the profiles use for the synthetic image. */
export const IMAGE_PACKAGE = 'bench-rootfs'
export const IMAGE_REF = 'latest'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
export const CACHE_DIR = join(REPO, '.cache', 'bench', 'image')

/** File content in the layers; whiteouts and replacements take ~2% off in the flattened tree. */
const LAYER_CONTENT_BYTES = 567e6
/** Regular files of the packages, spread over the layers (a few hundred are removed by later layers). */
const BULK_FILES = 21_600
/** Byte shares of the three kinds of content. */
const KIND_SHARE: Record<ContentKind, number> = {text: 0.4, elf: 0.35, packed: 0.25}
/** Byte shares of the layers: a big base and smaller layers above it. */
const LAYER_SHARE = [0.56, 0.24, 0.14, 0.06]
const MTIME = 1_700_000_000

// ---------------------------------------------------------------------------------------------
// The plan: every layer's entries, made while a model of the flattened tree follows along (so that
// later layers can change what is below them, and so that we know the expected result).

type Entry =
  | {type: 'dir'; path: string; mode: number; uid: number; gid: number}
  | {type: 'file'; path: string; mode: number; uid: number; gid: number; kind: ContentKind; size: number; id: number}
  | {type: 'symlink'; path: string; target: string}
  | {type: 'hardlink'; path: string; target: string}
  /** `path` is the full whiteout name: DIR/.wh.NAME, or DIR/.wh..wh..opq for an opaque directory. */
  | {type: 'whiteout'; path: string}

interface Node {
  type: 'dir' | 'file' | 'symlink'
  size: number
  /** Content id (hardlinks share it): bytes are counted once per id. */
  id: number
  target?: string
  layer: number
  kind?: ContentKind
}

/** The flattened tree as OCI whiteout semantics make it (paths root-relative, symlinks followed in parents). */
class Model {
  readonly nodes = new Map<string, Node>()

  /** Follows symlinks in every component but the last, confined to the root (src/rootfs/paths.ts rule 3). */
  resolveParent(path: string): string {
    const parts = path.split('/')
    const last = parts.pop()!
    const parent = this.resolveAll(parts)
    return parent === '' ? last : `${parent}/${last}`
  }

  /** Follows symlinks in every component, the last included. */
  resolveFully(path: string): string {
    return this.resolveAll(path === '' ? [] : path.split('/'))
  }

  private resolveAll(initial: string[]): string {
    const pending = [...initial]
    const resolved: string[] = []
    for (let hops = 0; pending.length > 0; ) {
      const part = pending.shift()!
      if (part === '' || part === '.') continue
      if (part === '..') {
        resolved.pop()
        continue
      }
      const node = this.nodes.get([...resolved, part].join('/'))
      if (node?.type === 'symlink') {
        if (++hops > 40) throw new Error(`symlink loop at ${[...resolved, part].join('/')}`)
        if (node.target!.startsWith('/')) resolved.length = 0
        pending.unshift(...node.target!.split('/'))
        continue
      }
      resolved.push(part)
    }
    return resolved.join('/')
  }

  removeTree(path: string): void {
    const node = this.nodes.get(path)
    if (!node) return
    this.nodes.delete(path)
    // Only a directory has anything below it (put() keeps the tree whole).
    if (node.type !== 'dir') return
    const prefix = `${path}/`
    for (const key of this.nodes.keys()) if (key.startsWith(prefix)) this.nodes.delete(key)
  }

  /** A planning bug shows here, not as a quiet difference between tools: every node needs a directory above it. */
  private put(path: string, node: Node): void {
    const slash = path.lastIndexOf('/')
    if (slash > 0 && this.nodes.get(path.slice(0, slash))?.type !== 'dir') throw new Error(`plan: ${path} has no directory above it`)
    this.nodes.set(path, node)
  }

  /** Applies one layer: whiteouts first (they only see lower layers), then the entries in order. */
  apply(entries: Entry[], layer: number): void {
    for (const e of entries) {
      if (e.type !== 'whiteout') continue
      const slash = e.path.lastIndexOf('/')
      const dir = slash < 0 ? '' : this.resolveFully(e.path.slice(0, slash))
      const name = e.path.slice(slash + 1)
      if (name === '.wh..wh..opq') {
        const prefix = dir === '' ? '' : `${dir}/`
        for (const key of [...this.nodes.keys()]) if (key.startsWith(prefix) && key !== dir) this.nodes.delete(key)
      } else this.removeTree(dir === '' ? name.slice(4) : `${dir}/${name.slice(4)}`)
    }
    for (const e of entries) {
      if (e.type === 'whiteout') continue
      const path = this.resolveParent(e.path)
      const old = this.nodes.get(path)
      if (e.type === 'dir') {
        if (old?.type === 'dir') continue
        this.removeTree(path)
        this.put(path, {type: 'dir', size: 0, id: -1, layer})
        continue
      }
      if (e.type === 'hardlink') {
        const target = this.nodes.get(this.resolveParent(e.target))
        if (target?.type !== 'file') throw new Error(`plan: hardlink ${e.path} to ${e.target}, which is not a file`)
        this.removeTree(path)
        this.put(path, {...target, layer})
        continue
      }
      this.removeTree(path)
      if (e.type === 'file') this.put(path, {type: 'file', size: e.size, id: e.id, layer, kind: e.kind})
      else this.put(path, {type: 'symlink', size: 0, id: -1, target: e.target, layer})
    }
  }
}

/** One layer being planned: entries by the name written in the tar, hardlinks kept apart (they go last). */
class LayerPlan {
  readonly entries = new Map<string, Entry>()
  readonly hardlinks: Entry[] = []
  /** Paths (canonical) this layer writes or removes, and every directory above them: later edits keep out. */
  private readonly takenPaths = new Set<string>()
  private readonly takenAbove = new Set<string>()
  constructor(readonly index: number) {}

  take(path: string): void {
    this.takenPaths.add(path)
    for (let i = path.indexOf('/'); i > 0; i = path.indexOf('/', i + 1)) this.takenAbove.add(path.slice(0, i))
  }

  add(e: Entry): void {
    if (e.type === 'hardlink') this.hardlinks.push(e)
    else this.entries.set(e.path, e)
  }

  /** The path, something above it or something below it is taken. */
  isTaken(path: string): boolean {
    if (this.takenAbove.has(path)) return true
    for (let i = path.length; i > 0; i = path.lastIndexOf('/', i - 1)) if (this.takenPaths.has(path.slice(0, i))) return true
    return false
  }

  /**
   * The tar's entries: every parent directory that is not a symlink below (tools write them, and a
   * whited-out parent must come back), sorted by path bytes, hardlinks after their targets at the end.
   */
  finish(model: Model): Entry[] {
    const out = new Map(this.entries)
    for (const e of [...this.entries.values(), ...this.hardlinks]) {
      const parts = e.path.split('/')
      for (let i = 1; i < parts.length; i++) {
        const prefix = parts.slice(0, i).join('/')
        if (out.has(prefix)) continue
        // A prefix that resolves to a symlink below is passed through, never replaced by a directory.
        if (model.nodes.get(model.resolveParent(prefix))?.type === 'symlink') continue
        out.set(prefix, {type: 'dir', path: prefix, mode: 0o755, uid: 0, gid: 0})
      }
    }
    return [...[...out.values()].sort((a, b) => comparePaths(a.path, b.path)), ...this.hardlinks]
  }
}

interface Package {
  name: string
  layer: number
  subs: string[]
  uid: number
  gid: number
  files: {size: number; kind: ContentKind}[]
}

const NAME_WORDS = WORDS.filter((w) => w.length >= 4)
/** Folders every package writes into: never whited out or replaced whole. */
const SHARED = new Set(['doc', 'man', 'locale', 'icu', 'hwdata', 'dict', 'fonts', 'assets', 'firmware', 'links', 'conf.d'])
const LANGS = ['de', 'fr', 'es', 'it', 'ja', 'ko', 'pt_BR', 'ru', 'zh_CN', 'nl', 'pl', 'sv', 'cs', 'tr', 'uk']

interface Plan {
  layers: Entry[][]
  model: Model
}

/** Every layer's entries, from the seed alone. */
export function planImage(seed: string): Plan {
  const rng = new Rng(seed, 'plan')
  let nextId = 0
  const canonical = new Set<string>()
  /** A free canonical path: on a clash, "-N" before the extension. */
  const claim = (path: string): string => {
    let p = path
    for (let n = 2; canonical.has(p); n++) {
      const slash = p.lastIndexOf('/')
      const dot = path.indexOf('.', path.lastIndexOf('/') + 1)
      p = dot > slash + 1 ? `${path.slice(0, dot)}-${n}${path.slice(dot)}` : `${path}-${n}`
    }
    canonical.add(p)
    return p
  }
  const word = () => rng.pick(NAME_WORDS)

  // Packages: names, file counts (log-normal: a few big ones, many small), sizes, kinds.
  const packages: Package[] = []
  const names = new Set<string>()
  while (packages.length < 180) {
    const name = rng.int(3) === 0 ? `lib${word()}` : rng.int(2) ? `${word()}${word()}` : `${word()}-${word()}`
    if (names.has(name)) continue
    names.add(name)
    const subs = Array.from({length: 1 + rng.int(6)}, word)
    const owned = rng.int(20) === 0
    packages.push({name, layer: 0, subs: [...new Set(subs)], uid: owned ? 100 + rng.int(50) : 0, gid: owned ? 100 + rng.int(50) : 0, files: []})
  }
  const weights = packages.map(() => Math.exp(rng.normal() * 1.1))
  const weightSum = weights.reduce((a, b) => a + b, 0)
  const counts = weights.map((w) => Math.max(3, Math.round((w / weightSum) * BULK_FILES)))

  // The big files, as real images have them (LLVM, ICU data, firmware, hwdata, node, ...).
  const big: {path: string; kind: ContentKind; mb: number; layer: number; mode?: number}[] = [
    {path: 'usr/lib/libLLVM.so.19.1', kind: 'elf', mb: 47, layer: 1},
    {path: 'usr/share/icu/76.1/icudt76l.dat', kind: 'elf', mb: 31, layer: 1},
    {path: 'usr/lib/firmware/gpu/navi31_gc.bin.xz', kind: 'packed', mb: 26, layer: 1},
    {path: 'usr/share/hwdata/pci.ids', kind: 'text', mb: 14, layer: 1},
    {path: 'usr/lib/locale/locale-archive', kind: 'elf', mb: 12, layer: 1},
    {path: 'usr/bin/node', kind: 'elf', mb: 42, layer: 2, mode: 0o755},
    {path: 'usr/share/dict/words', kind: 'text', mb: 11, layer: 2},
    {path: 'usr/share/assets/bundle.tar.zst', kind: 'packed', mb: 18, layer: 3},
  ]
  const bigBytes = big.reduce((n, b) => n + b.mb * 1_000_000, 0)

  // Sizes: log-normal (median ~3.5 KB), 1.5% empty, scaled so the layers hold LAYER_CONTENT_BYTES.
  const raw = counts.map((n) => Array.from({length: n}, () => (rng.int(1000) < 15 ? 0 : Math.min(6e6, Math.exp(Math.log(3500) + 1.9 * rng.normal())))))
  const rawSum = raw.flat().reduce((a, b) => a + b, 0)
  const scale = (LAYER_CONTENT_BYTES - bigBytes) / rawSum
  // Kinds: each file takes the kind furthest below its byte share so far (the shares hold whatever the sizes).
  const kindBytes: Record<ContentKind, number> = {text: 0, elf: 0, packed: 0}
  for (const b of big) kindBytes[b.kind] += b.mb * 1_000_000
  let kindTotal = bigBytes
  packages.forEach((pkg, i) => {
    for (const r of raw[i]!) {
      const size = Math.min(8e6, Math.floor(r * scale))
      kindTotal += size
      let kind: ContentKind = 'text'
      let deficit = -Infinity
      for (const k of ['text', 'elf', 'packed'] as const) {
        const d = KIND_SHARE[k] * kindTotal - kindBytes[k]
        if (d > deficit) [kind, deficit] = [k, d]
      }
      kindBytes[kind] += size
      pkg.files.push({size, kind})
    }
  })
  // Layers: each package goes to the layer furthest below its byte share (big files count where they are).
  const layerBytes = [0, 0, 0, 0]
  for (const b of big) layerBytes[b.layer - 1]! += b.mb * 1_000_000
  let layerTotal = bigBytes
  for (const pkg of packages) {
    const bytes = pkg.files.reduce((n, f) => n + f.size, 0)
    layerTotal += bytes
    let best = 0
    for (let l = 1; l < 4; l++) if (LAYER_SHARE[l]! * layerTotal - layerBytes[l]! > LAYER_SHARE[best]! * layerTotal - layerBytes[best]!) best = l
    layerBytes[best]! += bytes
    pkg.layer = best + 1
  }

  const model = new Model()
  const layers: Entry[][] = []
  const fileEntry = (path: string, kind: ContentKind, size: number, mode = 0o644, uid = 0, gid = 0): Entry => ({
    type: 'file',
    path,
    mode,
    uid,
    gid,
    kind,
    size,
    id: nextId++,
  })

  /** Where a package file of this kind lives; returns the canonical path and its mode. Adds .so links. */
  const place = (layer: LayerPlan, pkg: Package, kind: ContentKind): {path: string; mode: number; claimed?: boolean} => {
    const sub = () => rng.pick(pkg.subs)
    const n = pkg.name
    const r = rng.int(100)
    if (kind === 'text') {
      if (r < 35) return {path: `usr/share/${n}/${sub()}/${rng.int(3) ? '' : `${sub()}/`}${word()}.${rng.pick(['txt', 'json', 'xml', 'html', 'css', 'js', 'svg', 'conf', 'desktop'])}`, mode: 0o644}
      if (r < 55) return {path: `usr/lib/${n}/${sub()}/${word()}.${rng.pick(['py', 'pm', 'rb', 'lua'])}`, mode: 0o644}
      if (r < 65) return {path: `usr/share/doc/${n}/${rng.pick(['README', 'NEWS', 'AUTHORS', 'TODO', `${word()}.md`, `${word()}.rst`])}`, mode: 0o644}
      if (r < 80) return {path: `usr/include/${n}/${rng.int(2) ? `${sub()}/` : ''}${word()}.h`, mode: 0o644}
      if (r < 88) return {path: `etc/${n}/${rng.int(2) ? 'conf.d/' : ''}${word()}.conf`, mode: rng.int(10) ? 0o644 : 0o600}
      if (r < 98) return {path: `usr/share/${n}/locale/${rng.pick(LANGS)}/${word()}.po`, mode: 0o644}
      // Deep trees: names beyond tar's 100 bytes (ustar prefix or PAX).
      const deep = Array.from({length: 6 + rng.int(4)}, word).join('/')
      return {path: `usr/share/${n}/${deep}/${word()}_${word()}_${word()}.txt`, mode: 0o644}
    }
    if (kind === 'elf') {
      if (r < 18) return {path: `usr/bin/${rng.int(3) ? `${n}-${word()}` : n}`, mode: rng.int(200) ? 0o755 : 0o4755}
      if (r < 43) {
        const base = `lib${n.replace(/^lib/, '')}${rng.int(2) ? `-${word()}` : ''}`
        const major = rng.int(20)
        const path = claim(`usr/lib/${base}.so.${major}.${rng.int(30)}.${rng.int(10)}`)
        const file = path.slice('usr/lib/'.length)
        // The usual chain, relative: libX.so -> libX.so.M -> libX.so.M.m.p.
        const soname = `usr/lib/${base}.so.${major}`
        if (!canonical.has(soname)) {
          canonical.add(soname)
          layer.add({type: 'symlink', path: soname, target: file})
          if (!canonical.has(`usr/lib/${base}.so`)) {
            canonical.add(`usr/lib/${base}.so`)
            layer.add({type: 'symlink', path: `usr/lib/${base}.so`, target: `${base}.so.${major}`})
          }
        }
        return {path, mode: 0o755, claimed: true}
      }
      if (r < 68) return {path: `usr/lib/${n}/${sub()}/${word()}.so`, mode: 0o755}
      if (r < 78) return {path: `usr/libexec/${n}/${word()}`, mode: 0o755}
      if (r < 90) return {path: `usr/share/locale/${rng.pick(LANGS)}/LC_MESSAGES/${n}.mo`, mode: 0o644}
      return {path: `usr/lib/${n}/${sub()}/__pycache__/${word()}.cpython-312.pyc`, mode: 0o644}
    }
    if (r < 35) {
      const section = 1 + rng.int(8)
      return {path: `usr/share/man/man${section}/${rng.int(2) ? n : `${n}-${word()}`}.${section}.gz`, mode: 0o644}
    }
    if (r < 60) {
      const px = rng.pick([16, 22, 24, 32, 48, 64, 128, 256])
      return {path: `usr/share/${n}/icons/hicolor/${px}x${px}/apps/${word()}.png`, mode: 0o644}
    }
    if (r < 70) return {path: `usr/share/doc/${n}/${rng.pick(['changelog', 'NEWS', 'ChangeLog'])}.${word()}.gz`, mode: 0o644}
    if (r < 80) return {path: `usr/lib/firmware/${n}/${word()}.bin.xz`, mode: 0o644}
    if (r < 90) return {path: `usr/share/fonts/${n}/${word()}.woff2`, mode: 0o644}
    return {path: `usr/share/${n}/${word()}.${rng.pick(['zst', 'jar', 'zip'])}`, mode: 0o644}
  }

  /** Writes through a symlinked directory now and then (lib/x -> usr/lib/x), as packages do. */
  const written = (path: string, through: boolean): string => {
    if (!through) return path
    if (path.startsWith('usr/lib/') && rng.int(4) === 0) return rng.int(3) ? `lib/${path.slice(8)}` : `usr/lib64/${path.slice(8)}`
    if (path.startsWith('usr/bin/') && rng.int(4) === 0) return `bin/${path.slice(8)}`
    return path
  }

  /** The layer's packages and big files, and hardlinks between some of its files. */
  const addPackages = (layer: LayerPlan, through: boolean) => {
    const linkable: {canonical: string; written: string}[] = []
    for (const pkg of packages.filter((p) => p.layer === layer.index)) {
      for (const f of pkg.files) {
        const spot = place(layer, pkg, f.kind)
        const path = spot.claimed ? spot.path : claim(spot.path)
        const name = written(path, through)
        layer.add(fileEntry(name, f.kind, f.size, spot.mode, pkg.uid, pkg.gid))
        if (f.kind === 'elf' && rng.int(60) === 0) linkable.push({canonical: path, written: name})
        else if (f.kind === 'text' && rng.int(300) === 0) linkable.push({canonical: path, written: name})
      }
    }
    for (const b of big.filter((x) => x.layer === layer.index)) layer.add(fileEntry(claim(b.path), b.kind, b.mb * 1_000_000, b.mode ?? 0o644))
    // Hardlinks within the layer, to the target's name as written in this layer (tar order: at the end).
    for (const l of linkable) {
      const slash = l.canonical.lastIndexOf('/')
      const at = rng.int(3) ? l.canonical.slice(0, slash) : 'usr/libexec/links'
      const path = claim(`${at}/${l.canonical.slice(slash + 1)}-${word()}`)
      layer.add({type: 'hardlink', path, target: l.written})
    }
  }

  /** Lower-layer nodes matching a filter, in a seeded order (Map order is insertion order: deterministic). */
  const lower = (layer: LayerPlan, filter: (path: string, node: Node) => boolean): string[] => {
    const found = [...model.nodes].filter(([p, n]) => !layer.isTaken(p) && filter(p, n)).map(([p]) => p)
    for (let i = found.length - 1; i > 0; i--) {
      const j = rng.int(i + 1)
      ;[found[i], found[j]] = [found[j]!, found[i]!]
    }
    return found
  }
  const smallFile = (n: Node) => n.type === 'file' && n.size < 8e6
  const finish = (layer: LayerPlan) => {
    const entries = layer.finish(model)
    model.apply(entries, layer.index)
    layers.push(entries)
  }
  /** Whiteouts of `count` lower paths (files or directories). */
  const whiteouts = (layer: LayerPlan, paths: string[]) => {
    for (const p of paths) {
      const slash = p.lastIndexOf('/')
      layer.add({type: 'whiteout', path: `${p.slice(0, slash + 1)}.wh.${p.slice(slash + 1)}`})
      layer.take(p)
    }
  }
  /** Lower files overwritten with new content (a package upgrade). */
  const upgrades = (layer: LayerPlan, count: number) => {
    for (const p of lower(layer, (_, n) => smallFile(n)).slice(0, count)) {
      const node = model.nodes.get(p)!
      layer.add(fileEntry(p, node.kind!, Math.floor(node.size * (0.7 + rng.float() * 0.6)), 0o644))
      layer.take(p)
    }
  }
  /** A package's own folder right below `parent` (usr/share/NAME, usr/lib/NAME, etc/NAME), not a shared one. */
  const packageDir = (p: string, n: Node, parent: string) =>
    n.type === 'dir' && p.startsWith(parent) && p.split('/').length === parent.split('/').length && !SHARED.has(p.slice(p.lastIndexOf('/') + 1))
  const hasFiles = (dir: string) => {
    for (const [p, n] of model.nodes) if (n.type === 'file' && p.startsWith(`${dir}/`)) return true
    return false
  }

  // Layer 1: the skeleton (StageX's core-filesystem shape), then its packages.
  const l1 = new LayerPlan(1)
  for (const [path, mode, uid] of [
    ['dev', 0o755, 0], ['proc', 0o555, 0], ['sys', 0o555, 0], ['run', 0o755, 0], ['tmp', 0o1777, 0], ['root', 0o700, 0],
    ['home', 0o755, 0], ['home/user', 0o750, 1000], ['etc', 0o755, 0], ['usr', 0o755, 0], ['usr/bin', 0o755, 0], ['usr/lib', 0o755, 0],
    ['usr/libexec', 0o755, 0], ['usr/share', 0o755, 0], ['usr/include', 0o755, 0], ['var', 0o755, 0], ['var/lib', 0o755, 0],
    ['var/log', 0o755, 0], ['var/cache', 0o755, 0], ['var/tmp', 0o1777, 0], ['opt', 0o755, 0], ['mnt', 0o755, 0], ['srv', 0o755, 0],
  ] as const) {
    canonical.add(path)
    l1.add({type: 'dir', path, mode, uid, gid: uid})
  }
  for (const [path, target] of [
    ['bin', 'usr/bin'], ['sbin', 'usr/bin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib'], ['usr/sbin', 'bin'],
    ['usr/lib64', '/usr/lib'], ['var/run', '/run'], ['etc/mtab', '/proc/self/mounts'],
  ] as const) {
    canonical.add(path)
    l1.add({type: 'symlink', path, target})
  }
  for (const [path, size, mode] of [['etc/passwd', 900, 0o644], ['etc/group', 500, 0o644], ['etc/shadow', 400, 0o600], ['etc/os-release', 300, 0o644], ['etc/hostname', 10, 0o644]] as const)
    l1.add(fileEntry(claim(path), 'text', size, mode))
  addPackages(l1, false)
  l1.add({type: 'symlink', path: claim('usr/lib/libLLVM.so'), target: 'libLLVM.so.19.1'})
  finish(l1)

  // Layer 2: packages (some written through bin/, lib/ and usr/lib64/), and changes to layer 1.
  const l2 = new LayerPlan(2)
  addPackages(l2, true)
  for (const e of [...l2.entries.values(), ...l2.hardlinks]) l2.take(model.resolveParent(e.path))
  // Whole directories: some packages' docs, one package's share folder.
  const docDirs = lower(l2, (p, n) => packageDir(p, n, 'usr/share/doc/') && hasFiles(p)).slice(0, 6)
  whiteouts(l2, docDirs)
  whiteouts(l2, lower(l2, (p, n) => packageDir(p, n, 'usr/share/') && hasFiles(p)).slice(0, 1))
  // Directories replaced by files: three plainly, two with a whiteout of the directory in the same layer.
  const subDirs = lower(l2, (p, n) => n.type === 'dir' && p.startsWith('usr/share/') && p.split('/').length === 4 && !/\/(doc|man|locale|icons)\b/.test(p) && hasFiles(p)).slice(0, 5)
  subDirs.forEach((p, i) => {
    if (i >= 3) whiteouts(l2, [p])
    l2.add(fileEntry(p, 'text', 2000 + rng.int(20000)))
    l2.take(p)
  })
  // Files replaced by symlinks (relative or absolute) to other programs.
  const programs = lower(l2, (p, n) => p.startsWith('usr/bin/') && smallFile(n))
  for (const p of programs.slice(0, 30)) {
    const other = programs[30 + rng.int(programs.length - 30)]!.slice('usr/bin/'.length)
    l2.add({type: 'symlink', path: p, target: rng.int(2) ? other : `/usr/bin/${other}`})
    l2.take(p)
  }
  upgrades(l2, 60)
  whiteouts(l2, lower(l2, (_, n) => smallFile(n)).slice(0, 120))
  finish(l2)

  // Layer 3: packages, opaque directories, symlinks replaced by files, a directory by a symlink.
  const l3 = new LayerPlan(3)
  addPackages(l3, true)
  for (const e of [...l3.entries.values(), ...l3.hardlinks]) l3.take(model.resolveParent(e.path))
  for (const dir of lower(l3, (p, n) => packageDir(p, n, 'usr/share/') && hasFiles(p)).slice(0, 3)) {
    l3.add({type: 'whiteout', path: `${dir}/.wh..wh..opq`})
    l3.take(dir)
    const count = 5 + rng.int(15)
    for (let i = 0; i < count; i++) l3.add(fileEntry(claim(`${dir}/${word()}.${rng.pick(['txt', 'json'])}`), rng.int(3) ? 'text' : 'packed', rng.int(40000)))
  }
  whiteouts(l3, lower(l3, (p, n) => packageDir(p, n, 'usr/lib/') && n.layer <= 2 && hasFiles(p)).slice(0, 3))
  // Development links replaced by linker scripts (as libc.so is one).
  for (const p of lower(l3, (p, n) => n.type === 'symlink' && /^usr\/lib\/lib[^/]*\.so$/.test(p) && p !== 'usr/lib/libLLVM.so').slice(0, 2)) {
    l3.add(fileEntry(p, 'text', 200 + rng.int(300)))
    l3.take(p)
  }
  for (const p of lower(l3, (p, n) => n.type === 'dir' && p.startsWith('usr/share/') && p.split('/').length === 4 && !/\/(doc|man|locale|icons)\b/.test(p)).slice(0, 1)) {
    l3.add({type: 'symlink', path: p, target: '/usr/share/doc'})
    l3.take(p)
  }
  upgrades(l3, 40)
  whiteouts(l3, lower(l3, (_, n) => smallFile(n) && n.layer === 2).slice(0, 40))
  whiteouts(l3, lower(l3, (_, n) => smallFile(n)).slice(0, 20))
  finish(l3)

  // Layer 4: the appliance's own configuration, a few removals, a file turned into a directory.
  const l4 = new LayerPlan(4)
  addPackages(l4, true)
  for (const e of [...l4.entries.values(), ...l4.hardlinks]) l4.take(model.resolveParent(e.path))
  l4.add(fileEntry('etc/hostname', 'text', 12))
  l4.take('etc/hostname')
  l4.add(fileEntry(claim('etc/motd'), 'text', 700))
  for (const p of lower(l4, (p, n) => smallFile(n) && p.startsWith('usr/share/') && n.kind === 'text').slice(0, 1)) {
    l4.add({type: 'dir', path: p, mode: 0o755, uid: 0, gid: 0})
    for (let i = 0; i < 3; i++) l4.add(fileEntry(claim(`${p}/${word()}.txt`), 'text', 100 + rng.int(5000)))
    l4.take(p)
  }
  for (const dir of lower(l4, (p, n) => packageDir(p, n, 'etc/') && hasFiles(p)).slice(0, 1)) {
    l4.add({type: 'whiteout', path: `${dir}/.wh..wh..opq`})
    l4.add(fileEntry(claim(`${dir}/local.conf`), 'text', 400))
    l4.take(dir)
  }
  whiteouts(l4, lower(l4, (_, n) => smallFile(n)).slice(0, 20))
  finish(l4)
  return {layers, model}
}

// ---------------------------------------------------------------------------------------------
// Writing: one tar-stream pack per layer, hashed on the way into gzip, the gzip output hashed on
// its way into a temp file that is renamed to its digest.

export interface LayerFigures {
  digest: string
  size: number
  diffId: string
  tarSize: number
  entries: number
  files: number
  bytes: number
}

export interface ImageFigures {
  generator: number
  seed: string
  /** Flattened tree as the generator's model has it: regular files (hardlinks counted per path), ... */
  files: number
  dirs: number
  symlinks: number
  hardlinkPaths: number
  /** Every path of the flattened tree, the root excluded. */
  paths: number
  /** File content in the flattened tree, each hardlinked file once. */
  bytes: number
  kinds: Record<ContentKind, number>
  layers: LayerFigures[]
  compressedBytes: number
  tarBytes: number
  compressor: string
  generationSeconds: number
  manifestDigest: string
}

/** Streams one layer's tar to `sink` (chunk by chunk, with backpressure); returns the sha256 and size of the tar. */
async function packLayer(seed: string, entries: Entry[], sink: Writable | null): Promise<{diffId: string; tarSize: number}> {
  const pack = tarStream.pack()
  const hash = createHash('sha256')
  let tarSize = 0
  const feeding = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) {
      hash.update(chunk)
      tarSize += chunk.length
      if (sink && !sink.write(chunk)) await once(sink, 'drain')
    }
    sink?.end()
  })()
  for (const e of entries) {
    const header: Partial<tarStream.Header> & {name: string} = {name: e.path, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(MTIME * 1000)}
    let data: Buffer | undefined
    switch (e.type) {
      case 'dir':
        Object.assign(header, {name: `${e.path}/`, type: 'directory', mode: e.mode, uid: e.uid, gid: e.gid})
        break
      case 'file':
        Object.assign(header, {type: 'file', mode: e.mode, uid: e.uid, gid: e.gid, mtime: new Date((MTIME + (e.id % 86400)) * 1000)})
        data = fileContent(seed, e.id, e.kind, e.size)
        break
      case 'whiteout':
        header.type = 'file'
        data = Buffer.alloc(0)
        break
      case 'symlink':
        Object.assign(header, {type: 'symlink', mode: 0o777, linkname: e.target})
        break
      case 'hardlink':
        Object.assign(header, {type: 'link', linkname: e.target})
        break
    }
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res())
      if (data) pack.entry(header, data, cb)
      else pack.entry(header, cb)
    })
  }
  pack.finalize()
  await feeding
  return {diffId: `sha256:${hash.digest('hex')}`, tarSize}
}

let gzipOnHost: boolean | undefined
function hostGzip(): boolean {
  gzipOnHost ??= spawnSync('gzip', ['--version'], {stdio: 'ignore'}).status === 0
  return gzipOnHost
}

/** A compressor: the host's gzip -n -6 in its own process (so layers compress in parallel), or node:zlib. */
function compressor(): {input: Writable; output: Readable; done: Promise<void>} {
  if (hostGzip()) {
    const child = spawn('gzip', ['-n', '-6'], {stdio: ['pipe', 'pipe', 'inherit']})
    const done = new Promise<void>((res, rej) => {
      child.on('error', rej)
      child.on('close', (code) => (code === 0 ? res() : rej(new Error(`gzip exited ${code}`))))
    })
    return {input: child.stdin, output: child.stdout, done}
  }
  const gz = createGzip({level: 6})
  return {input: gz, output: gz, done: Promise.resolve()}
}

async function writeLayer(dir: string, seed: string, entries: Entry[], n: number): Promise<LayerFigures> {
  const gz = compressor()
  const tmp = join(dir, 'blobs', 'sha256', `.layer-${n}.tmp`)
  const hash = createHash('sha256')
  let size = 0
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk)
      size += chunk.length
      cb(null, chunk)
    },
  })
  const draining = pipeline(gz.output, tap, createWriteStream(tmp))
  const {diffId, tarSize} = await packLayer(seed, entries, gz.input)
  await Promise.all([draining, gz.done])
  const digest = `sha256:${hash.digest('hex')}`
  await rename(tmp, blobPath(dir, digest))
  const files = entries.filter((e) => e.type === 'file')
  return {digest, size, diffId, tarSize, entries: entries.length, files: files.length, bytes: files.reduce((b, e) => b + (e.type === 'file' ? e.size : 0), 0)}
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8')

/** The layout's documents, shaped as StageX's: index.json -> image index (linux/amd64) -> manifest. */
async function writeDocuments(dir: string, layers: LayerFigures[]): Promise<string> {
  const platform = {architecture: 'amd64', os: 'linux'}
  const config = await writeBlob(
    dir,
    json({...platform, config: {}, created: FIXTURE_CREATED, rootfs: {type: 'layers', diff_ids: layers.map((l) => l.diffId)}}),
    MEDIA.oci.config,
  )
  const layerDescs: Descriptor[] = layers.map((l) => ({mediaType: MEDIA.oci.layerGzip, digest: l.digest, size: l.size}))
  const manifest = await writeBlob(dir, json({schemaVersion: 2, mediaType: MEDIA.oci.manifest, config, layers: layerDescs}), MEDIA.oci.manifest)
  const index = await writeBlob(dir, json({schemaVersion: 2, mediaType: MEDIA.oci.index, manifests: [{...manifest, platform}]}), MEDIA.oci.index)
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({imageLayoutVersion: '1.0.0'}))
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({schemaVersion: 2, mediaType: MEDIA.oci.index, manifests: [{...index, annotations: {[REF_NAME_ANNOTATION]: IMAGE_REF}}]}),
  )
  return manifest.digest
}

function figuresOf(plan: Plan): Pick<ImageFigures, 'files' | 'dirs' | 'symlinks' | 'hardlinkPaths' | 'paths' | 'bytes' | 'kinds'> {
  const ids = new Map<number, Node>()
  let files = 0
  let dirs = 0
  let symlinks = 0
  for (const node of plan.model.nodes.values()) {
    if (node.type === 'file') {
      files++
      ids.set(node.id, node)
    } else if (node.type === 'dir') dirs++
    else symlinks++
  }
  const kinds: Record<ContentKind, number> = {text: 0, elf: 0, packed: 0}
  let bytes = 0
  for (const node of ids.values()) {
    bytes += node.size
    kinds[node.kind!] += node.size
  }
  return {files, dirs, symlinks, hardlinkPaths: files - ids.size, paths: plan.model.nodes.size, bytes, kinds}
}

export interface BenchImage {
  /** The cache folder of this generator version and seed. */
  dir: string
  /** A folder of OCI layouts, one per package, for `source: oci:...`: the image and the world's kernel and stub. */
  layouts: string
  /** The synthetic image's layout. */
  layout: string
  /** Every path of the flattened tree (sorted, root excluded), one a line. */
  pathsFile: string
  figures: ImageFigures
  /** Generated profiles: kernel + initramfs (also the input of `rootfs`), and disk + uki. */
  profiles: {initramfs: string; uki: string}
}

export function cacheKey(seed: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(seed)) throw new Error(`seed "${seed}": letters, digits, ".", "_" and "-" only (it names a folder)`)
  return `v${GENERATOR_VERSION}-${seed}`
}

/** Generates the image into the cache (when missing), links the world's kernel and stub beside it, writes the profiles. */
export async function ensureBenchImage(options: {seed?: string; force?: boolean; log?: (line: string) => void} = {}): Promise<BenchImage> {
  const seed = options.seed ?? DEFAULT_SEED
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const dir = join(CACHE_DIR, cacheKey(seed))
  const layouts = join(dir, 'oci')
  const layout = join(layouts, IMAGE_PACKAGE)
  const figuresFile = join(dir, 'image.json')
  const pathsFile = join(dir, 'paths.txt')
  if (options.force) await rm(dir, {recursive: true, force: true})
  let figures: ImageFigures
  if (existsSync(figuresFile)) figures = JSON.parse(await readFile(figuresFile, 'utf8')) as ImageFigures
  else figures = await generate(seed, dir, log)
  await linkWorld(layouts, log)
  const profiles = await writeProfiles(dir)
  return {dir, layouts, layout, pathsFile, figures, profiles}
}

async function generate(seed: string, dir: string, log: (line: string) => void): Promise<ImageFigures> {
  const started = process.hrtime.bigint()
  // Made beside the final folder and renamed into place: an interrupted run leaves nothing that looks complete.
  const tmp = `${dir}.tmp-${process.pid}`
  await rm(tmp, {recursive: true, force: true})
  const layout = join(tmp, 'oci', IMAGE_PACKAGE)
  await mkdir(join(layout, 'blobs', 'sha256'), {recursive: true})
  log(`bench image: planning (seed ${seed}, generator v${GENERATOR_VERSION})`)
  const plan = planImage(seed)
  log(`bench image: writing ${plan.layers.length} layers (${plan.layers.reduce((n, l) => n + l.length, 0)} entries), gzip ${hostGzip() ? '-n -6 (host)' : 'level 6 (node:zlib)'}`)
  const layers = await Promise.all(plan.layers.map((entries, i) => writeLayer(layout, seed, entries, i)))
  const manifestDigest = await writeDocuments(layout, layers)
  await writeFile(join(tmp, 'paths.txt'), `${[...plan.model.nodes.keys()].sort(comparePaths).join('\n')}\n`)
  const gzipVersion = hostGzip() ? spawnSync('gzip', ['--version'], {encoding: 'utf8'}).stdout.split('\n')[0]!.trim() : ''
  const figures: ImageFigures = {
    generator: GENERATOR_VERSION,
    seed,
    ...figuresOf(plan),
    layers,
    compressedBytes: layers.reduce((n, l) => n + l.size, 0),
    tarBytes: layers.reduce((n, l) => n + l.tarSize, 0),
    compressor: gzipVersion ? `gzip -n -6 (${gzipVersion})` : 'node:zlib level 6',
    generationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
    manifestDigest,
  }
  if (figures.files < 20_000 || figures.bytes < 500e6) throw new Error(`generator: ${figures.files} files, ${figures.bytes} bytes: below 20,000 files or 500 MB`)
  await writeFile(join(tmp, 'image.json'), `${JSON.stringify(figures, null, 2)}\n`)
  await rm(dir, {recursive: true, force: true})
  await mkdir(dirname(dir), {recursive: true})
  await rename(tmp, dir)
  log(`bench image: ${describe(figures)}; made in ${figures.generationSeconds.toFixed(1)} s`)
  checkWithTools(join(dir, 'oci', IMAGE_PACKAGE), log)
  return figures
}

/** umoci and skopeo must accept the layout (a warning if one of them is missing or refuses it). */
function checkWithTools(layout: string, log: (line: string) => void): void {
  for (const [tool, args] of [
    ['umoci', ['ls', '--layout', layout]],
    ['skopeo', ['inspect', `oci:${layout}:${IMAGE_REF}`]],
  ] as const) {
    const r = spawnSync(tool, args, {encoding: 'utf8'})
    if (r.error) log(`bench image: ${tool} not found, not checked with it`)
    else if (r.status !== 0) log(`bench image: WARNING: ${tool} ${args.join(' ')} failed: ${r.stderr.trim()}`)
  }
}

/** The kernel and boot stub packages come from the fixture world (scripts/setup.sh makes it). */
async function linkWorld(layouts: string, log: (line: string) => void): Promise<void> {
  const world = join(REPO, '.cache', 'world', 'oci')
  const needed = ['user-linux-generic', 'user-systemd-stub']
  if (!needed.every((name) => existsSync(join(world, name, 'index.json')))) {
    log('bench image: the fixture world is missing: running scripts/setup.sh')
    const r = spawnSync('bash', [join(REPO, 'scripts', 'setup.sh')], {stdio: 'inherit', cwd: REPO})
    if (r.status !== 0) throw new Error('scripts/setup.sh failed: the bench needs the fixture world')
  }
  await mkdir(layouts, {recursive: true})
  for (const name of needed) {
    const at = join(layouts, name)
    const target = relative(layouts, join(world, name))
    const current = await lstat(at).then((s) => (s.isSymbolicLink() ? readlink(at) : 'not a link'), () => undefined)
    if (current === target) continue
    if (current !== undefined) await rm(at, {recursive: true, force: true})
    await symlink(target, at)
  }
}

/** The bench profiles (generated: they point at this seed's folder). No trust: the bench measures the data path. */
async function writeProfiles(dir: string): Promise<{initramfs: string; uki: string}> {
  await mkdir(CACHE_DIR, {recursive: true})
  const source = `oci:${relative(CACHE_DIR, join(dir, 'oci'))}`
  const common = [
    '# Generated by bench/image/generate.ts: the synthetic image and the fixture world\'s kernel (and stub).',
    '# No trust: section (the bench measures the data path); prune: none keeps the tree comparable with umoci\'s.',
    'sourceDateEpoch: 1',
    `source: ${source}`,
    'packages:',
    `  - ${IMAGE_PACKAGE}`,
    'kernel:',
    '  package: user-linux-generic',
    '  cmdline: console=ttyS0 panic=-1',
    'prune: none',
    // The image has headers and documentation, as real ones do; the no-compiler check refuses them
    // unless kept, and umoci keeps everything.
    'keep: [/usr/include, /usr/share/doc, /usr/share/man]',
  ]
  const initramfs = join(CACHE_DIR, 'bench.yaml')
  const uki = join(CACHE_DIR, 'bench-uki.yaml')
  await writeFile(initramfs, [...common.slice(0, 2), 'name: bench', ...common.slice(2), 'initramfs:', '  compression: gzip', 'outputs: [kernel, initramfs]', ''].join('\n'))
  await writeFile(uki, [...common.slice(0, 2), 'name: bench-uki', ...common.slice(2), 'boot:', '  loader: uki', '  stub: user-systemd-stub', 'outputs: [disk, uki]', ''].join('\n'))
  return {initramfs, uki}
}

export function describe(f: ImageFigures): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`
  const n = (x: number) => x.toLocaleString('en')
  return (
    `${n(f.files)} files (${n(f.hardlinkPaths)} of them hardlinks), ${n(f.dirs)} directories, ${n(f.symlinks)} symlinks; ${mb(f.bytes)} of file content ` +
    `(text ${((f.kinds.text / f.bytes) * 100).toFixed(0)}%, ELF-like ${((f.kinds.elf / f.bytes) * 100).toFixed(0)}%, compressed ${((f.kinds.packed / f.bytes) * 100).toFixed(0)}%); ` +
    `${f.layers.length} gzip layers, ${mb(f.compressedBytes)} compressed (${mb(f.tarBytes)} of tar), seed ${f.seed}`
  )
}

/** Rebuilds every layer's tar without compressing it and checks it against the recorded diff_ids. */
export async function verifyDiffIds(seed: string, figures: ImageFigures): Promise<boolean> {
  const plan = planImage(seed)
  let ok = true
  for (const [i, entries] of plan.layers.entries()) {
    const {diffId} = await packLayer(seed, entries, null)
    const expected = figures.layers[i]?.diffId
    process.stdout.write(`layer ${i + 1}: ${diffId} ${diffId === expected ? 'matches' : `DIFFERS from ${expected}`}\n`)
    ok &&= diffId === expected
  }
  return ok
}

const invokedDirectly = process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href
if (invokedDirectly) {
  const flag = (name: string) => {
    const i = process.argv.indexOf(name)
    return i > 0 ? process.argv[i + 1] : undefined
  }
  const seed = flag('--seed') ?? DEFAULT_SEED
  const image = await ensureBenchImage({seed, force: process.argv.includes('--force')})
  process.stdout.write(`${image.layout}\n${describe(image.figures)}\nprofiles: ${image.profiles.initramfs} ${image.profiles.uki}\n`)
  if (process.argv.includes('--verify') && !(await verifyDiffIds(seed, image.figures))) process.exit(1)
}
