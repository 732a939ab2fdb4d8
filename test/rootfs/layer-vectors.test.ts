// Layer application against the ecosystem's test material (../shared/vectors/layers): moby, containerd,
// umoci and go-containerregistry cases, summarised in cases.json, plus gcr's real docker-save tarballs.
// Where we deliberately differ from a vector, the case says so and asserts what we do instead.
import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {fileURLToPath} from 'node:url'
import {gunzipSync} from 'node:zlib'

import {type TarEntry, readTar, writeTar} from '../../scripts/world/tar.js'
import {StagexError} from '../../src/errors.js'
import {applyLayer, readLayer} from '../../src/rootfs/layer.js'
import {resolveFully} from '../../src/rootfs/paths.js'
import {type Inode, type Tree, ROOT, compareUtf8, createTree, sortedPaths} from '../../src/rootfs/tree.js'
import {type Spool, openContentReader, openSpool} from '../../src/store/spool.js'

const VECTORS = fileURLToPath(new URL('../../../shared/vectors/layers/', import.meta.url))

type Layer = string[] | string
interface Case {
  id: string
  source: string
  note?: string
  lower?: string[]
  layers?: Layer[]
  expected?: string[]
  expectedAbsent?: string[]
  entries?: Record<string, string>
  keep?: string[]
  drop?: string[]
}

const cases: Case[] = JSON.parse(readFileSync(join(VECTORS, 'cases.json'), 'utf8')).cases

// ---- the cases.json DSL -> tar entries ----

/** One layer item: 'X/' dir, 'X -> T' symlink, 'X => T' hardlink, 'X ("content", mode 0555)', 'X ([0,1,2])'. */
function parseItem(item: string): TarEntry {
  const link = /^(.*?) (->|=>) (.*)$/.exec(item)
  if (link) return link[2] === '->' ? {type: 'symlink', path: link[1], target: link[3]} : {type: 'hardlink', path: link[1], target: link[3]}
  const annotated = /^(.*?) \((.*)\)$/.exec(item)
  const path = annotated ? annotated[1] : item
  const note = annotated?.[2] ?? ''
  if (path.endsWith('/') || note === 'dir') return {type: 'dir', path, mode: 0o755}
  let data = Buffer.alloc(0)
  let mode = 0o644
  const quoted = /"((?:[^"\\]|\\.)*)"/.exec(note)
  if (quoted) data = Buffer.from(JSON.parse(`"${quoted[1]}"`) as string)
  else if (note === 'content') data = Buffer.from('content')
  const bytes = /^\[([\d,\s]+)\]$/.exec(note)
  if (bytes) data = Buffer.from(bytes[1].split(',').map(Number))
  const octal = /mode (0[0-7]+)/.exec(note)
  if (octal) mode = Number.parseInt(octal[1], 8)
  return {type: 'file', path, data, mode}
}

/** The case's layers in order: 'lower' first, '<stepN>' expanded to that step's layers, '<empty tar>' as no entries. */
function layersOf(c: Case): string[][] {
  const out: string[][] = []
  if (c.lower) out.push(c.lower)
  for (const layer of c.layers ?? []) {
    const step = typeof layer === 'string' ? /^<(step\d+)>$/.exec(layer) : null
    if (step) {
      const previous = cases.find((p) => p.id === c.id.replace(/step\d+$/, step[1]))
      assert.ok(previous, `${c.id}: ${String(layer)} names no case`)
      out.push(...layersOf(previous))
    } else if (Array.isArray(layer)) out.push(layer.length === 1 && layer[0] === '<empty tar>' ? [] : layer)
    else assert.fail(`${c.id}: cannot read layer ${layer}`)
  }
  return out
}

// ---- applying ----

let work: string
let spool: Spool

async function applyAll(tree: Tree, layers: TarEntry[][], what = 'layer'): Promise<Tree> {
  for (const [i, entries] of layers.entries()) {
    const tar = await writeTar(entries)
    await applyTar(tree, tar, `${what} ${i}`)
  }
  return tree
}

const applyDsl = (layers: string[][], tree = createTree()) => applyAll(tree, layers.map((l) => l.map(parseItem)))

/** A sorted walk as the source tests list it: root-relative, directories with a trailing "/". */
const walk = (tree: Tree) => sortedPaths(tree).filter((p) => p !== ROOT).map((p) => (tree.entries.get(p)!.type === 'dir' ? `${p}/` : p))

const get = (tree: Tree, path: string): Inode => {
  const inode = tree.entries.get(path)
  assert.ok(inode, `"${path}" is missing; tree: ${walk(tree).join(' ')}`)
  return inode
}
let spoolFiles = 0
/** Reads a layer's tar into the spool, then applies it (as flatten does, one layer at a time). */
async function applyTar(tree: Tree, tar: Uint8Array, what: string) {
  return applyLayer(tree, await readLayer(Readable.from([tar]), spool.file(`layer-${++spoolFiles}.tar`), what))
}

const reader = openContentReader()
const contentBytes = (ref: NonNullable<Inode['content']>) => reader.bytes(ref)

const content = (tree: Tree, path: string) => {
  const inode = get(tree, path)
  assert.equal(inode.type, 'file', `"${path}" is a ${inode.type}`)
  return contentBytes(inode.content!)
}
const text = (tree: Tree, path: string) => content(tree, path).toString('utf8')
const isAbsent = (tree: Tree, path: string) =>
  assert.ok(![...tree.entries.keys()].some((p) => p === path || p.startsWith(`${path}/`)), `"${path}" should be absent; tree: ${walk(tree).join(' ')}`)

/** Refused with exit code 4 and a message that names the entry. */
async function assertRefused(run: Promise<unknown>, entry: string): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StagexError, `not a StagexError: ${String(error)}`)
    assert.equal(error.exitCode, 4)
    assert.ok(error.message.includes(entry), `message does not name "${entry}": ${error.message}`)
    return true
  })
}

/** Every path in the tree is inside the root: relative, no empty, "." or ".." component. */
function assertConfined(tree: Tree): void {
  for (const p of tree.entries.keys()) {
    if (p === ROOT) continue
    assert.ok(!p.startsWith('/'), p)
    for (const part of p.split('/')) assert.ok(part !== '' && part !== '.' && part !== '..', `path "${p}" leaves the root`)
  }
}

// ---- the generic check: a listing, absences, contents and symlink targets ----

const bare = (p: string) => p.replace(/\/$/, '')

async function generic(c: Case): Promise<void> {
  assert.ok(c.layers && c.expected, `${c.id} needs a hand-written check`)
  const tree = await applyDsl(layersOf(c))
  const listing = new Set<string>()
  const checks: (() => void)[] = []
  for (const item of c.expected) {
    const m = /^(\S+?)(?: -> (\S+))?(?: \((.*)\))?$/.exec(item)
    assert.ok(m, `${c.id}: expectation "${item}" needs a hand-written check`)
    const [, path, target, note] = m
    listing.add(path)
    if (target !== undefined)
      checks.push(() => {
        assert.equal(get(tree, path).type, 'symlink')
        assert.equal(get(tree, path).target, target)
      })
    const quoted = note && /^"((?:[^"\\]|\\.)*)"$/.exec(note)
    if (quoted) checks.push(() => assert.equal(text(tree, path), JSON.parse(`"${quoted[1]}"`)))
  }
  // Some listings (umoci's) leave out the directories above what they list: a walk always has them.
  for (const path of [...listing]) {
    const parts = bare(path).split('/')
    for (let i = 1; i < parts.length; i++) listing.add(`${parts.slice(0, i).join('/')}/`)
  }
  const expected = [...listing].sort((a, b) => compareUtf8(bare(a), bare(b)))
  assert.deepEqual(walk(tree), expected)
  for (const check of checks) check()
  for (const absent of c.expectedAbsent ?? []) isAbsent(tree, bare(absent))
  assertConfined(tree)
}

// ---- hand-written checks for free-text expectations, entry tables and notes ----

const handlers: Record<string, (c: Case) => Promise<void>> = {
  async 'gcr-file-replaced-by-symlink'(c) {
    await generic(c)
    const tree = await applyDsl(layersOf(c))
    assert.equal(resolveFully(tree, 'foo.txt', 'test'), 'bar.txt')
    assert.equal(text(tree, resolveFully(tree, 'foo.txt', 'test')), 'bar\n')
    // The lower foo.txt's bytes are unreachable from the tree.
    assert.ok(![...tree.entries.values()].some((i) => i.content && contentBytes(i.content).toString() === 'foo\n'))
  },

  async 'gcr-unsafe-paths'(c) {
    for (const [name, verdict] of Object.entries(c.entries!)) {
      const entry: TarEntry = name === '.' ? {type: 'dir', path: '.'} : {type: 'file', path: name, data: 'x'}
      const run = applyAll(createTree(), [[entry]])
      if (verdict === 'ok') {
        const tree = await run
        if (name !== '.') assert.equal(text(tree, name), 'x')
      } else await assertRefused(run, name)
    }
    // Deliberate difference: gcr refuses every backslash. On Linux it is an ordinary byte, and systemd unit
    // names carry "\x2d" escapes, so only the Windows shapes that climb or start absolute are refused.
    const tree = await applyAll(createTree(), [[{type: 'file', path: 'etc/systemd/system/dev-disk-by\\x2duuid-1.swap', data: 'x'}]])
    assert.equal(text(tree, 'etc/systemd/system/dev-disk-by\\x2duuid-1.swap'), 'x')
  },

  async 'gcr-symlink-filtering'(c) {
    // Deliberate difference: gcr's flattener drops relative links that climb above the root; we keep every
    // target verbatim (paths.ts rule 7) because the guest resolves it inside its own root, where ".." stops.
    const links = [...c.keep!, ...c.drop!].map(parseItem)
    const tree = await applyAll(createTree(), [links])
    for (const link of links) {
      assert.equal(link.type, 'symlink')
      if (link.type !== 'symlink') continue
      assert.equal(get(tree, link.path).type, 'symlink')
      assert.equal(get(tree, link.path).target, link.target)
    }
    // And a path through an escaping link still resolves inside the root.
    assert.equal(resolveFully(tree, 'etc/foo/x', 'test'), 'tmp/evil/x')
    assert.equal(resolveFully(tree, 'usr/local/bin/abs-link', 'test'), 'etc/passwd')
    assertConfined(tree)
  },

  async 'umoci-whiteout-names'() {
    const lower: TarEntry[] = [
      {type: 'file', path: 'rootpath', data: 'r'},
      {type: 'file', path: '.hiddenroot', data: 'h'},
      {type: 'dir', path: 'some/', mode: 0o700, mtime: 1234},
      {type: 'dir', path: 'some/path/', mode: 0o711, mtime: 5678},
      {type: 'file', path: 'some/path/file', data: 'f'},
      {type: 'file', path: 'some/path/other', data: 'o'},
      {type: 'dir', path: 'another/path/.hiddendir/'},
      {type: 'file', path: 'another/path/.hiddendir/deep/x', data: 'x'},
      {type: 'dir', path: 'treepath/sub/'},
      {type: 'file', path: 'treepath/sub/x', data: 'x'},
    ]
    for (const bad of ['.wh.', 'some/path/.wh.']) await assertRefused(applyAll(createTree(), [lower, [{type: 'file', path: bad, data: ''}]]), bad)

    const tree = await applyAll(createTree(), [lower])
    const parent = get(tree, 'some/path')
    const before = {...parent}
    await applyAll(tree, [
      ['.wh.rootpath', '.wh.treepath', '.wh..hiddenroot', 'some/path/.wh.file', 'another/path/.wh..hiddendir', 'nowhere/at/all/.wh.x'].map(
        (path): TarEntry => ({type: 'file', path, data: '', mtime: 999_999}),
      ),
    ])
    for (const gone of ['rootpath', 'treepath', '.hiddenroot', 'some/path/file', 'another/path/.hiddendir']) isAbsent(tree, gone)
    assert.equal(text(tree, 'some/path/other'), 'o')
    // The parent's metadata is untouched (umoci checks mtime/atime), and a whiteout makes no parents.
    assert.equal(get(tree, 'some/path'), parent)
    assert.deepEqual({...get(tree, 'some/path')}, before)
    assert.equal(get(tree, 'some').mtime, 1234)
    isAbsent(tree, 'nowhere')
    assert.ok(!walk(tree).some((p) => p.split('/').some((part) => part.startsWith('.wh.'))), 'a whiteout marker landed in the tree')
  },

  async 'umoci-hardlink-to-symlink'(c) {
    const [layer] = layersOf(c)
    const entries = layer.map(parseItem).map((e) => (e.type === 'hardlink' ? {...e, uid: 1000, gid: 1000, mode: 0o600} : e))
    const tree = await applyAll(createTree(), [entries])
    assert.equal(text(tree, 'regular'), 'content')
    // "/regular" and "../../../link": absolute and climbing targets resolve inside the root (paths.ts rule 6).
    assert.equal(get(tree, 'hard link'), get(tree, 'regular'))
    assert.equal(get(tree, 'hard link to symlink'), get(tree, 'link'))
    assert.equal(get(tree, 'hard link to symlink').type, 'symlink')
    assert.equal(get(tree, 'hard link to symlink').target, '../../../regular')
    // uid/gid (and mode) of a hardlink header are ignored: the inode is the target's.
    assert.equal(get(tree, 'hard link').uid, 0)
    assert.equal(get(tree, 'hard link').gid, 0)
    assert.equal(get(tree, 'hard link').mode, 0o644)
  },

  async 'moby-lower-symlink-implied-dirs'(c) {
    const tree = await applyDsl(layersOf(c))
    assert.equal(get(tree, 'lib').type, 'symlink')
    assert.equal(get(tree, 'lib').target, 'usr/lib')
    assert.equal(text(tree, 'usr/lib/systemd/system/container.service'), 'content')
    assert.deepEqual(walk(tree), ['lib', 'usr/', 'usr/lib/', 'usr/lib/systemd/', 'usr/lib/systemd/system/', 'usr/lib/systemd/system/container.service'])
  },

  async 'moby-invalid-whiteout-names'(c) {
    for (const name of Object.keys(c.entries!)) await assertRefused(applyAll(createTree(), [[{type: 'file', path: name, data: ''}]]), name)
  },

  async 'containerd-whiteout-invalid'(c) {
    for (const name of Object.keys(c.entries!))
      await assertRefused(applyAll(createTree(), [[{type: 'dir', path: 'etc/'}], [{type: 'file', path: name, data: ''}]]), name)
  },

  async 'containerd-whiteout-symlink'(c) {
    const lower: TarEntry[] = [{type: 'dir', path: 'etc/'}, {type: 'file', path: 'etc/passwd', data: 'all users'}, {type: 'symlink', path: 'localetc', target: '/etc'}]
    const tree = await applyAll(createTree(), [lower, layersOf(c).at(-1)!.map(parseItem)])
    assert.equal(text(tree, 'etc/passwd'), 'all users')
    isAbsent(tree, 'localetc')
  },

  async 'containerd-whiteout-dir-named-like-whiteout'(c) {
    const lower: TarEntry[] = [
      {type: 'file', path: 'etc/passwd', data: 'all users'},
      {type: 'file', path: 'etc/whitedout', data: 'w'},
      {type: 'symlink', path: 'localetc', target: '/etc'},
    ]
    const tree = await applyAll(createTree(), [lower, layersOf(c).at(-1)!.map(parseItem)])
    assert.equal(text(tree, 'etc/passwd'), 'all users')
    assert.equal(text(tree, 'etc/whitedout'), 'w')
    assert.equal(get(tree, '.wh.etc').type, 'dir')
    assert.equal(text(tree, '.wh.etc/somefile'), 'non-empty')
  },

  async 'containerd-symlink-override-path'(c) {
    const name = `breakout-${randomBytes(6).toString('hex')}`
    const layer = layersOf(c)[0].map((item) => parseItem(item.replace('breakout-X', name)))
    const tree = await applyAll(createTree(), [layer])
    assert.deepEqual([...content(tree, `foo/tmp/${name}`)], [6, 7, 8])
    // The write through "foo -> /" landed in the image's own /tmp, never the host's.
    assert.deepEqual([...content(tree, `tmp/${name}`)], [3, 4, 5])
    assert.equal(get(tree, 'foo').type, 'dir')
    assert.ok(!existsSync(join('/tmp', name)), 'written to the host /tmp')
    assertConfined(tree)
  },

  async 'containerd-dir-over-symlink'() {
    const lower = ['etc/', 'etc/passwd ("inside")', 'localetc -> etc', 'localetc/localpasswd => /etc/passwd']
    const tree = await applyDsl([lower])
    // In the lower layer the name went through the symlink: etc/localpasswd is a link to etc/passwd.
    assert.equal(get(tree, 'etc/localpasswd'), get(tree, 'etc/passwd'))
    await applyDsl([['localetc/ (dir)', 'localetc/localpasswd ("different")']], tree)
    assert.equal(get(tree, 'localetc').type, 'dir')
    assert.notEqual(get(tree, 'localetc/localpasswd'), get(tree, 'etc/passwd'))
    assert.equal(text(tree, 'localetc/localpasswd'), 'different')
    assert.equal(text(tree, 'etc/passwd'), 'inside')
  },

  async 'containerd-symlink-over-dir'(c) {
    const tree = await applyDsl(layersOf(c))
    assert.equal(get(tree, 'localetc').type, 'symlink')
    assert.equal(get(tree, 'localetc').target, '/etc')
    assert.equal(get(tree, 'etc/localpasswd'), get(tree, 'etc/passwd'))
    assert.equal(text(tree, resolveFully(tree, 'localetc/localpasswd', 'test')), 'inside')
  },

  async 'containerd-hardlink-through-symlink'(c) {
    const tree = await applyDsl(layersOf(c))
    assert.equal(get(tree, 'breakouts/mypasswd'), get(tree, 'etc/passwd'))
    // HardlinkRelative and HardlinkDirectAbsolute: the same file named other ways.
    await applyDsl([['rel => ../../../breakouts/d1/passwd', 'abs => /etc/passwd', 'dotdot => ../../../../etc/passwd']], tree)
    for (const name of ['rel', 'abs', 'dotdot']) assert.equal(get(tree, name), get(tree, 'etc/passwd'))
    assertConfined(tree)
  },

  async 'containerd-implied-parents'(c) {
    // The source test creates every one of these names as a directory (tc.Dir), so the DSL's items are dirs.
    const layer = c.layers![0] as string[]
    const tree = await applyAll(createTree(), [[{type: 'dir', path: 'etc/', mode: 0o700}], layer.map((path): TarEntry => ({type: 'dir', path}))])
    assert.deepEqual(walk(tree), ['etc/', 'etc/subdir/', 'etc/subdir2/', 'etc/subdir2/more/', 'other/', 'other/noparent-1/', 'other/noparent-1/1/', 'other/noparent-2/', 'other/noparent-2/2/'])
    for (const implied of ['other', 'other/noparent-1', 'other/noparent-2']) {
      assert.equal(get(tree, implied).mode, 0o755)
      assert.equal(get(tree, implied).uid, 0)
    }
    assert.equal(get(tree, 'etc').mode, 0o700, 'a lower directory keeps its metadata when a child is added')
  },

  async 'moby-breakouts'() {
    // A victim folder beside a temp root; the spool is the only thing we may write.
    const base = mkdtempSync(join(tmpdir(), 'stagex-breakout-'))
    const victim = join(base, 'victim')
    mkdirSync(victim)
    writeFileSync(join(victim, 'hello'), 'hello')
    const snapshot = () => readdirSync(victim).map((n) => `${n}:${readFileSync(join(victim, n), 'utf8')}:${statSync(join(victim, n)).mtimeMs}`)
    const before = snapshot()
    const savedSpool = spool
    spool = await openSpool(join(base, 'root-spool'))
    try {
      const file = (path: string, data = 'evil'): TarEntry => ({type: 'file', path, data})
      await assertRefused(applyAll(createTree(), [[file('../victim/dotdot')]]), '../victim/dotdot')
      await assertRefused(applyAll(createTree(), [[file('/../victim/slash-dotdot')]]), '/../victim/slash-dotdot')
      await assertRefused(applyAll(createTree(), [[file('victim/../../victim/x')]]), 'victim/../../victim/x')
      // Hardlinks climbing out are clamped to the root: with nothing there, they are refused ...
      await assertRefused(applyAll(createTree(), [[{type: 'hardlink', path: 'dotdot', target: '../victim/hello'}]]), 'dotdot')
      await assertRefused(
        applyAll(createTree(), [[{type: 'hardlink', path: 'loophole-victim', target: '../victim'}, file('loophole-victim/file')]]),
        'loophole-victim',
      )
      // ... and with the root's own victim/ present, they link to it, never the host's.
      const inside = await applyAll(createTree(), [
        [file('victim/hello', 'inside'), {type: 'hardlink', path: 'dotdot', target: '../victim/hello'}],
      ])
      assert.equal(get(inside, 'dotdot'), get(inside, 'victim/hello'))
      await assertRefused(applyAll(inside, [[{type: 'hardlink', path: 'loophole-victim', target: '../victim'}]]), 'loophole-victim')
      // Symlinks out of the root are kept verbatim, and writes through them land inside the root.
      const tree = await applyAll(createTree(), [
        [{type: 'symlink', path: 'loophole-victim', target: '../victim'}, file('loophole-victim/file')],
        [{type: 'symlink', path: 'symlink', target: '../victim/hello'}, {type: 'hardlink', path: 'hardlink', target: 'symlink'}],
        [{type: 'symlink', path: 'abs', target: `/${base}/victim`}, file('abs/written')],
        [{type: 'symlink', path: 'loop2', target: '/../victim'}, file('loop2/hello', 'overwritten?'), {type: 'file', path: 'loop2/.wh.hello', data: ''}],
      ])
      assert.equal(text(tree, 'victim/file'), 'evil')
      assert.equal(get(tree, 'hardlink'), get(tree, 'symlink'))
      assert.equal(get(tree, 'hardlink').type, 'symlink')
      assert.equal(text(tree, `${base.slice(1)}/victim/written`), 'evil')
      // A same-layer whiteout never removes the same layer's file, and here both are inside the root.
      assert.equal(text(tree, 'victim/hello'), 'overwritten?')
      await applyAll(tree, [[{type: 'file', path: 'loop2/.wh.hello', data: ''}]])
      isAbsent(tree, 'victim/hello')
      assertConfined(tree)
      assertConfined(inside)
    } finally {
      spool = savedSpool
    }
    assert.deepEqual(snapshot(), before, 'the victim folder changed')
    const written = readdirSync(base).sort()
    assert.deepEqual(written, ['root-spool', 'victim'])
    for (const name of readdirSync(join(base, 'root-spool'))) assert.match(name, /^(layer-[0-9]+\.tar|profile-files)$/, "only spool files are written")
    rmSync(base, {recursive: true, force: true})
  },

  async 'containerd-fstest-suite'() {
    // containerd diffs consecutive states into layers; we write those layers by hand and check the states.
    const state = async (layers: string[][]) => applyDsl(layers)

    // basicTest: files, a hardlink, a symlink and directories, then an update that adds and replaces.
    let tree = await state([
      ['etc/', 'etc/hosts ("127.0.0.1 localhost")', 'etc/hosts.allow => /etc/hosts', 'usr/local/lib/', 'usr/local/lib/libnothing.so ([0,0])', 'usr/local/lib/libnothing.so.2 -> libnothing.so', 'var/run/', 'root/'],
      ['etc/', 'etc/hosts ("127.0.0.1 localhost.localdomain")', 'etc/hosts.allow => /etc/hosts', 'etc/fstab ("/dev/sda1 / ext4")', 'usr/local/lib/libnothing.so.2 -> libnothing.so.1', 'usr/local/lib/libnothing.so.1 ([1])'],
    ])
    assert.deepEqual(walk(tree), ['etc/', 'etc/fstab', 'etc/hosts', 'etc/hosts.allow', 'root/', 'usr/', 'usr/local/', 'usr/local/lib/', 'usr/local/lib/libnothing.so', 'usr/local/lib/libnothing.so.1', 'usr/local/lib/libnothing.so.2', 'var/', 'var/run/'])
    assert.equal(get(tree, 'etc/hosts.allow'), get(tree, 'etc/hosts'))
    assert.equal(text(tree, 'etc/hosts.allow'), '127.0.0.1 localhost.localdomain')
    assert.equal(get(tree, 'usr/local/lib/libnothing.so.2').target, 'libnothing.so.1')

    // deletionTest: a file, a symlink and a directory tree removed.
    tree = await state([
      ['etc/', 'etc/unneeded ("x")', 'etc/keep ("k")', 'var/lib/', 'var/lib/db/', 'var/lib/db/a ("a")', 'link -> etc/keep'],
      ['etc/', 'etc/.wh.unneeded', 'var/lib/', 'var/lib/.wh.db', '.wh.link'],
    ])
    assert.deepEqual(walk(tree), ['etc/', 'etc/keep', 'var/', 'var/lib/'])

    // updateTest: a file becomes a directory, a directory becomes a file, a symlink becomes a file.
    tree = await state([
      ['a ("file")', 'b/', 'b/inner ("x")', 'c -> a'],
      ['a/', 'a/now-a-dir ("y")', 'b ("now a file")', 'c ("now a file")'],
    ])
    assert.deepEqual(walk(tree), ['a/', 'a/now-a-dir', 'b', 'c'])
    assert.equal(text(tree, 'c'), 'now a file')

    // directoryPermissionsTest / parentDirectoryPermissionsTest: dir-over-dir updates metadata, keeps children.
    tree = await applyAll(createTree(), [
      [{type: 'dir', path: 'd1/', mode: 0o700}, {type: 'file', path: 'd1/f', data: 'f'}, {type: 'dir', path: 'd2/', mode: 0o750}, {type: 'dir', path: 'd2/d3/', mode: 0o700}],
      [{type: 'dir', path: 'd1/', mode: 0o755, uid: 5}, {type: 'dir', path: 'd2/', mode: 0o755}, {type: 'dir', path: 'd2/d3/', mode: 0o711}, {type: 'file', path: 'd2/d3/new', data: 'n'}],
    ])
    assert.equal(get(tree, 'd1').mode, 0o755)
    assert.equal(get(tree, 'd1').uid, 5)
    assert.equal(text(tree, 'd1/f'), 'f')
    assert.equal(get(tree, 'd2/d3').mode, 0o711)
    assert.equal(text(tree, 'd2/d3/new'), 'n')

    // hardlinkUnmodified: a lower hardlink pair survives an unrelated upper layer.
    tree = await state([['a ("1")', 'b => a'], ['c ("c")']])
    assert.equal(get(tree, 'a'), get(tree, 'b'))
    // hardlinkBeforeUnmodified: a new link to a lower file shares its inode.
    tree = await state([['a ("1")'], ['b => a']])
    assert.equal(get(tree, 'a'), get(tree, 'b'))
    assert.equal(text(tree, 'b'), '1')
    // hardlinkBeforeModified: the file is rewritten and the link re-made in the same layer.
    tree = await state([['a ("1")', 'b => a'], ['a ("2")', 'b => a']])
    assert.equal(get(tree, 'a'), get(tree, 'b'))
    assert.equal(text(tree, 'b'), '2')
  },
}

// ---- the tests ----

describe('rootfs: layer vectors (moby, containerd, umoci, go-containerregistry)', () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'stagex-layer-vectors-'))
    spool = await openSpool(join(work, 'spool'))
  })
  after(() => rmSync(work, {recursive: true, force: true}))

  it('has the 29 cases of cases.json', () => assert.equal(cases.length, 29))

  for (const c of cases) it(`${c.id} (${c.source.split(' ')[0]})`, () => (handlers[c.id] ?? generic)(c))

  describe('our own rules beyond the vectors (paths.ts, layer.ts)', () => {
    it('drops device nodes and hardlinks to them, and reports both', async () => {
      const tar = await writeTar([
        {type: 'char', path: 'dev/null', major: 1, minor: 3},
        {type: 'hardlink', path: 'dev/null2', target: 'dev/null'},
        {type: 'file', path: 'etc/x', data: 'x'},
      ])
      const tree = createTree()
      const report = await applyTar(tree, tar, 'devices')
      assert.deepEqual(report.droppedDevices, ['dev/null', 'dev/null2'])
      assert.deepEqual(walk(tree), ['etc/', 'etc/x'], 'a dropped device makes no parent')
    })

    it('a dropped device node still replaces what a lower layer had at its path', async () => {
      const tree = createTree()
      await applyTar(tree, await writeTar([{type: 'file', path: 'dev/tty', data: 'lower'}]), 'lower')
      await applyTar(tree, await writeTar([{type: 'char', path: 'dev/tty', major: 5, minor: 0}]), 'upper')
      assert.deepEqual(walk(tree), ['dev/'])
    })

    it('refuses an empty name and a non-directory naming the root', async () => {
      await assertRefused(applyAll(createTree(), [[{type: 'file', path: './', data: 'x'}]]), '"./"')
    })

    it('resolves a whiteout\'s directory through a lower symlink, inside the root', async () => {
      const tree = await applyDsl([['usr/lib/a ("a")', 'usr/lib/b ("b")', 'lib -> /usr/lib'], ['lib/.wh.a']])
      assert.deepEqual(walk(tree), ['lib', 'usr/', 'usr/lib/', 'usr/lib/b'])
    })
  })

  describe('go-containerregistry docker-save tarballs', () => {
    /** Applies a docker-save tarball's layers in manifest order, checking each against the config's diff_ids. */
    async function applySaved(file: string): Promise<Tree> {
      const members = new Map((await readTar(readFileSync(join(VECTORS, 'gcr-testdata', file)))).map((m) => [m.header.name, m.data]))
      const [manifest] = JSON.parse(members.get('manifest.json')!.toString()) as {Config: string; Layers: string[]}[]
      const config = JSON.parse(members.get(manifest.Config)!.toString()) as {rootfs?: {diff_ids?: string[]}}
      const tree = createTree()
      for (const [i, name] of manifest.Layers.entries()) {
        const blob = members.get(name)!
        const tar = blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob
        const diffId = config.rootfs?.diff_ids?.[i]
        if (diffId) assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, diffId)
        await applyTar(tree, tar, `${file} ${name}`)
      }
      return tree
    }

    it('whiteout_image.tar: .wh.foo.txt removes foo.txt', async () => {
      const tree = await applySaved('whiteout_image.tar')
      assert.deepEqual(walk(tree), ['bar.txt'])
      assert.equal(text(tree, 'bar.txt'), 'bar\n')
      assert.equal(get(tree, 'bar.txt').mode, 0o555)
    })

    it('overwritten_file.tar: foo.txt becomes a symlink to bar.txt', async () => {
      const tree = await applySaved('overwritten_file.tar')
      assert.deepEqual(walk(tree), ['bar.txt', 'foo.txt'])
      assert.equal(get(tree, 'foo.txt').target, 'bar.txt')
      assert.equal(text(tree, resolveFully(tree, 'foo.txt', 'test')), 'bar\n')
    })

    it('whiteout_dir.tar (gzip layers): a whited-out directory comes back with only the new entry', async () => {
      const tree = await applySaved('whiteout_dir.tar')
      assert.deepEqual(walk(tree), ['a/', 'a/baz', 'b/', 'b/bar'])
    })
  })
})
