import assert from 'node:assert/strict'
import {mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {isStagexError} from '../../src/errors.js'
import {loadProfile, parseProfile} from '../../src/profile/load.js'
import {profileErrorOf} from '../helpers/profile.js'
import {REPO, runCli} from '../helpers/cli.js'

const valid = `name: demo
source: oci:../.cache/world/oci
packages:
  - core-busybox
kernel:
  package: user-linux-generic
`


describe('profile: loader', () => {
  it('loads a valid profile with defaults and paths resolved against its folder', () => {
    const profile = parseProfile(Buffer.from(valid), '/work/p/demo.yaml')
    assert.equal(profile.name, 'demo')
    assert.deepEqual(profile.packages, ['core-busybox'])
    assert.equal(profile.source, '/work/.cache/world/oci')
    assert.equal(profile.registry, 'docker.io/stagex')
    assert.equal(profile.kernel!.cmdline, 'console=ttyS0 panic=-1')
    assert.equal(profile.initramfs.compression, 'gzip')
    assert.match(profile.sha256, /^sha256:[0-9a-f]{64}$/)
  })

  it('names file, line, column and field of an unknown field', () => {
    const message = profileErrorOf(`${valid}colour: blue\n`)
    assert.equal(message, 'demo.yaml:7:1: unknown field "colour" (allowed here: name, sourceDateEpoch, registry, mirror, source, trust, packages, kernel, boot, init, files, dirs, symlinks, users, groups, keep, allowMissing, prune, initramfs, outputs, iso, eif, test)')
  })

  it('names a nested unknown field at its key', () => {
    assert.match(profileErrorOf(valid.replace('  package: user-linux-generic', '  package: user-linux-generic\n  initrd: x')), /^demo\.yaml:7:3: unknown field "kernel\.initrd"/)
  })

  it('names a field of the wrong type with its value', () => {
    assert.match(profileErrorOf(`${valid}sourceDateEpoch: soon\n`), /^demo\.yaml:7:18: field "sourceDateEpoch" must be an integer, not "soon"$/)
    assert.match(profileErrorOf(valid.replace('  - core-busybox', '  - 42')), /^demo\.yaml:4:5: field "packages\[0\]" must be a string, not 42$/)
  })

  it('names a missing required field', () => {
    assert.match(profileErrorOf(valid.replace(/packages:\n {2}- core-busybox\n/, '')), /^demo\.yaml:1:1: missing required field "packages"$/)
    assert.match(profileErrorOf(valid.replace('kernel:\n  package: user-linux-generic\n', 'kernel: {}\n')), /^demo\.yaml:5:9: missing required field "kernel\.package"$/)
  })

  it('reports YAML syntax errors with a position', () => {
    assert.match(profileErrorOf('name: [unclosed\n'), /^demo\.yaml:\d+:\d+: invalid YAML/)
  })

  it('reports every problem, not only the first', () => {
    const message = profileErrorOf(`${valid}prune: some\noutputs: [floppy]\n`)
    assert.match(message, /demo\.yaml:7:8: field "prune" must be one of: default, none/)
    assert.match(message, /demo\.yaml:8:11: field "outputs\[0\]" must be one of:/)
  })

  it('refuses a file that does not exist, with exit 2', async () => {
    await assert.rejects(loadProfile('/nonexistent/profile.yaml'), (e: unknown) => isStagexError(e) && e.exitCode === 2 && /no such file/.test(e.message))
  })
})

describe('cli: invalid profiles exit 2 with file:line:col and the field, and write nothing', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-profile-'))
  })

  const cases: [string, string, RegExp][] = [
    ['unknown field', `${valid}colour: blue\n`, /bad\.yaml:7:1: unknown field "colour"/],
    ['wrong type', valid.replace('name: demo', 'name: [demo]'), /bad\.yaml:1:7: field "name" must be a string, not a list/],
    ['missing packages', valid.replace(/packages:\n {2}- core-busybox\n/, ''), /bad\.yaml:1:1: missing required field "packages"/],
    ['a package not in the source', valid.replace('core-busybox', 'core-nonexistent'), /bad\.yaml:4:5: package "core-nonexistent"/],
  ]
  for (const [name, text, expected] of cases) {
    it(name, async () => {
      const profile = join(dir, 'profiles', 'bad.yaml')
      await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'profiles'), {recursive: true}))
      await writeFile(profile, text.replace('oci:../.cache/world/oci', `oci:${join(REPO, '.cache/world/oci')}`))
      const out = join(dir, 'out-' + name.replaceAll(' ', '-'))
      const result = runCli(['build', profile, '--out', out])
      assert.equal(result.code, 2, result.stderr)
      assert.match(result.stderr, expected)
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace for a user mistake')
      const fs = await import('node:fs/promises')
      const written = await fs.readdir(out).catch(() => [])
      assert.deepEqual(written, [], 'nothing is written for an invalid profile')
    })
  }
})
