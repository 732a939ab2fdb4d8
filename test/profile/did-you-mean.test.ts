// Issue 10, "what a new user trips on": a mistyped profile field or value, or a mistyped command,
// gets the nearest valid name ("did you mean ...?"), only when one is close; an unquoted mode is
// refused with the quoted form to write. All through the CLI: exit 2, the file, the field path.
import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {nearestName} from '../../src/did-you-mean.js'
import {REPO, runCli} from '../helpers/cli.js'

const valid = `name: demo
source: oci:${join(REPO, '.cache/world/oci')}
trust:
  keyring: ${join(REPO, '.cache/world/keys/maintainers.pgp')}
  threshold: 2
packages:
  - core-busybox
kernel:
  package: user-linux-generic
files:
  - path: /usr/bin/init
    mode: "0755"
    contents: "#!/bin/sh\\n"
`

describe('did you mean: the nearest name, only when close', () => {
  it('finds one-edit typos, transpositions included, and offers nothing for a far or tied name', () => {
    assert.equal(nearestName('pakages', ['name', 'packages', 'kernel']), 'packages')
    assert.equal(nearestName('biuld', ['build', 'boot', 'check']), 'build')
    assert.equal(nearestName('dsk', ['kernel', 'initramfs', 'disk', 'esp', 'uki']), 'disk')
    assert.equal(nearestName('colour', ['name', 'packages', 'kernel']), undefined)
    assert.equal(nearestName('xyz', ['uki', 'esp']), undefined)
    assert.equal(nearestName('ab', ['ac', 'ad']), undefined, 'two equally near names: no guess')
  })
})

describe('cli: a mistyped profile field or value names the nearest valid one (exit 2)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-typo-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  async function buildFails(name: string, text: string): Promise<string> {
    const profile = join(dir, `${name}.yaml`)
    await writeFile(profile, text)
    const result = runCli(['build', profile, '--out', join(dir, `out-${name}`)])
    assert.equal(result.code, 2, result.stderr)
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace')
    return result.stderr
  }

  it('pakages: at the top level', async () => {
    const stderr = await buildFails('top', valid.replace('packages:', 'pakages:'))
    assert.match(stderr, /top\.yaml:6:1: unknown field "pakages": did you mean "packages"\? \(allowed here: name, /)
  })

  it('a mistyped key inside trust:', async () => {
    const stderr = await buildFails('trust', valid.replace('  threshold: 2', '  treshold: 2'))
    assert.match(stderr, /trust\.yaml:5:3: unknown field "trust\.treshold": did you mean "threshold"\?/)
  })

  it('outputs: [dsk]', async () => {
    const stderr = await buildFails('outputs', `${valid}outputs: [kernel, dsk]\n`)
    assert.match(stderr, /outputs\.yaml:14:19: field "outputs\[1\]" must be one of: kernel, initramfs, disk, .*, not "dsk": did you mean "disk"\?/)
  })

  it('no guess when nothing is close', async () => {
    const stderr = await buildFails('far', `${valid}colour: blue\n`)
    assert.match(stderr, /unknown field "colour" \(allowed here:/)
    assert.doesNotMatch(stderr, /did you mean/)
  })
})

describe('cli: an unquoted mode is refused with the quoted form to write (exit 2)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-mode-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  // YAML 1.2 (our parser) reads 0755 as the decimal 755, YAML 1.1 as octal 493: neither is taken.
  const cases: [string, string, RegExp][] = [
    ['files: mode: 0755', valid.replace('mode: "0755"', 'mode: 0755'), /m\.yaml:12:11: field "files\[0\]\.mode" must be a string, not 755: quote it, mode: "0755"/],
    ['files: mode: 0o700', valid.replace('mode: "0755"', 'mode: 0o700'), /field "files\[0\]\.mode" must be a string, not 448: quote it, mode: "0700"/],
    ['files: dirMode: 755', valid.replace('mode: "0755"', 'dirMode: 755'), /field "files\[0\]\.dirMode" must be a string, not 755: quote it, dirMode: "0755"/],
    ['dirs: mode: 0750', `${valid}dirs:\n  - {path: /srv, mode: 0750}\n`, /field "dirs\[0\]\.mode" must be a string, not 750: quote it, mode: "0750"/],
  ]
  for (const [name, text, expected] of cases)
    it(name, async () => {
      const profile = join(dir, 'm.yaml')
      await writeFile(profile, text)
      const result = runCli(['build', profile, '--out', join(dir, 'out')])
      assert.equal(result.code, 2, result.stderr)
      assert.match(result.stderr, expected)
      assert.match(result.stderr, /YAML 1\.2 .* YAML 1\.1/)
    })

  it('a quoted mode is accepted as octal', async () => {
    const {parseProfile} = await import('../../src/profile/load.js')
    const profile = parseProfile(Buffer.from(valid), join(dir, 'ok.yaml'))
    assert.equal(profile.files[0]!.mode, 0o755)
  })
})

describe('cli: a mistyped command', () => {
  it('biuld: one line naming build, exit 2', () => {
    const result = runCli(['biuld', 'profiles/minimal.yaml'], {cwd: REPO})
    assert.equal(result.code, 2, result.stderr)
    assert.equal(result.stdout, '')
    assert.equal(result.stderr, 'error: "biuld" is not a stagex-image command: did you mean "build"? (stagex-image --help lists them)\n')
  })

  it('with --json: the failure document on stdout', () => {
    const result = runCli(['chekc', 'profiles/minimal.yaml', '--json'], {cwd: REPO})
    assert.equal(result.code, 2, result.stderr)
    const doc = JSON.parse(result.stdout) as {error: {kind: string; exitCode: number; message: string}}
    assert.deepEqual([doc.error.kind, doc.error.exitCode], ['usage', 2])
    assert.match(doc.error.message, /did you mean "check"\?/)
  })

  it('nothing close: no guess, still exit 2', () => {
    const result = runCli(['frobnicate'])
    assert.equal(result.code, 2, result.stderr)
    assert.equal(result.stderr, 'error: "frobnicate" is not a stagex-image command (stagex-image --help lists them)\n')
  })
})
