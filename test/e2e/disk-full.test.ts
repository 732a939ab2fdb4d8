// A full disk is named: the path, what filled (TMPDIR's spool, the output folder, the store), and
// nothing half written stays behind. Each case mounts a small tmpfs (root only; skipped otherwise,
// saying why).
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {type Dirent, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {openStore} from '../../src/store/content-store.js'
import {isStagexError} from '../../src/errors.js'
import {profileVariant, runCli} from '../helpers/cli.js'

/** Mounts a tmpfs of `size` at a new folder, or says why it cannot. */
function smallDisk(base: string, name: string, size: string): string | {skip: string} {
  const at = join(base, name)
  mkdirSync(at, {recursive: true})
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], {encoding: 'utf8'})
  return mounted.status === 0 ? at : {skip: `cannot mount a tmpfs here (${(mounted.stderr || mounted.error?.message || '').trim()}): needs root`}
}

const unmount = (at: string) => spawnSync('umount', [at])

/** Every file under `dir`, relative. */
function listing(dir: string): string[] {
  return (readdirSync(dir, {recursive: true, withFileTypes: true}) as Dirent[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort()
}

describe('e2e: a full disk is named, with the path and what filled', function () {
  this.timeout(120_000)
  let base: string
  const mounts: string[] = []
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'stagex-diskfull-'))
  })
  after(() => {
    for (const m of mounts) unmount(m)
    rmSync(base, {recursive: true, force: true})
  })

  function disk(test: Mocha.Context, name: string, size: string): string {
    const at = smallDisk(base, name, size)
    if (typeof at !== 'string') {
      console.log(`      skipped: ${at.skip}`)
      test.skip()
    }
    mounts.push(at as string)
    return at as string
  }

  it('TMPDIR full (the spool of layers): exit 2 naming the spool file and TMPDIR, nothing left there or in --out', async function () {
    const tmp = disk(this, 'tmp', '1m')
    const profile = await profileVariant('minimal', base, 'tmp-full')
    const out = join(base, 'out-tmp')
    const result = runCli(['build', profile, '--out', out], {env: {...process.env, TMPDIR: tmp}})
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, new RegExp(`${tmp}/\\S+: no space left on the device holding the spool \\(TMPDIR\\) \\(ENOSPC\\)`))
    assert.doesNotMatch(result.stderr, /corrupt|RangeError|at .*\.js:/)
    assert.deepEqual(listing(tmp), [], 'the work folder is gone')
    assert.deepEqual(listing(out), [], 'nothing published')
  })

  it('--out full: exit 2 naming the output and its folder; the previous outputs stay as they were, no temp file', async function () {
    const out = disk(this, 'out', '6m')
    const small = await profileVariant('minimal', base, 'small', (t) => t.replace(/outputs:.*\n/, '').concat('outputs: [initramfs]\n'))
    const first = runCli(['build', small, '--out', out])
    assert.equal(first.code, 0, first.stderr)
    const before = listing(out)
    const sums = before.map((f) => createHash('sha256').update(readFileSync(join(out, f))).digest('hex'))
    // kernel + initramfs + rootfs tar do not fit in what is left
    const big = await profileVariant('minimal', base, 'big', (t) => t.replace(/outputs:.*\n/, '').concat('outputs: [kernel, initramfs, rootfs-tar]\n'))
    const result = runCli(['build', big, '--out', out])
    assert.equal(result.code, 2, result.stderr)
    // (the staging folder inside --out, on the same device)
    assert.match(result.stderr, new RegExp(`${out}/\\S+: no space left on the device holding the (folder ${out}(/\\.stagex-build-\\w+)?|output) \\(ENOSPC\\)`))
    assert.deepEqual(listing(out), before, 'the same files: no temp or staging file left')
    assert.deepEqual(before.map((f) => createHash('sha256').update(readFileSync(join(out, f))).digest('hex')), sums, 'the same bytes')
  })

  it('the store full: exit 2 naming the store, and no partial blob left in its tmp/', async function () {
    const root = disk(this, 'store', '1m')
    const store = await openStore(root)
    const bytes = Buffer.alloc(3 << 20, 0x5a)
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as const
    const error = await store.ingest({mediaType: 'application/octet-stream', digest, size: bytes.length}, Readable.from([bytes])).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(isStagexError(error), String(error))
    assert.equal(error.exitCode, 2)
    assert.match(error.message, new RegExp(`no space left on the device holding the store ${root} \\(ENOSPC\\)`))
    assert.deepEqual(listing(root).filter((f) => f.startsWith('tmp/') || f.startsWith('blobs/')), [], 'no partial blob')
  })
})

