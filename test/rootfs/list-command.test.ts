// `rootfs PROFILE --list [--json]` through the built CLI (npm run -s build first): the listing a
// person audits, one sorted line per entry with its package, and the same as one JSON document.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {profileVariant, REPO, runCli} from '../helpers/cli.js'

describe('rootfs --list', function () {
  this.timeout(300_000)
  let dir: string
  let profile: string
  before(async function () {
    if (!existsSync(join(REPO, '.cache/world/oci'))) this.skip() // scripts/setup.sh builds the fixture world
    dir = await mkdtemp(join(tmpdir(), 'stagex-list-'))
    profile = await profileVariant('minimal', dir, 'minimal')
  })
  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('prints one line per entry in UTF-8 order: path, type, mode, owner, size, sha256 or target, package; and writes no tar', async () => {
    const before = await readdir(dir)
    const result = runCli(['rootfs', profile, '--list'], {cwd: dir})
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(await readdir(dir), before, '--list alone writes nothing')
    const lines = result.stdout.trimEnd().split('\n')
    const paths = lines.map((l) => l.split('\t')[0]!)
    assert.deepEqual(paths, [...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
    assert.equal(paths[0], '/')
    for (const line of lines) assert.equal(line.split('\t').length, 7, line)
    assert.ok(lines.some((l) => /^\/usr\/bin\/busybox\tfile\t0755\t0:0\t\d+\tsha256:[0-9a-f]{64}\tcore-busybox$/.test(l)))
    assert.ok(lines.includes('/bin\tsymlink\t0777\t0:0\t0\t-> usr/bin\tcore-busybox'))
    assert.ok(lines.some((l) => /^\/usr\/bin\/true\tfile\t0755\t0:0\t\d+\t=> \/usr\/bin\/busybox\tcore-busybox$/.test(l)))
    // The profile's own file: hashed from the spool, provenance "profile".
    assert.ok(lines.includes(`/etc/hostname\tfile\t0644\t0:0\t8\tsha256:${createHash('sha256').update('minimal\n').digest('hex')}\tprofile`))
    assert.ok(lines.includes('/dev/console\tchar\t0600\t0:0\t0\t5,1\tprofile'))
  })

  it('--json gives the same entries as one document, each with its layer digest; --out and --list together write the tar too', async () => {
    const text = runCli(['rootfs', profile, '--list'], {cwd: dir})
    const json = runCli(['rootfs', profile, '--list', '--json', '--out', join(dir, 'root.tar')], {cwd: dir})
    assert.equal(json.code, 0, json.stderr)
    const doc = JSON.parse(json.stdout) as {profile: string; treeSha256: string; tar: {path: string; sha256: string}; entries: {path: string; package: string; layer?: string}[]}
    assert.equal(doc.profile, 'minimal')
    assert.equal(doc.tar.path, join(dir, 'root.tar'))
    assert.ok(existsSync(doc.tar.path))
    assert.deepEqual(doc.entries.map((e) => e.path), text.stdout.trimEnd().split('\n').map((l) => l.split('\t')[0]))
    const busybox = doc.entries.find((e) => e.path === '/usr/bin/busybox')!
    assert.match(busybox.layer ?? '', /^sha256:[0-9a-f]{64}$/)
    assert.equal(doc.entries.find((e) => e.path === '/etc/hostname')!.layer, undefined)
  })

  it('exits 2 when asked for no output (no --out, no --list)', () => {
    const result = runCli(['rootfs', profile])
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /give --out FILE\.tar, --list/)
  })
})
