// The UEFI disk profiles end to end through the CLI: host tools agree with our bytes, OVMF boots the
// syslinux disk under TCG (the UKI disk boots through `test` in test-steps.test.ts, with the UKI and
// the initramfs), builds are reproducible across hosts' settings, and one changed input byte moves
// the disk hash and the seed.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CLI, REPO, runCli} from '../helpers/cli.js'

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
const mtoolsEnv = {...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C.UTF-8'}
const BOOT_DEADLINE = '180'

interface Built {
  dir: string
  outputs: {kind: string; path: string; sha256: string; size: number}[]
  record: {
    seed: {value: string}
    stages: Record<string, any>
    outputs: Record<string, {file: string; sha256: string}>
  }
}

/** Builds a profile in its own working folder with the given environment and umask. */
async function buildIn(profile: string, workDir: string, env: Record<string, string> = {}, umask = '022'): Promise<Built> {
  await mkdir(workDir, {recursive: true})
  const script = `umask ${umask} && exec "${process.execPath}" "${CLI}" build "${profile}" --out out --json`
  const result = spawnSync('sh', ['-c', script], {cwd: workDir, env: {...process.env, ...env}, encoding: 'utf8', timeout: 300_000})
  assert.equal(result.status, 0, result.stderr)
  const dir = join(workDir, 'out')
  return {dir, outputs: JSON.parse(result.stdout).outputs, record: JSON.parse(await readFile(join(dir, 'build.json'), 'utf8'))}
}

const pathOf = (built: Built, kind: string) => built.outputs.find((o) => o.kind === kind)!.path
const hashOf = (built: Built, kind: string) => built.outputs.find((o) => o.kind === kind)!.sha256

/** A copy of a repository profile with absolute paths, edited by `edit`. */
async function profileCopy(dir: string, name: string, edit: (text: string) => string = (t) => t, as = name): Promise<string> {
  const text = (await readFile(join(REPO, 'profiles', name), 'utf8'))
    .replace('oci:../.cache/world/oci', `oci:${join(REPO, '.cache/world/oci')}`)
    .replace('../kernel/initramfs-boot.config', join(REPO, 'kernel/initramfs-boot.config'))
  const path = join(dir, as)
  await writeFile(path, edit(text))
  return path
}

function bootDisk(disk: string, expect: string, timeout = BOOT_DEADLINE) {
  return runCli(['boot', disk, '--firmware', 'uefi', '--accel', 'tcg', '--timeout', timeout, '--expect', expect, '--json'], {timeout: 300_000})
}

describe('e2e: UEFI disk images (profiles/minimal-syslinux.yaml, profiles/minimal-uki.yaml)', function () {
  this.timeout(900_000)
  let root: string
  let syslinux: Built
  let uki: Built

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'stagex-disk-e2e-'))
    syslinux = await buildIn(join(REPO, 'profiles/minimal-syslinux.yaml'), join(root, 'syslinux', 'deep', 'cwd'), {TZ: 'UTC', LANG: 'C', LC_ALL: 'C', HOME: join(root, 'home-a')})
    uki = await buildIn(join(REPO, 'profiles/minimal-uki.yaml'), join(root, 'uki'))
  })
  after(async () => {
    await rm(root, {recursive: true, force: true})
  })

  it('writes kernel, initramfs, esp, disk (and the UKI) and records the seed and each stage\'s sha256', () => {
    assert.deepEqual(syslinux.outputs.map((o) => o.kind), ['kernel', 'initramfs', 'esp', 'disk', 'sbom', 'record'])
    assert.deepEqual(uki.outputs.map((o) => o.kind), ['kernel', 'initramfs', 'uki', 'esp', 'disk', 'sbom', 'record'])
    for (const built of [syslinux, uki]) {
      const {record} = built
      assert.match(record.seed.value, /^[0-9a-f]{32}$/)
      assert.equal(record.stages.initramfs.sha256, hashOf(built, 'initramfs'))
      assert.equal(record.stages.esp.sha256, hashOf(built, 'esp'))
      assert.equal(record.stages.disk.sha256, hashOf(built, 'disk'))
      assert.equal(record.outputs.disk!.file, 'disk.raw')
      assert.ok(!JSON.stringify(record).includes(root), 'no absolute path of this build in the record')
    }
    assert.deepEqual(syslinux.record.stages.loader.files.map((f: {role: string; from: string}) => [f.role, f.from]), [
      ['syslinux.efi', 'boot:/usr/share/syslinux/efi64/syslinux.efi'],
      ['ldlinux.e64', 'boot:/usr/share/syslinux/efi64/ldlinux.e64'],
    ])
    assert.deepEqual(uki.record.stages.loader.files.map((f: {role: string; from: string}) => [f.role, f.from]), [
      ['stub', 'boot:/usr/lib/systemd/boot/efi/linuxx64.efi.stub'],
      ['os-release', 'rootfs:/etc/os-release'],
    ])
  })

  it('fsck.fat finds nothing to fix in the ESP, alone and inside the disk', async () => {
    for (const built of [syslinux, uki]) {
      const esp = pathOf(built, 'esp')
      const check = spawnSync('fsck.fat', ['-n', esp], {encoding: 'utf8'})
      assert.equal(check.status, 0, check.stdout + check.stderr)
      const disk = await readFile(pathOf(built, 'disk'))
      const part = built.record.stages.disk.partitions[0]
      const inside = disk.subarray(part.firstLba * 512, (part.lastLba + 1) * 512)
      assert.equal(sha256(inside), built.record.stages.esp.sha256, 'the partition holds the esp output byte for byte')
    }
  })

  it('mtools lists every ESP file inside the disk and reads each back byte for byte', async () => {
    for (const built of [syslinux, uki]) {
      const image = `${pathOf(built, 'disk')}@@${built.record.stages.disk.partitions[0].firstLba * 512}`
      const listed = execFileSync('mdir', ['-/', '-b', '-i', image, '::'], {env: mtoolsEnv, encoding: 'utf8'}).trim().split('\n').filter((l) => !l.endsWith('/'))
      const files = built.record.stages.esp.files as {path: string; sha256: string}[]
      assert.deepEqual(listed.sort(), files.map((f) => `::/${f.path}`).sort())
      for (const f of files) assert.equal(sha256(execFileSync('mtype', ['-i', image, `::/${f.path}`], {env: mtoolsEnv, maxBuffer: 1 << 27})), f.sha256, f.path)
    }
    const image = pathOf(syslinux, 'esp')
    const cfg = execFileSync('mtype', ['-i', image, '::/EFI/BOOT/SYSLINUX.CFG'], {env: mtoolsEnv, encoding: 'utf8'})
    assert.match(cfg, /^ {2}APPEND console=ttyS0 panic=-1 quiet$/m)
    assert.equal(sha256(execFileSync('mtype', ['-i', image, '::/LINUX'], {env: mtoolsEnv, maxBuffer: 1 << 27})), hashOf(syslinux, 'kernel'))
    assert.equal(sha256(execFileSync('mtype', ['-i', image, '::/INITRD'], {env: mtoolsEnv, maxBuffer: 1 << 27})), hashOf(syslinux, 'initramfs'))
    const bootx64 = execFileSync('mtype', ['-i', pathOf(uki, 'esp'), '::/EFI/BOOT/BOOTX64.EFI'], {env: mtoolsEnv, maxBuffer: 1 << 27})
    assert.equal(sha256(bootx64), hashOf(uki, 'uki'), 'the UKI on the ESP is the uki output')
  })

  it('sfdisk --verify is clean and reports the GUIDs of the record; mdir shows the seeded serial', () => {
    for (const built of [syslinux, uki]) {
      const disk = pathOf(built, 'disk')
      assert.match(execFileSync('sfdisk', ['--verify', disk], {encoding: 'utf8'}), /No errors detected/)
      const table = JSON.parse(execFileSync('sfdisk', ['--json', disk], {encoding: 'utf8'})).partitiontable
      assert.equal(table.label, 'gpt')
      assert.equal(table.id, built.record.stages.disk.diskGuid)
      assert.equal(table.partitions.length, 1)
      assert.equal(table.partitions[0].uuid, built.record.stages.disk.partitions[0].uniqueGuid)
      assert.equal(table.partitions[0].type, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B')
      assert.equal(table.partitions[0].name, 'esp')
      const serial = built.record.stages.esp.volumeId as string
      const listing = execFileSync('mdir', ['-i', pathOf(built, 'esp'), '::'], {env: mtoolsEnv, encoding: 'utf8'})
      assert.match(listing, new RegExp(`Volume Serial Number is ${serial.slice(0, 4)}-${serial.slice(4)}`))
    }
  })

  it('objdump -h shows the UKI\'s sections at the recorded addresses', () => {
    const out = execFileSync('objdump', ['-h', pathOf(uki, 'uki')], {encoding: 'utf8'})
    const sections = new Map<string, {size: number; vma: number; offset: number}>()
    for (const m of out.matchAll(/^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)/gm))
      sections.set(m[1]!, {size: parseInt(m[2]!, 16), vma: parseInt(m[3]!, 16), offset: parseInt(m[4]!, 16)})
    const placed = uki.record.stages.uki.sections as {name: string; virtualAddress: number; virtualSize: number; pointerToRawData: number}[]
    assert.deepEqual(placed.map((s) => s.name), ['.osrel', '.cmdline', '.initrd', '.linux'])
    for (const s of placed) {
      // objdump adds the image base (0 for systemd's stub... or not): compare relative to .osrel's RVA.
      const seen = sections.get(s.name)
      assert.ok(seen, `${s.name} listed`)
      assert.equal(seen.size, s.virtualSize, `${s.name} size`)
      assert.equal(seen.offset, s.pointerToRawData, `${s.name} file offset`)
      assert.equal(seen.vma - sections.get('.osrel')!.vma, s.virtualAddress - placed[0]!.virtualAddress, `${s.name} address`)
    }
    assert.equal(sections.get('.linux')!.size, (syslinux.outputs.find((o) => o.kind === 'kernel')!.size))
  })

  it('boots the syslinux disk under OVMF (TCG) to its marker: boot DISK --firmware uefi', () => {
    const result = bootDisk(pathOf(syslinux, 'disk'), 'STAGEX-APPLIANCE-OK minimal-syslinux')
    assert.equal(result.code, 0, result.stderr + result.stdout)
    const report = JSON.parse(result.stdout)
    assert.equal(report.outcome, 'passed')
    assert.ok(report.qemuArgv.some((a: string) => a.includes('snapshot=on') || a.includes('readonly=on')), 'the disk is never written')
    console.log(`      syslinux disk: marker at ${report.seen[0].atSeconds.toFixed(1)} s`)
  })

  it('exit codes as for direct boot: 6 at the deadline, 5 when the guest powers off without the expectation', () => {
    const started = Date.now()
    const timedOut = bootDisk(pathOf(syslinux, 'disk'), 'THIS-NEVER-APPEARS', '3')
    assert.equal(timedOut.code, 6, timedOut.stderr)
    assert.ok(Date.now() - started < 60_000)
    const ended = bootDisk(pathOf(syslinux, 'disk'), 'THIS-NEVER-APPEARS')
    assert.equal(ended.code, 5, ended.stderr)
    assert.equal(JSON.parse(ended.stdout).error.result.outcome, 'failed')
  })

  it('gives the same disk, ESP and seed with another TZ, umask, LANG, HOME and working folder', async () => {
    const other = await buildIn(join(REPO, 'profiles/minimal-syslinux.yaml'), join(root, 'other'), {
      TZ: 'Pacific/Kiritimati',
      LANG: 'de_DE.UTF-8',
      LC_ALL: 'tr_TR.UTF-8',
      HOME: join(root, 'home-b'),
    }, '077')
    assert.deepEqual(other.outputs.map((o) => [o.kind, o.sha256]), syslinux.outputs.map((o) => [o.kind, o.sha256]))
    assert.equal(other.record.seed.value, syslinux.record.seed.value)
  })

  it('one changed byte in one input file changes the disk hash and the seed', async () => {
    const profile = await profileCopy(root, 'minimal-syslinux.yaml', (text) => text.replace('contents: "minimal-syslinux\\n"', 'contents: "minimal-syslinuX\\n"'), 'changed.yaml')
    const same = await buildIn(await profileCopy(root, 'minimal-syslinux.yaml', (t) => t, 'same.yaml'), join(root, 'same'))
    assert.equal(hashOf(same, 'disk'), hashOf(syslinux, 'disk'), 'the copy with absolute paths builds the same disk')
    const changed = await buildIn(profile, join(root, 'changed'))
    assert.notEqual(hashOf(changed, 'disk'), hashOf(syslinux, 'disk'))
    assert.notEqual(changed.record.seed.value, syslinux.record.seed.value)
    assert.notEqual(changed.record.stages.disk.diskGuid, syslinux.record.stages.disk.diskGuid)
    assert.equal(hashOf(changed, 'kernel'), hashOf(syslinux, 'kernel'))
  })
})
