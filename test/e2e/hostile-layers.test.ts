// Hostile layers through the CLI: each trick is refused or contained as src/rootfs/paths.ts and
// layer.ts say; a canary file outside the work folder is untouched, and no host file's bytes reach
// any output (rootfs.tar, the initramfs).
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {writeOciImageLayout} from '../../scripts/world/oci-layout.js'
import type {TarEntry} from '../../scripts/world/tar.js'
import {REPO, runCli} from '../helpers/cli.js'

const WORLD = join(REPO, '.cache/world/oci')

describe('e2e: hostile layers', function () {
  this.timeout(300_000)
  let dir: string
  let canary: string
  const secret = `CANARY-${process.pid}-${Date.now()}-host-bytes-never-in-an-output`

  before(async function () {
    if (!existsSync(join(WORLD, 'user-linux-generic'))) this.skip()
    dir = await mkdtemp(join(tmpdir(), 'stagex-hostile-'))
    canary = join(dir, 'canary')
    await mkdir(canary)
    await writeFile(join(canary, 'secret'), secret)
  })
  after(() => dir && rm(dir, {recursive: true, force: true}))

  /** A profile over one image of `layers` (plus the world's kernel), built with `command`. */
  async function run(name: string, layers: TarEntry[][], command: 'rootfs' | 'build') {
    const source = join(dir, `source-${name}`)
    await mkdir(source, {recursive: true})
    await writeOciImageLayout(join(source, 'hostile'), {layers: layers.map((entries) => ({entries}))})
    await symlink(join(WORLD, 'user-linux-generic'), join(source, 'user-linux-generic'))
    const profile = join(dir, `${name}.yaml`)
    await writeFile(profile, `name: ${name}\nsource: oci:${source}\npackages: [hostile]\nkernel: {package: user-linux-generic}\nprune: none\noutputs: [initramfs, rootfs-tar]\n`)
    const out = join(dir, `out-${name}`)
    const args = command === 'rootfs' ? ['rootfs', profile, '--out', join(out, 'rootfs.tar')] : ['build', profile, '--out', out]
    return {result: runCli(args, {env: {...process.env, TMPDIR: join(dir, 'tmp')}}), out}
  }

  async function canaryIntact() {
    assert.equal(await readFile(join(canary, 'secret'), 'utf8'), secret, 'the canary changed')
    assert.equal((await stat(canary)).isDirectory(), true)
  }

  before(async () => dir && mkdir(join(dir, 'tmp'), {recursive: true}))

  const refused: [string, TarEntry[][], RegExp][] = [
    ['traversal', [[{type: 'file', path: '../../canary/secret', data: 'evil'}]], /contains "\.\."/],
    ['hardlink to a missing target', [[{type: 'hardlink', path: 'x', target: 'nowhere'}]], /hardlink to "nowhere", which does not exist/],
    ['hardlink out of the root', [[{type: 'hardlink', path: 'x', target: '../../../canary/secret'}]], /which does not exist/],
  ]
  for (const [name, layers, message] of refused) {
    it(`refuses ${name} (exit 4) and leaves the canary and --out alone`, async () => {
      const {result, out} = await run(name.replace(/ /g, '-'), layers, 'rootfs')
      assert.equal(result.code, 4, result.stderr)
      assert.match(result.stderr, message)
      assert.equal(existsSync(join(out, 'rootfs.tar')), false)
      await canaryIntact()
    })
  }

  it('contains symlinks that point out of the root, absolute and relative, and a directory replaced by a link to / then written under: writes land inside the image, no host bytes in any output', async () => {
    const abs = canary // an absolute path on the host
    const layers: TarEntry[][] = [
      [
        {type: 'dir', path: 'etc'},
        {type: 'symlink', path: 'abs', target: abs},
        {type: 'file', path: 'abs/secret', data: 'written-through-abs'},
        {type: 'symlink', path: 'rel', target: '../../../../..' + abs},
        {type: 'file', path: 'rel/other', data: 'written-through-rel'},
        {type: 'symlink', path: 'host-secret', target: join(abs, 'secret')},
        {type: 'hardlink', path: 'linked-secret', target: 'host-secret'},
      ],
      [
        // The directory etc becomes a link to the root, then something is written under it.
        {type: 'symlink', path: 'etc', target: '/'},
        {type: 'file', path: 'etc/under-root', data: 'written-under-root'},
      ],
    ]
    const {result, out} = await run('contained', layers, 'build')
    assert.equal(result.code, 0, result.stderr)
    await canaryIntact()
    assert.equal(existsSync(join(canary, 'other')), false, 'nothing was written beside the canary')
    const tar = await readFile(join(out, 'rootfs.tar'))
    const cpio = gunzipSync(await readFile(join(out, 'initramfs.cpio.gz')))
    for (const [what, bytes] of [['rootfs.tar', tar], ['initramfs', cpio]] as const) {
      assert.equal(bytes.includes(Buffer.from(secret)), false, `the host's secret is in ${what}`)
      for (const written of ['written-through-abs', 'written-through-rel', 'written-under-root']) assert.ok(bytes.includes(Buffer.from(written)), `${written} is in ${what}`)
    }
    // The writes landed at their resolved paths inside the image.
    const names = tar.toString('latin1')
    assert.ok(names.includes(`${abs.slice(1)}/secret`), 'abs/secret went to <root>/<canary path>/secret')
    assert.ok(names.includes('under-root'), 'etc/under-root went to the root')
  })
})
