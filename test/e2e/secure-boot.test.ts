// Secure Boot end to end: profiles/minimal-uki.yaml with boot.secureBoot and Debian's snakeoil key
// (enrolled as db in OVMF_VARS_4M.snakeoil.fd). The signed UKI passes sbverify and osslsigncode, two
// builds are byte-identical, the signed disk boots under OVMF Secure Boot, and the firmware refuses
// the unsigned disk and a signed one with one UKI byte changed (exit 5, the refusal named, no
// timeout); the ISO's ESP carries the same signed UKI. reproduce, without the key, attaches the
// recorded signature and gets the same bytes.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {profileVariant, REPO, runCli} from '../helpers/cli.js'

const SNAKEOIL_KEY = '/usr/share/ovmf/PkKek-1-snakeoil.key'
const SNAKEOIL_CERT = '/usr/share/ovmf/PkKek-1-snakeoil.pem'
const MARKER = 'STAGEX-APPLIANCE-OK minimal-uki'
const BOOT_DEADLINE = '120'
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

const STUB_LINE = '  stub: user-systemd-stub\n'
const OUTPUTS_LINE = 'outputs: [kernel, initramfs, uki, esp, disk]\n'
const SECURE_BOOT = '  secureBoot:\n    key: db.key\n    cert: db.pem\n    passphraseFile: passphrase\n'

/** minimal-uki with other outputs, boot.secureBoot and the loader as given. */
const variant = (dir: string, name: string, options: {outputs: string; secureBoot?: string; loader?: string}) =>
  profileVariant('minimal-uki', dir, name, (text) => {
    assert.ok(text.includes(STUB_LINE) && text.includes(OUTPUTS_LINE), 'profiles/minimal-uki.yaml changed: update this test')
    let out = text.replace(OUTPUTS_LINE, `outputs: [${options.outputs}]\n`).replace(STUB_LINE, STUB_LINE + (options.secureBoot ?? ''))
    if (options.loader) out = out.replace('  loader: uki\n', `  loader: ${options.loader}\n  packages: [user-syslinux]\n`)
    return out
  })

function build(profile: string, out: string, env: Record<string, string> = {}) {
  const result = runCli(['build', profile, '--out', out, '--json'], {env: {...process.env, ...env}, timeout: 300_000})
  return {...result, json: result.stdout ? JSON.parse(result.stdout) : undefined}
}

function bootSecure(disk: string) {
  const result = runCli(['boot', disk, '--secure-boot', '--accel', 'tcg', '--timeout', BOOT_DEADLINE, '--expect', MARKER, '--json'], {timeout: 300_000})
  return {...result, json: JSON.parse(result.stdout)}
}

describe('e2e: Secure Boot (boot.secureBoot, the snakeoil db key, OVMF secboot)', function () {
  this.timeout(600_000)
  let dir: string
  let signedA: string
  let signedB: string
  let unsigned: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-secure-boot-e2e-'))
    await copyFile(SNAKEOIL_KEY, join(dir, 'db.key'))
    await copyFile(SNAKEOIL_CERT, join(dir, 'db.pem'))
    await writeFile(join(dir, 'passphrase'), 'snakeoil\n')
    const signed = await variant(dir, 'signed', {outputs: 'uki, disk', secureBoot: SECURE_BOOT})
    const plain = await variant(dir, 'unsigned', {outputs: 'disk'})
    signedA = join(dir, 'a')
    signedB = join(dir, 'b', 'deeper')
    unsigned = join(dir, 'unsigned-out')
    await mkdir(join(dir, 'b'))
    for (const [profile, out, env] of [
      [signed, signedA, {}],
      [signed, signedB, {TZ: 'Asia/Tokyo', LC_ALL: 'C', HOME: join(dir, 'b')}],
      [plain, unsigned, {}],
    ] as const) {
      const result = build(profile, out, env)
      assert.equal(result.code, 0, result.stderr)
    }
  })
  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('signs the UKI: sbverify --cert and osslsigncode verify accept it; two builds are byte-identical; build.json names the signer, never the key', async () => {
    const uki = join(signedA, 'uki.efi')
    const sbverify = spawnSync('sbverify', ['--cert', SNAKEOIL_CERT, uki], {encoding: 'utf8'})
    assert.equal(sbverify.status, 0, sbverify.stderr)
    const osslsigncode = spawnSync('osslsigncode', ['verify', '-CAfile', SNAKEOIL_CERT, '-in', uki], {encoding: 'utf8'})
    assert.equal(osslsigncode.status, 0, osslsigncode.stdout + osslsigncode.stderr)
    for (const file of ['uki.efi', 'disk.raw', 'build.json'])
      assert.equal(sha256(await readFile(join(signedA, file))), sha256(await readFile(join(signedB, file))), file)
    const recordText = await readFile(join(signedA, 'build.json'), 'utf8')
    const record = JSON.parse(recordText)
    const signature = record.stages.uki.signature
    assert.equal(signature.format, 'authenticode')
    assert.match(signature.signer, /O=SnakeOil/)
    assert.equal(signature.signingTime, '1970-01-01T00:00:01.000Z') // the profile's sourceDateEpoch: 1
    assert.match(osslsigncode.stdout, new RegExp(`Current message digest\\s*: ${signature.authenticodeSha256}`, 'i'))
    assert.deepEqual(record.recipe.profile.boot.secureBoot, {key: {local: true}, cert: {recipe: 'boot.secureBoot.cert'}})
    const key = await readFile(SNAKEOIL_KEY, 'utf8')
    assert.ok(!recordText.includes(key.split('\n')[1]!), 'no key bytes in build.json')
    assert.doesNotMatch(recordText, /snakeoil\n|db\.key|PRIVATE KEY|passphrase/)
    // The ESP's BOOTX64.EFI is the signed UKI.
    const esp = record.stages.esp.files.find((f: {path: string}) => /BOOTX64\.EFI$/i.test(f.path))
    assert.equal(esp.sha256, record.stages.uki.sha256)
  })

  it('the signed disk boots to the marker under OVMF Secure Boot with the snakeoil db', () => {
    const result = bootSecure(join(signedA, 'disk.raw'))
    assert.equal(result.code, 0, result.stdout)
    assert.equal(result.json.outcome, 'passed')
  })

  /** The firmware's refusal: exit 5, outcome failed, the BdsDxe line named, well before the deadline. */
  const assertRefused = (result: ReturnType<typeof bootSecure>) => {
    assert.equal(result.code, 5, result.stdout)
    assert.equal(result.json.error.kind, 'boot-failed')
    const boot = result.json.error.result
    assert.equal(boot.outcome, 'failed')
    assert.match(boot.reason, /refused the boot image under Secure Boot/)
    assert.match(boot.reason, /BdsDxe: failed to load Boot0001 .*: Access Denied/)
    assert.ok(boot.seconds < Number(BOOT_DEADLINE) / 2, `refused after ${boot.seconds}s`)
  }

  it('the unsigned disk is refused by the firmware (exit 5, Access Denied), not timed out', () => {
    assertRefused(bootSecure(join(unsigned, 'disk.raw')))
  })

  it('a signed disk with one byte of its UKI changed is refused the same way', async () => {
    const disk = await readFile(join(signedA, 'disk.raw'))
    const uki = await readFile(join(signedA, 'uki.efi'))
    const at = disk.indexOf(uki.subarray(0, 64 * 1024))
    assert.ok(at > 0 && disk.subarray(at, at + uki.length).equals(uki), 'the UKI lies in one piece inside the ESP')
    const record = JSON.parse(await readFile(join(signedA, 'build.json'), 'utf8'))
    const linux = record.stages.uki.sections.find((s: {name: string}) => s.name === '.linux')
    disk[at + linux.pointerToRawData + 4096] ^= 0x01
    const changed = join(dir, 'changed.raw')
    await writeFile(changed, disk)
    assertRefused(bootSecure(changed))
  })

  it("the ISO carries the same signed UKI: minimal-iso with boot.secureBoot boots from a CD-ROM under Secure Boot", async () => {
    const profile = await profileVariant('minimal-iso', dir, 'iso-signed', (text) => {
      assert.ok(text.includes(STUB_LINE), 'profiles/minimal-iso.yaml changed: update this test')
      return text.replace(STUB_LINE, STUB_LINE + SECURE_BOOT)
    })
    const built = build(profile, join(dir, 'iso-out'))
    assert.equal(built.code, 0, built.stderr)
    const record = JSON.parse(await readFile(join(dir, 'iso-out', 'build.json'), 'utf8'))
    assert.equal(record.stages.uki.signature.certSha256, JSON.parse(await readFile(join(signedA, 'build.json'), 'utf8')).stages.uki.signature.certSha256)
    const result = runCli(['boot', join(dir, 'iso-out', 'image.iso'), '--cdrom', '--secure-boot', '--accel', 'tcg', '--timeout', BOOT_DEADLINE, '--expect', 'STAGEX-APPLIANCE-OK minimal-iso', '--json'], {timeout: 300_000})
    assert.equal(result.code, 0, result.stdout)
  })

  it('reproduce without the key: the recorded signature is attached again and every stage is identical', async () => {
    await rename(join(dir, 'db.key'), join(dir, 'db.key.away'))
    try {
      const result = runCli(['reproduce', signedA, '--source', `oci:${join(REPO, '.cache/world/oci')}`, '--json'], {timeout: 300_000})
      assert.equal(result.code, 0, result.stdout + result.stderr)
      assert.equal(JSON.parse(result.stdout).identical, true)
    } finally {
      await rename(join(dir, 'db.key.away'), join(dir, 'db.key'))
    }
  })

  it('refuses boot.secureBoot with loader syslinux (exit 2, the reason), a wrong passphrase (exit 2), and names a misspelt field', async () => {
    const syslinux = build(await variant(dir, 'syslinux', {outputs: 'disk', secureBoot: SECURE_BOOT, loader: 'syslinux'}), join(dir, 'o1'))
    assert.equal(syslinux.code, 2, syslinux.stdout)
    assert.match(syslinux.json.error.message, /boot\.secureBoot signs the UKI, and needs boot\.loader uki \(not syslinux\).*Secure Boot would check syslinux\.efi alone/)
    await writeFile(join(dir, 'wrong'), 'not snakeoil\n')
    const wrong = build(await variant(dir, 'wrong', {outputs: 'disk', secureBoot: SECURE_BOOT.replace('passphraseFile: passphrase', 'passphraseFile: wrong')}), join(dir, 'o2'))
    assert.equal(wrong.code, 2, wrong.stdout)
    assert.match(wrong.json.error.message, /wrong\.yaml:\d+:\d+: boot\.secureBoot\.key .*db\.key: the passphrase does not unlock it/)
    const misspelt = build(await variant(dir, 'misspelt', {outputs: 'disk', secureBoot: SECURE_BOOT.replace('passphraseFile', 'passphrasefile')}), join(dir, 'o3'))
    assert.equal(misspelt.code, 2, misspelt.stdout)
    assert.match(misspelt.json.error.message, /unknown field "boot\.secureBoot\.passphrasefile": did you mean "?passphraseFile/)
  })
})
