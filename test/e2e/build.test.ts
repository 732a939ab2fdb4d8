// The minimal profile, built through the CLI: reproducible across hosts' settings, and readable by GNU cpio.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {readNewc} from '../../src/formats/cpio.js'
import {CLI, REPO} from '../helpers/cli.js'

const PROFILE = join(REPO, 'profiles/minimal.yaml')
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** Builds in its own working folder with the given environment and umask (on CPU 0 alone with `oneCpu`). */
function buildIn(workDir: string, env: Record<string, string>, umask: string, oneCpu = false) {
  const script = `umask ${umask} && exec ${oneCpu ? 'taskset -c 0 ' : ''}"${process.execPath}" "${CLI}" build "${PROFILE}" --out out --json`
  const result = spawnSync('sh', ['-c', script], {cwd: workDir, env: {...process.env, ...env}, encoding: 'utf8', timeout: 300_000})
  assert.equal(result.status, 0, result.stderr)
  return JSON.parse(result.stdout) as {outputs: {kind: string; path: string; sha256: string}[]}
}

describe('e2e: build profiles/minimal.yaml', function () {
  this.timeout(600_000)
  let root: string
  let first: ReturnType<typeof buildIn>
  let firstDir: string

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'stagex-build-'))
    firstDir = join(root, 'a', 'deeper', 'cwd')
    await mkdir(firstDir, {recursive: true})
    first = buildIn(firstDir, {TZ: 'UTC', LANG: 'C', LC_ALL: 'C', HOME: join(root, 'home-a')}, '022')
  })
  after(async () => {
    await rm(root, {recursive: true, force: true})
  })

  it('writes kernel, initramfs and build.json, each with its sha256', async () => {
    assert.deepEqual(first.outputs.map((o) => o.kind), ['kernel', 'initramfs', 'rootfs-tar', 'sbom', 'record'])
    for (const output of first.outputs) assert.equal(sha256(await readFile(output.path)), output.sha256, output.kind)
    const record = JSON.parse(await readFile(join(firstDir, 'out', 'build.json'), 'utf8'))
    assert.equal(record.profile.name, 'minimal')
    assert.match(record.profile.sha256, /^sha256:[0-9a-f]{64}$/)
    assert.deepEqual(record.inputs.map((i: {name: string}) => i.name), ['core-filesystem', 'core-busybox', 'user-linux-generic'])
    for (const input of record.inputs) assert.match(input.manifestDigest, /^sha256:[0-9a-f]{64}$/)
    for (const stage of ['flatten', 'shape', 'kernel', 'initramfs']) assert.match(record.stages[stage].sha256, /^[0-9a-f]{64}$/, stage)
    assert.equal(record.outputs.initramfs.sha256, first.outputs[1]!.sha256)
    assert.ok(!JSON.stringify(record).includes(root), 'the record holds no absolute path of this build')
    const sbom = JSON.parse(await readFile(join(firstDir, 'out', 'sbom.spdx.json'), 'utf8'))
    assert.equal(sbom.spdxVersion, 'SPDX-2.3')
    assert.deepEqual(
      sbom.packages.slice(1).map((p: {versionInfo: string}) => p.versionInfo),
      record.inputs.map((i: {manifestDigest: string}) => i.manifestDigest),
    )
    assert.equal(record.outputs.sbom.file, 'sbom.spdx.json')
  })

  it('gives identical bytes with another TZ, umask, LANG, HOME and working folder', async () => {
    const otherDir = join(root, 'b')
    await mkdir(otherDir, {recursive: true})
    const second = buildIn(otherDir, {TZ: 'Pacific/Kiritimati', LANG: 'de_DE.UTF-8', LC_ALL: 'tr_TR.UTF-8', HOME: join(root, 'home-b')}, '077')
    assert.deepEqual(
      second.outputs.map((o) => [o.kind, o.sha256]),
      first.outputs.map((o) => [o.kind, o.sha256]),
    )
  })

  it('gives identical bytes on one CPU (taskset -c 0: one compression thread) as on every CPU', async () => {
    const otherDir = join(root, 'one-cpu')
    await mkdir(otherDir, {recursive: true})
    const check = spawnSync('taskset', ['-c', '0', process.execPath, '-p', 'require("os").availableParallelism()'], {encoding: 'utf8'})
    assert.equal(check.stdout.trim(), '1', 'taskset -c 0 leaves one CPU to Node.js')
    const second = buildIn(otherDir, {HOME: join(root, 'home-one')}, '022', true)
    assert.deepEqual(
      second.outputs.map((o) => [o.kind, o.sha256]),
      first.outputs.map((o) => [o.kind, o.sha256]),
    )
  })

  it('changes the initramfs when SOURCE_DATE_EPOCH changes (and only then is the clamp visible)', async () => {
    const otherDir = join(root, 'c')
    await mkdir(otherDir, {recursive: true})
    const shifted = buildIn(otherDir, {SOURCE_DATE_EPOCH: '0'}, '022')
    assert.notEqual(shifted.outputs[1]!.sha256, first.outputs[1]!.sha256)
    assert.equal(shifted.outputs[0]!.sha256, first.outputs[0]!.sha256, 'the kernel is copied as it is')
  })

  it('GNU cpio lists and extracts our initramfs exactly: names, modes, owners, link targets, bytes', async () => {
    const cpioBytes = gunzipSync(await readFile(join(firstDir, 'out', 'initramfs.cpio.gz')))
    const records = readNewc(cpioBytes).filter((r) => r.name !== 'TRAILER!!!')
    const listed = execFileSync('cpio', ['-t', '--quiet'], {input: cpioBytes, encoding: 'utf8'}).trim().split('\n')
    assert.deepEqual(listed, records.map((r) => r.name))

    const extractDir = join(root, 'extract')
    await mkdir(extractDir)
    execFileSync('cpio', ['-i', '--quiet', '--make-directories', '--no-absolute-filenames', '--preserve-modification-time', '--numeric-uid-gid'], {
      input: cpioBytes,
      cwd: extractDir,
    })
    const inodeOf = new Map<number, number>()
    for (const record of records) {
      const path = join(extractDir, record.name)
      const stat = await lstat(path)
      const type = record.mode & 0o170000
      assert.equal(stat.mode & 0o170000, type, `${record.name}: type`)
      if (type !== 0o120000) assert.equal(stat.mode & 0o7777, record.mode & 0o7777, `${record.name}: mode`)
      assert.equal(stat.uid, record.uid, `${record.name}: uid`)
      assert.equal(stat.gid, record.gid, `${record.name}: gid`)
      if (type === 0o120000) assert.equal(await readlink(path), Buffer.from(record.data).toString('utf8'), `${record.name}: target`)
      if (type === 0o100000) {
        if (record.nlink > 1) {
          const seen = inodeOf.get(record.ino)
          if (seen === undefined) inodeOf.set(record.ino, stat.ino)
          else assert.equal(stat.ino, seen, `${record.name}: hardlinked`)
        }
        if (record.size > 0) assert.equal(sha256(await readFile(path)), sha256(record.data), `${record.name}: bytes`)
      }
      if (type === 0o020000) assert.equal(stat.rdev, (5 << 8) | 1, `${record.name}: console device`)
    }
    const busybox = await readFile(join(extractDir, 'usr/bin/busybox'))
    assert.deepEqual(busybox, await readFile('/bin/busybox'), 'busybox is the Debian binary, byte for byte')
    assert.equal(await readlink(join(extractDir, 'init')), '/usr/bin/appliance-init')
    assert.equal(await readlink(join(extractDir, 'bin')), 'usr/bin')
    assert.equal((await lstat(join(extractDir, 'tmp'))).mode & 0o7777, 0o1777)
    assert.ok((await readdir(join(extractDir, 'usr/bin'))).includes('sh'))
  })
})
