// Differential test: our flatten against umoci (`umoci raw unpack`, run as root) on the fixture
// world's images and on random layer stacks from fixed seeds (test/helpers/layer-stacks.ts). Both
// trees are listed the same way (path, type, mode, uid:gid, size, sha256 or link target, hardlink
// groups) and the FULL listings must be equal. Only what src/rootfs documents as deliberate may
// differ, and each such rule has its own case below, run against umoci too:
//  - device nodes: umoci makes them, we drop them (layer.ts); a listing of umoci's tree leaves them out;
//    a dropped node makes no parent directory either, where umoci makes one;
//  - an entry below a file: umoci refuses the layer, we replace the file by a directory (paths.ts rule 5);
//  - a parent that no entry names is 0755 root:root (rule 5), even below a setgid directory, where
//    Linux gives umoci's the setgid bit and the directory's group;
//  - a whiteout resolves its directory against the lower layers, whatever the tar order (layer.ts);
//  - a hardlink's target is resolved before the link replaces anything (paths.ts rule 6), even when it
//    is named through the path it replaces, where umoci has removed that path first and fails.
//
// A failing seed prints the seed, its stack and the lines that differ. To run only some seeds:
//   DIFF_SEEDS=17,42 npx mocha test/rootfs/differential.test.ts     (DIFF_COUNT=N for more seeds)
// Our side calls flattenInto on the Layers of the written layout (openLayout -> resolveImage -> layersOf),
// as the fetch stage hands them over; the fixture profile goes through buildRootfs, as `rootfs --list` does.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {type LayerSpec, writeOciImageLayout} from '../../scripts/world/oci-layout.js'
import type {TarEntry} from '../../scripts/world/tar.js'
import type {Layer} from '../../src/oci/layer.js'
import {layersOf} from '../../src/oci/layer.js'
import {openLayout} from '../../src/oci/layout.js'
import {resolveImage} from '../../src/oci/source.js'
import {buildRootfs, formatListEntry, listTree, type RootfsListEntry} from '../../src/pipeline/rootfs.js'
import {flattenInto, type LayerPool, openLayerPool} from '../../src/rootfs/flatten.js'
import {createTree} from '../../src/rootfs/tree.js'
import {type ContentReader, openContentReader, openSpool, type Spool} from '../../src/store/spool.js'
import {describeStack, randomStack, type Stack} from '../helpers/layer-stacks.js'
import {listDirectory, runLimited, umociUnpack} from '../helpers/umoci.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const WORLD = join(REPO, '.cache/world/oci')
const FIXTURES = ['core-filesystem', 'core-busybox', 'user-linux-generic', 'user-syslinux', 'user-systemd-stub']
const SEEDS = process.env.DIFF_SEEDS
  ? process.env.DIFF_SEEDS.split(',').map(Number)
  : Array.from({length: Number(process.env.DIFF_COUNT ?? 240)}, (_, i) => i + 1)

/** A listing line without the package column: umoci's tree has no provenance. */
const comparable = (entries: RootfsListEntry[]) => entries.map((e) => formatListEntry(e).split('\t').slice(0, -1).join('\t'))
/** Devices are dropped by us (layer.ts): umoci's are left out of its listing. */
const withoutDevices = (entries: RootfsListEntry[]) => entries.filter((e) => e.type !== 'char' && e.type !== 'block')

function difference(ours: string[], theirs: string[]): string {
  const a = new Set(ours)
  const b = new Set(theirs)
  return [...ours.filter((l) => !b.has(l)).map((l) => `  ours only:  ${l}`), ...theirs.filter((l) => !a.has(l)).map((l) => `  umoci only: ${l}`)].join('\n')
}

const umociAvailable = () => {
  try {
    execFileSync('umoci', ['--version'], {stdio: 'ignore'})
    return process.getuid?.() === 0
  } catch {
    return false
  }
}

describe('differential: flatten against umoci raw unpack', function () {
  this.timeout(240_000)
  let work: string
  let spool: Spool
  let reader: ContentReader
  // One pool of layer readers for every image: starting worker threads (under tsx) per image would cost more than reading it.
  let pool: LayerPool

  before(async function () {
    if (!umociAvailable()) this.skip() // umoci applies owners and makes devices only as root
    work = await mkdtemp(join(tmpdir(), 'stagex-differential-'))
    spool = await openSpool(join(work, 'spool'))
    reader = openContentReader()
    pool = openLayerPool()
  })
  after(async () => {
    reader?.close()
    await pool?.close()
    if (work) await rm(work, {recursive: true, force: true})
  })

  /** Our tree of one image of a layout, listed. */
  async function ours(layout: string, tag: string): Promise<{entries?: RootfsListEntry[]; error?: string}> {
    try {
      const layers = await layersFrom(layout, tag)
      const tree = createTree()
      await flattenInto(tree, [{name: tag, layers}], spool, {pool})
      return {entries: listTree(tree, reader)}
    } catch (error) {
      return {error: (error as Error).message}
    }
  }

  async function layersFrom(layout: string, tag: string): Promise<Layer[]> {
    const source = openLayout(layout)
    return layersOf(await resolveImage(source, {tag}, tag), source, tag)
  }

  /** umoci's tree of the same image, listed (and removed: only the listing is kept). */
  async function theirs(layout: string, tag: string, name = tag): Promise<{entries?: RootfsListEntry[]; error?: string}> {
    const rootfs = join(work, 'umoci', name)
    await mkdir(join(work, 'umoci'), {recursive: true})
    const unpacked = await umociUnpack(layout, tag, rootfs)
    try {
      return unpacked.error !== undefined ? {error: unpacked.error} : {entries: listDirectory(rootfs)}
    } finally {
      await rm(rootfs, {recursive: true, force: true})
    }
  }

  async function writeStacks(layout: string, stacks: {tag: string; layers: TarEntry[][]}[]): Promise<void> {
    for (const {tag, layers} of stacks) {
      const specs: LayerSpec[] = layers.map((entries) => ({entries, compression: 'none'}))
      await writeOciImageLayout(layout, {layers: specs, refName: tag, append: true, shape: 'manifest'})
    }
  }

  it("lists each fixture image as umoci unpacks it (the world's StageX-shaped packages)", async function () {
    if (!existsSync(WORLD)) this.skip() // scripts/setup.sh builds the fixture world
    for (const name of FIXTURES) {
      const layout = join(WORLD, name)
      const [a, b] = [await ours(layout, 'latest'), await theirs(layout, 'latest')]
      assert.equal(a.error, undefined, `${name}: we refused it: ${a.error}`)
      assert.equal(b.error, undefined, `${name}: umoci refused it: ${b.error}`)
      const [x, y] = [comparable(a.entries!), comparable(withoutDevices(b.entries!))]
      assert.deepEqual(x, y, `${name} differs from umoci:\n${difference(x, y)}`)
      assert.ok(x.length > 3, `${name}: ${x.length} entries`)
    }
  })

  it('rootfs --list of a profile (core-filesystem + core-busybox, prune none) is umoci over the same layers, plus /dev/console, each entry with its package', async function () {
    if (!existsSync(WORLD)) this.skip()
    const profilePath = join(work, 'differential.yaml')
    await writeFile(profilePath, `name: differential\nsource: oci:${WORLD}\npackages: [core-filesystem, core-busybox]\nkernel: {package: user-linux-generic}\nprune: none\n`)
    const listed = await buildRootfs({profilePath, list: true, warn: () => {}, progress: () => {}})
    const entries = listed.entries!
    assert.equal(listed.tar, undefined, '--list alone writes no tar')

    // The same layers, in profile order, as one image for umoci.
    const stacked: LayerSpec[] = []
    const digests: Record<string, string[]> = {}
    for (const name of ['core-filesystem', 'core-busybox']) {
      const layers = await layersFrom(join(WORLD, name), 'latest')
      digests[name] = layers.map((l) => l.digest)
      for (const l of layers) stacked.push({blob: readFileSync(l.file), mediaType: l.mediaType, diffId: l.diffId})
    }
    const layout = join(work, 'profile-layout')
    await writeOciImageLayout(layout, {layers: stacked, refName: 'minimal'})
    const b = await theirs(layout, 'minimal')
    assert.equal(b.error, undefined, b.error)
    const x = comparable(entries.filter((e) => e.path !== '/dev/console'))
    const y = comparable(withoutDevices(b.entries!))
    assert.deepEqual(x, y, `the profile's tree differs from umoci:\n${difference(x, y)}`)

    // Provenance: the last layer that put an entry names it; what the shape stage adds is "profile".
    const byPath = new Map(entries.map((e) => [e.path, e]))
    const [sharedLayer, busyboxLayer] = digests['core-busybox']!
    assert.deepEqual(pick(byPath.get('/usr/bin/busybox')!), {package: 'core-busybox', layer: busyboxLayer})
    assert.deepEqual(pick(byPath.get('/etc/passwd')!), {package: 'core-busybox', layer: sharedLayer}, 'core-busybox carries the core-filesystem layer too, and comes later')
    assert.deepEqual(pick(byPath.get('/dev/console')!), {package: 'profile', layer: undefined})
    assert.equal(byPath.get('/usr/bin/true')!.hardlinkTo, '/usr/bin/busybox')
    assert.ok(entries.every((e) => ['core-busybox', 'profile'].includes(e.package)), 'every entry was last put by core-busybox or the profile')
    const lines = entries.map(formatListEntry)
    assert.ok(lines.includes('/usr/bin/true\tfile\t0755\t0:0\t' + byPath.get('/usr/bin/busybox')!.size + '\t=> /usr/bin/busybox\tcore-busybox'), lines.filter((l) => l.startsWith('/usr/bin/t')).join('\n'))
    assert.ok(lines.includes('/bin\tsymlink\t0777\t0:0\t0\t-> usr/bin\tcore-busybox'))
    assert.ok(lines.includes('/dev/console\tchar\t0600\t0:0\t0\t5,1\tprofile'))
  })

  it(`lists ${SEEDS.length} random layer stacks (fixed seeds) as umoci unpacks them`, async () => {
    const started = Date.now()
    const stacks: Stack[] = SEEDS.map(randomStack)
    // One small layout per stack: umoci reads every manifest of a layout's index to resolve a tag,
    // so one layout of hundreds of tags would cost it more than unpacking them.
    const layoutOf = (s: Stack) => join(work, 'stacks', `s${s.seed}`)
    for (const s of stacks) await writeStacks(layoutOf(s), [{tag: 'latest', layers: s.layers}])
    const written = Date.now()
    const umoci = await runLimited(stacks.map((s) => () => theirs(layoutOf(s), 'latest', `s${s.seed}`)), 2)
    const unpacked = Date.now()
    const failures: string[] = []
    let bothRefused = 0
    for (const [i, stack] of stacks.entries()) {
      const a = await ours(layoutOf(stack), 'latest')
      const b = umoci[i]!
      if (a.error !== undefined && b.error !== undefined) {
        bothRefused++
        continue
      }
      if (a.error !== undefined || b.error !== undefined) {
        failures.push(`${describeStack(stack)}\n  ${a.error !== undefined ? `we refused it: ${a.error}` : `umoci refused it: ${b.error}`}`)
        continue
      }
      const [x, y] = [comparable(a.entries!), comparable(withoutDevices(b.entries!))]
      if (x.join('\n') !== y.join('\n')) failures.push(`${describeStack(stack)}\n${difference(x, y) || '  (same lines, another order)'}`)
    }
    const flattened = Date.now()
    // The time each part takes, so that a slow run can be told from a slow machine.
    console.log(`      ${stacks.length} stacks: layouts ${written - started} ms, umoci ${unpacked - written} ms, ours ${flattened - unpacked} ms`)
    const failedSeeds = failures.map((f) => /^seed (\d+)/.exec(f)![1])
    assert.equal(
      failures.length,
      0,
      `${failures.length} of ${stacks.length} stacks differ from umoci (seeds ${failedSeeds.join(',')}; rerun with DIFF_SEEDS=${failedSeeds.join(',')}):\n\n${failures.slice(0, 3).join('\n\n')}`,
    )
    // Stacks that both refuse test nothing: the generator must keep them rare.
    assert.ok(bothRefused <= stacks.length / 20, `${bothRefused} stacks refused by both`)
  })

  describe('deliberate differences, each shown against umoci', () => {
    let layout: string
    const cases: Record<string, TarEntry[][]> = {
      'below-file': [[{type: 'file', path: 'f', data: 'file\n'}], [{type: 'file', path: 'f/x', data: 'x\n'}]],
      'whiteout-order': [
        [
          {type: 'dir', path: 'etc'},
          {type: 'file', path: 'etc/x', data: 'x\n'},
          {type: 'symlink', path: 'd', target: '/etc'},
        ],
        // Tar order as a sorting writer gives it: the directory replacing d comes before the whiteout below it.
        [
          {type: 'dir', path: 'd'},
          {type: 'file', path: 'd/.wh.x', data: ''},
        ],
      ],
      'setgid-parent': [[{type: 'dir', path: 'g', mode: 0o2775, gid: 50}], [{type: 'file', path: 'g/new/x', data: 'x\n'}]],
      'device-parent': [[{type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666}]],
      'link-through-itself': [
        [
          {type: 'dir', path: 'usr/lib'},
          {type: 'file', path: 'usr/lib/libc.so', data: 'libc\n'},
          {type: 'symlink', path: 'usr/lib64', target: 'lib'},
        ],
        [{type: 'hardlink', path: 'usr/lib64', target: 'usr/lib64/libc.so'}],
      ],
      devices: [
        [
          {type: 'file', path: 'dev/null', data: 'a file first\n'},
          {type: 'file', path: 'keep', data: 'k\n'},
        ],
        [
          {type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666},
          {type: 'hardlink', path: 'dev/null2', target: 'dev/null'},
          {type: 'block', path: 'dev/sda', major: 8, minor: 0, mode: 0o660},
        ],
      ],
    }
    before(async () => {
      layout = join(work, 'cases')
      await writeStacks(layout, Object.entries(cases).map(([tag, layers]) => ({tag, layers})))
    })
    const listing = async (tag: string) => {
      const [a, b] = [await ours(layout, tag), await theirs(layout, tag)]
      return {a, b}
    }

    it('an entry below a file: umoci refuses the layer (not a directory), we replace the file by a directory (paths.ts rule 5)', async () => {
      const {a, b} = await listing('below-file')
      assert.match(b.error ?? '', /not a directory/)
      assert.deepEqual(comparable(a.entries!), ['/\tdir\t0755\t0:0\t0\t-', '/f\tdir\t0755\t0:0\t0\t-', `/f/x\tfile\t0644\t0:0\t2\tsha256:${sha('x\n')}`])
    })

    it('a whiteout below a symlink that its own layer turns into a directory: we resolve it against the lower layers (etc/x goes), umoci in tar order (etc/x stays)', async () => {
      const {a, b} = await listing('whiteout-order')
      const [x, y] = [comparable(a.entries!), comparable(b.entries!)]
      assert.deepEqual(difference(x, y).split('\n'), [`  umoci only: /etc/x\tfile\t0644\t0:0\t2\tsha256:${sha('x\n')}`])
    })

    it('a parent no entry names, below a setgid directory: Linux gives umoci\'s the setgid bit and the group, ours is 0755 root:root (paths.ts rule 5)', async () => {
      const {a, b} = await listing('setgid-parent')
      const [x, y] = [comparable(a.entries!), comparable(b.entries!)]
      assert.deepEqual(difference(x, y).split('\n'), ['  ours only:  /g/new\tdir\t0755\t0:0\t0\t-', '  umoci only: /g/new\tdir\t2755\t0:50\t0\t-'])
    })

    it('a device node whose directory no entry names: umoci makes the directory and the node, we neither (layer.ts)', async () => {
      const {a, b} = await listing('device-parent')
      assert.deepEqual(comparable(a.entries!), ['/\tdir\t0755\t0:0\t0\t-'])
      assert.deepEqual(comparable(withoutDevices(b.entries!)), ['/\tdir\t0755\t0:0\t0\t-', '/dev\tdir\t0755\t0:0\t0\t-'])
    })

    it('a hardlink named through the symlink it replaces: we resolve the target first (paths.ts rule 6), umoci removes the symlink first and finds no target', async () => {
      const {a, b} = await listing('link-through-itself')
      assert.match(b.error ?? '', /link: no such file or directory/)
      const entries = a.entries!.map((e) => `${e.path} ${e.type} ${e.hardlinkTo ?? e.sha256 ?? '-'}`)
      assert.deepEqual(entries.slice(-2), [`/usr/lib/libc.so file ${sha('libc\n')}`, '/usr/lib64 file /usr/lib/libc.so'])
    })

    it('device nodes: umoci makes them, we drop them (and links to them), and what a lower layer had there goes all the same', async () => {
      const {a, b} = await listing('devices')
      const devices = b.entries!.filter((e) => e.type === 'char' || e.type === 'block').map((e) => `${e.path} ${e.type} ${e.device ?? `=> ${e.hardlinkTo}`}`)
      assert.deepEqual(devices, ['/dev/null char 1,3', '/dev/null2 char => /dev/null', '/dev/sda block 8,0'])
      assert.deepEqual(comparable(a.entries!), comparable(withoutDevices(b.entries!)))
      assert.ok(!a.entries!.some((e) => e.path.startsWith('/dev/null')))
    })
  })
})

const pick = (e: RootfsListEntry) => ({package: e.package, layer: e.layer})
const sha = (text: string) => createHash('sha256').update(text).digest('hex')
