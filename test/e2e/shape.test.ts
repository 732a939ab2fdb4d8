// profiles/minimal-shaped.yaml end to end: built with the CLI, booted under TCG; its init prints the
// user, group, files from the host, dir and symlink the profile added, and the test reads them back.
import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {REPO, runCli} from '../helpers/cli.js'

const PROFILE = join(REPO, 'profiles/minimal-shaped.yaml')

describe('e2e: a shaped root tree (profiles/minimal-shaped.yaml: users, groups, files from source, dirs, symlinks)', function () {
  this.timeout(600_000)
  let dir: string
  let outputs: Record<string, string>
  let record: {stages: {shape: Record<string, unknown>}}

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-shape-e2e-'))
    const built = runCli(['build', PROFILE, '--out', join(dir, 'out'), '--json'])
    assert.equal(built.code, 0, built.stderr + built.stdout)
    outputs = Object.fromEntries((JSON.parse(built.stdout).outputs as {kind: string; path: string}[]).map((o) => [o.kind, o.path]))
    record = JSON.parse(await readFile(join(dir, 'out', 'build.json'), 'utf8'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('records what the profile added in build.json (stages.shape), with no host path', () => {
    const shape = record.stages.shape
    assert.deepEqual(shape.users, [{name: 'signer', uid: 2000, gid: 2000, home: '/home/signer', shell: '/bin/sh'}])
    assert.deepEqual(shape.groups, [{name: 'signers', gid: 2000, members: ['signer']}])
    assert.deepEqual(shape.homes, ['/home/signer'])
    assert.deepEqual(shape.symlinks, [{path: '/etc/issue', target: 'motd'}])
    assert.deepEqual(shape.dirs, ['/var/lib/signer', '/usr/share/appliance'])
    const files = shape.files as {path: string; size: number; sha256: string}[]
    assert.deepEqual(
      files.map((f) => [f.path, f.size]),
      [
        ['/etc/hostname', 15],
        ['/etc/motd', 41],
        ['/usr/share/appliance/about.txt', 76],
        ['/usr/bin/appliance-init', files.find((f) => f.path === '/usr/bin/appliance-init')!.size],
      ],
    )
    for (const f of files) assert.match(f.sha256, /^sha256:[0-9a-f]{64}$/)
    assert.ok(!JSON.stringify(record).includes(REPO.replace(/\/$/, '')), 'no absolute path of this checkout')
  })

  it('boots, and the guest sees the user, the group, the files, the dir and the symlink as the profile gave them', async () => {
    const log = join(dir, 'console.log')
    const boot = runCli([
      'boot',
      '--kernel', outputs.kernel!,
      '--initrd', outputs.initramfs!,
      '--accel', 'tcg',
      '--expect', '^SHAPE id: uid=2000',
      '--expect', '^STAGEX-APPLIANCE-OK minimal-shaped ',
      '--timeout', '120',
      '--log', log,
      '--json',
    ])
    assert.equal(boot.code, 0, boot.stderr + boot.stdout)
    const console = (await readFile(log, 'utf8')).replaceAll('\r', '')
    const lines = console.split('\n').filter((l) => l.startsWith('SHAPE ') || l.startsWith('STAGEX-APPLIANCE-OK'))
    const exact = [
      'SHAPE stat: /home/signer drwx------ 2000:2000',
      'SHAPE stat: /var/lib/signer drwx------ 2000:2000',
      'SHAPE stat: /etc/motd -rw-r--r-- 0:0',
      'SHAPE stat: /etc/shadow -rw------- 0:0',
      'SHAPE stat: /usr/share/appliance drwxr-xr-x 0:0',
      'SHAPE stat: /usr/share/appliance/about.txt -r--r--r-- 0:0',
      'SHAPE link: /etc/issue -> motd',
      'SHAPE motd: Welcome to the minimal-shaped appliance.',
      'SHAPE passwd: signer:x:2000:2000::/home/signer:/bin/sh',
      'SHAPE shadow: signer:!:1::::::',
    ]
    for (const line of exact) assert.ok(lines.includes(line), `console shows ${JSON.stringify(line)}; it showed:\n${lines.join('\n')}`)
    assert.ok(lines.some((l) => /^SHAPE id: uid=2000\(signer\) gid=2000\(signers\)( groups=2000\(signers\))?$/.test(l)), lines.join('\n'))
    assert.ok(lines.some((l) => /^SHAPE ls \/home: drwx------ +\d+ 2000 +2000 +\d+ .+ signer$/.test(l)), lines.join('\n'))
    assert.ok(lines.some((l) => /^SHAPE ls \/home: drwxr-xr-x +\d+ 1000 +1000 +\d+ .+ user$/.test(l)), 'the package\'s home stays')
    assert.match(lines.at(-1)!, /^STAGEX-APPLIANCE-OK minimal-shaped /, 'the marker comes last')
  })
})
