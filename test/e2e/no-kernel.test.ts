// Issue 10: kernel: is optional. A profile without one still gives a root tree (rootfs, pull, lock,
// check); build and test say which asked-for outputs need a kernel (exit 2, naming them), unless none
// of them does (outputs: [initramfs, rootfs-tar]). Through the CLI, on the world's OCI layouts.
import assert from 'node:assert/strict'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {profileVariant, runCli} from '../helpers/cli.js'

/** profiles/minimal.yaml without its kernel: section (package, config, cmdline). */
const withoutKernel = (text: string) => text.replace(/^kernel:\n(?: {2}.*\n)+/m, '')

describe('e2e: a profile without kernel:', function () {
  this.timeout(300_000)
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-no-kernel-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  /** The minimal profile without kernel:, its outputs: line replaced (or removed with `undefined`). */
  const variant = (name: string, outputs?: string) =>
    profileVariant('minimal', dir, name, (text) => {
      const bare = withoutKernel(text)
      assert.doesNotMatch(bare, /^kernel:/m)
      return bare.replace(/^outputs: .*\n/m, outputs === undefined ? '' : `outputs: ${outputs}\n`)
    })

  it('rootfs writes the root tree', async () => {
    const profile = await variant('rootfs', '[rootfs-tar]')
    const tar = join(dir, 'rootfs.tar')
    const result = runCli(['rootfs', profile, '--out', tar, '--json'])
    assert.equal(result.code, 0, result.stderr)
    assert.ok((JSON.parse(result.stdout) as {entries: number}).entries > 10)
    assert.ok((await readFile(tar)).length > 100_000)
    assert.doesNotMatch(result.stderr, /kernel:/)
  })

  it('lock pins the packages and no kernel', async () => {
    const profile = await variant('lock', '[rootfs-tar]')
    const result = runCli(['lock', profile])
    assert.equal(result.code, 0, result.stderr)
    const lock = JSON.parse(await readFile(profile.replace(/\.yaml$/, '.lock.json'), 'utf8')) as {packages: {repository: string}[]}
    assert.deepEqual(lock.packages.map((p) => p.repository), ['docker.io/stagex/core-filesystem', 'docker.io/stagex/core-busybox'])
  })

  it('pull fetches the packages into the store', async () => {
    const profile = await variant('pull', '[rootfs-tar]')
    const result = runCli(['pull', profile, '--store', join(dir, 'store'), '--json'])
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual((JSON.parse(result.stdout) as {images: {name: string}[]}).images.map((i) => i.name), ['core-filesystem', 'core-busybox'])
  })

  it('check runs the tree checks and says there is no kernel to check', async () => {
    const profile = await variant('check', '[rootfs-tar]')
    const result = runCli(['check', profile])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^kernel {3}- {4}the profile has no kernel: \(a root tree only\); nothing to check$/m)
    assert.match(result.stdout, /^elf {6}ok/m)
  })

  it('build with the default outputs (kernel, initramfs): exit 2 naming the kernel output, nothing written', async () => {
    const profile = await variant('default-outputs')
    const out = join(dir, 'out-default')
    const result = runCli(['build', profile, '--out', out])
    assert.equal(result.code, 2, result.stderr)
    assert.match(
      result.stderr,
      /^error: \S+default-outputs\.yaml: the output kernel \(the default outputs, as the profile has no outputs:\) needs a kernel, and the profile has no kernel: section\. Add kernel: \{package: NAME\} \(a kernel package such as user-linux-generic\), or ask only for outputs that need none: outputs: \[initramfs, rootfs-tar\]$/m,
    )
    assert.deepEqual(await readdir(out).catch(() => []), [])
  })

  it('build asking for kernel, esp and disk: exit 2 naming each output that needs a kernel, with --json', async () => {
    const profile = await variant('boot-outputs', '[kernel, initramfs, esp, disk, rootfs-tar]')
    const edited = (await readFile(profile, 'utf8')).replace('prune: default', 'boot:\n  loader: syslinux\n  packages: [user-syslinux]\nprune: default')
    await import('node:fs/promises').then((fs) => fs.writeFile(profile, edited))
    const result = runCli(['build', profile, '--out', join(dir, 'out-boot'), '--json'])
    assert.equal(result.code, 2, result.stderr)
    const doc = JSON.parse(result.stdout) as {error: {kind: string; message: string; outputs: string[]}}
    assert.equal(doc.error.kind, 'profile')
    assert.deepEqual(doc.error.outputs, ['kernel', 'esp', 'disk'])
    assert.match(doc.error.message, /boot-outputs\.yaml:\d+:\d+: the outputs kernel, esp, disk need a kernel, and the profile has no kernel: section.*outputs: \[initramfs, rootfs-tar\]$/)
  })

  it('build asking only for outputs that need no kernel writes them', async () => {
    const profile = await variant('tree-only', '[initramfs, rootfs-tar]')
    const out = join(dir, 'out-tree')
    const result = runCli(['build', profile, '--out', out])
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual((await readdir(out)).sort(), ['build.json', 'initramfs.cpio.gz', 'rootfs.tar', 'sbom.spdx.json'].sort())
    const record = JSON.parse(await readFile(join(out, 'build.json'), 'utf8')) as {stages: {kernel?: unknown; initramfs?: unknown}}
    assert.equal(record.stages.kernel, undefined)
    assert.ok(record.stages.initramfs)
  })

  it('test: exit 2 naming the outputs that need a kernel', async () => {
    const profile = await variant('test-command')
    const result = runCli(['test', profile, '--out', join(dir, 'out-test')])
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /the output kernel \(the default outputs, as the profile has no outputs:\) needs a kernel/)
  })

  it('test of outputs that need no kernel: exit 2 before any build, saying nothing of it boots', async () => {
    const profile = await variant('test-tree-only', '[initramfs, rootfs-tar]')
    const out = join(dir, 'out-test-tree')
    const result = runCli(['test', profile, '--out', out])
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /^error: \S+test-tree-only\.yaml:\d+:\d+: test boots the image, and the profile has no kernel: section, so none of its outputs \(initramfs, rootfs-tar\) boots/m)
    assert.doesNotMatch(result.stderr, /flatten:/, 'refused before any work')
    assert.deepEqual(await readdir(out).catch(() => []), [])
  })
})
