// The eif output end to end through the CLI (profiles/minimal-enclave.yaml): our own reader agrees
// with what build recorded and printed, inspect reads it, two builds on differently set up hosts give
// the same bytes, one changed byte moves PCR0 and PCR1 only, and the EIF's contents boot under QEMU.
import assert from 'node:assert/strict'
import {copyFile, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {buildInEnvironment, unlikeHosts} from '../helpers/build-env.js'
import {profileVariant, runCli} from '../helpers/cli.js'
import {readNewc} from '../../src/formats/cpio.js'
import {pcrOf, readEifFile} from '../helpers/eif-reader.js'

interface Built {
  eif: Buffer
  eifPath: string
  record: {stages: {eif: {sha256: string; crc32: string; pcrs: Record<string, string>; sections: {type: string; offset: number; size: number}[]}}; outputs: Record<string, {file: string; sha256: string}>}
  stdout: string
}

/** A build on a host set up as `env` and `options` say (test/helpers/build-env.ts), with its EIF read. */
async function buildIn(profile: string, cwd: string, env: Record<string, string>, options: {umask: string; oneCpu?: boolean; json?: boolean}): Promise<Built> {
  const {out, record, stdout} = await buildInEnvironment(profile, cwd, env, options)
  const eifPath = join(out, record.outputs.eif.file)
  return {eif: await readFile(eifPath), eifPath, record, stdout}
}

describe('e2e: Nitro Enclave image (profiles/minimal-enclave.yaml)', function () {
  this.timeout(300_000)
  let root: string
  let profile: string
  let a: Built
  let b: Built
  let changed: Built
  let nitro: Built

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'stagex-eif-e2e-'))
    profile = await profileVariant('minimal-enclave', root, 'minimal-enclave')
    const edited = await profileVariant('minimal-enclave', root, 'minimal-enclave-changed', (t) => t.replace('contents: "minimal-enclave\\n"', 'contents: "minimal-enclavE\\n"'))
    const [hostA, hostB] = unlikeHosts(root)
    a = await buildIn(profile, hostA.cwd, hostA.env, hostA.options)
    b = await buildIn(profile, hostB.cwd, hostB.env, hostB.options)
    changed = await buildIn(edited, join(root, 'c'), {}, {umask: '022'})
    // nitro-cli's layout; the fixture world has no enclave init or nsm.ko, so two files of core-busybox stand in.
    const split = await profileVariant('minimal-enclave', root, 'minimal-enclave-nitro', (t) =>
      t.replace('  ramdisks: single\n', '  ramdisks: nitro\n  bootstrap: {init: usr/bin/busybox, nsm: etc/os-release}\n  env: [HOME=/root]\n') + 'boot:\n  packages: [core-busybox]\n')
    nitro = await buildIn(split, join(root, 'n'), {}, {umask: '022'})
  })
  after(async () => {
    await rm(root, {recursive: true, force: true})
  })

  it('our own reader parses the EIF: magic, version, section order and sizes, the CRC, and PCRs by plain SHA-384 equal to build.json and to what build printed', () => {
    const eif = readEifFile(a.eif)
    assert.equal(eif.magic, '.eif')
    assert.equal(eif.version, 4)
    assert.equal(eif.defaultMem, 512n * 1024n * 1024n)
    assert.equal(eif.defaultCpus, 2n)
    assert.deepEqual(eif.sections.map((s) => s.name), ['kernel', 'cmdline', 'metadata', 'ramdisk'])
    const recorded = a.record.stages.eif
    assert.deepEqual(eif.sections.map((s) => ({type: s.name, offset: s.offset, size: s.size})), recorded.sections)
    assert.equal(eif.crc32, eif.computedCrc32)
    assert.equal(eif.crc32.toString(16).padStart(8, '0'), recorded.crc32)
    assert.deepEqual(eif.pcrs, recorded.pcrs)
    assert.match(eif.sections[1]!.data.toString('latin1'), /^reboot=k panic=30 pci=off nomodules console=ttyS0 .*random\.trust_cpu=on$/)
    const meta = JSON.parse(eif.sections[2]!.data.toString('utf8'))
    assert.deepEqual(meta.BuildMetadata, {BuildTime: '1970-01-01T00:00:01+00:00', BuildTool: 'stagex-image', BuildToolVersion: '0.1.0', OperatingSystem: 'Linux', KernelVersion: '6.1.192'})
    // The ramdisk is an uncompressed newc cpio holding the tree.
    assert.equal(eif.sections[3]!.data.subarray(0, 6).toString('latin1'), '070701')
    for (const [pcr, value] of Object.entries(recorded.pcrs)) assert.match(b.stdout, new RegExp(`^  ${pcr} +${value}  \\(Sha384, eif\\)$`, 'm'))
  })

  it('is reproducible: other TZ, locale, umask, HOME, folder and one CPU give the same EIF bytes and PCRs', () => {
    assert.ok(a.eif.equals(b.eif), 'same bytes')
    assert.deepEqual(a.record.stages.eif, b.record.stages.eif)
  })

  it('one changed byte of a file in the first ramdisk changes PCR0 and PCR1, not PCR2', () => {
    const [x, y] = [a.record.stages.eif.pcrs, changed.record.stages.eif.pcrs]
    assert.notEqual(x.PCR0, y.PCR0)
    assert.notEqual(x.PCR1, y.PCR1)
    assert.equal(x.PCR2, y.PCR2)
  })

  it('inspect --json reads the EIF: header, sections, CRC ok and the recorded PCRs; a changed byte fails the CRC (exit 4)', async () => {
    const result = runCli(['inspect', a.eifPath, '--json'])
    assert.equal(result.code, 0, result.stderr)
    const doc = JSON.parse(result.stdout)
    assert.equal(doc.header.magic, '.eif')
    assert.equal(doc.header.version, 4)
    assert.equal(doc.header.defaultMemory, 512 * 1024 * 1024)
    assert.deepEqual(doc.sections.map((s: {type: string; offset: number; size: number}) => ({type: s.type, offset: s.offset, size: s.size})), a.record.stages.eif.sections)
    assert.deepEqual(doc.crc, {stored: a.record.stages.eif.crc32, computed: a.record.stages.eif.crc32, ok: true})
    assert.deepEqual(doc.pcrs, a.record.stages.eif.pcrs)
    const human = runCli(['inspect', a.eifPath])
    assert.equal(human.code, 0)
    assert.match(human.stdout, new RegExp(`PCR0: ${a.record.stages.eif.pcrs.PCR0}`))
    const broken = join(root, 'broken.eif')
    await copyFile(a.eifPath, broken)
    const bytes = await readFile(broken)
    bytes[bytes.length - 1]! ^= 1
    await writeFile(broken, bytes)
    const bad = runCli(['inspect', broken, '--json'])
    assert.equal(bad.code, 4)
    assert.match(JSON.parse(bad.stdout).error.message, /CRC-32/)
    assert.equal(runCli(['inspect', profile]).code, 4, 'a YAML file is not an EIF')
  })

  it('test boots the EIF\'s kernel, cmdline and ramdisk under QEMU (TCG) to the profile\'s marker, saying Nitro is not here', () => {
    const result = runCli(['test', profile, '--out', join(root, 'boot'), '--accel', 'tcg', '--timeout', '120'], {timeout: 200_000})
    assert.equal(result.code, 0, result.stdout + result.stderr)
    assert.match(result.stderr, /the Nitro hypervisor is not available here/)
    // One line per passed step (with the output's name when test boots several).
    assert.match(result.stdout, /(eif +)?ok {3}(step 1: )?expect \/STAGEX-ENCLAVE-OK minimal-enclave\//)
  })

  it('ramdisks nitro: a bootstrap ramdisk (/dev, /init, /nsm.ko from boot.packages) in PCR1, the tree under /rootfs with /cmd and /env in PCR2', () => {
    const eif = readEifFile(nitro.eif)
    assert.deepEqual(eif.sections.map((s) => s.name), ['kernel', 'cmdline', 'metadata', 'ramdisk', 'ramdisk'])
    const bootstrap = readNewc(eif.sections[3]!.data)
    assert.deepEqual(bootstrap.map((r) => [r.name, (r.mode & 0o7777).toString(8)]), [['dev', '755'], ['init', '755'], ['nsm.ko', '755'], ['TRAILER!!!', '0']])
    const customer = readNewc(eif.sections[4]!.data)
    const byName = new Map(customer.map((r) => [r.name, r]))
    assert.deepEqual(customer.slice(0, 3).map((r) => r.name), ['cmd', 'env', 'rootfs'])
    assert.equal(Buffer.from(byName.get('cmd')!.data).toString(), '/init\n')
    assert.equal(Buffer.from(byName.get('env')!.data).toString(), 'HOME=/root\n')
    for (const dir of ['dev', 'run', 'sys', 'var', 'proc', 'tmp']) assert.ok(byName.has(`rootfs/${dir}`), dir)
    assert.match(Buffer.from(byName.get('rootfs/init')!.data).toString(), /STAGEX-ENCLAVE-OK/)
    assert.deepEqual(eif.pcrs, nitro.record.stages.eif.pcrs)
    assert.equal(eif.pcrs.PCR2, pcrOf([eif.sections[4]!.data]))
    assert.notEqual(eif.pcrs.PCR2, pcrOf([]))
    assert.deepEqual((nitro.record.stages.eif as unknown as {ramdisks: {role: string}[]}).ramdisks.map((r) => r.role), ['bootstrap', 'customer'])
  })
})
