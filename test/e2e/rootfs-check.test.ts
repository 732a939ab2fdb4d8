// `rootfs` (the tree as a deterministic tar) and `check` (kernel, ELF closure, no compilers) via the CLI.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {profileVariant, REPO, runCli} from '../helpers/cli.js'

describe('e2e: rootfs and check', function () {
  this.timeout(300_000)
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-rootfs-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('rootfs writes the same tar twice, which GNU tar lists with hardlinks and clamped times', async () => {
    const first = runCli(['rootfs', join(REPO, 'profiles/minimal.yaml'), '--out', join(dir, 'a.tar'), '--json'])
    assert.equal(first.code, 0, first.stderr)
    const second = runCli(['rootfs', join(REPO, 'profiles/minimal.yaml'), '--out', join(dir, 'b', 'b.tar'), '--json'], {env: {...process.env, TZ: 'Asia/Tokyo'}})
    assert.equal(second.code, 0, second.stderr)
    assert.equal(JSON.parse(first.stdout).sha256, JSON.parse(second.stdout).sha256)
    const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', join(dir, 'a.tar')], {encoding: 'utf8', env: {...process.env, TZ: 'UTC'}})
    assert.match(listing, /^hrwxr-xr-x 0\/0 +0 1970-01-01 00:00:01 usr\/bin\/true link to usr\/bin\/busybox$/m)
    assert.match(listing, /^lrwxrwxrwx 0\/0 +0 1970-01-01 00:00:01 bin -> usr\/bin$/m)
    assert.match(listing, /^crw------- 0\/0 +5,1 1970-01-01 00:00:00 dev\/console$/m)
    assert.match(listing, /^lrwxrwxrwx 0\/0 +0 1970-01-01 00:00:00 init -> \/usr\/bin\/appliance-init$/m)
    assert.doesNotMatch(listing, /:\d\d (\.\/|\/)/, 'relative names only')
  })

  it('check passes for the minimal profile', () => {
    const result = runCli(['check', join(REPO, 'profiles/minimal.yaml'), '--json'])
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(result.stdout)
    assert.equal(report.passed, true)
    assert.ok(report.kernel.required >= 10)
    assert.ok(report.elf.files >= 1)
  })

  it('check exits 4 and names a compiler left in an unpruned image, writing nothing', async () => {
    const profile = await profileVariant('minimal', dir, 'compiler', (t) =>
      t.replace('prune: default', 'prune: none').replace('files:\n', 'files:\n  - {path: /usr/bin/gcc, mode: "0755", contents: "#!/bin/sh\\n"}\n'),
    )
    const before = await readdir(dir)
    const result = runCli(['check', profile])
    assert.equal(result.code, 4, result.stderr)
    assert.match(result.stdout, /\/usr\/bin\/gcc: compiler or build tool/)
    assert.match(result.stderr, /error: minimal fails the no-compiler check/)
    assert.deepEqual(await readdir(dir), before)
  })

  it('check exits 2 and names a required kernel option the kernel lacks', async () => {
    const fragment = join(dir, 'needs-more.config')
    await writeFile(fragment, 'CONFIG_BLK_DEV_INITRD=y\nCONFIG_STAGEX_IMAGINARY=y\n')
    const profile = await profileVariant('minimal', dir, 'kernel', (t) => t.replace(`${REPO}/kernel/initramfs-boot.config`, fragment))
    const result = runCli(['check', profile])
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stdout, /CONFIG_STAGEX_IMAGINARY must be =y, the kernel has it not set/)
  })
})
