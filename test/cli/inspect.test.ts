// `inspect FILE` beyond EIF (test/e2e/eif.test.ts has that): an ISO 9660 image (ours, and one
// xorriso made), a PE/EFI file (a UKI, syslinux.efi, a signed UKI, one changed after signing, one
// whose signature is broken), a FAT32 ESP and a GPT disk, all made small here by our writers; and a
// file it does not read, refused with what it looks like. Values are checked against the writers'
// layouts, objdump and known answers.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash, X509Certificate} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {authenticodeSignedData, signPe} from '../../src/formats/authenticode.js'
import {bytesSource, concatBytes} from '../../src/formats/bytes.js'
import {eifChunks, measureEif, planEif} from '../../src/formats/eif.js'
import {writeFat32} from '../../src/formats/fat32.js'
import {ESP_TYPE_GUID, LINUX_DATA_TYPE_GUID, layoutGptDisk, type GptDiskInput, writeGptDisk} from '../../src/formats/gpt.js'
import {type IsoOptions, layoutIso, writeIso} from '../../src/formats/iso9660.js'
import {buildUki, parsePe} from '../../src/formats/pe.js'
import {describeFile, describeOutput} from '../../src/formats/sniff.js'
import {groupedValues, volumeTime} from '../../src/cli/inspect-text.js'
import {inspectFat, inspectGpt} from '../../src/image/disk-inspect.js'
import {inspectIso} from '../../src/image/iso-inspect.js'
import {inspectPe} from '../../src/image/pe-inspect.js'
import {loadSecureBootSigner} from '../../src/image/secure-boot.js'
import {REPO} from '../helpers/cli.js'

const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub'
const SYSLINUX_EFI = '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi'
const SYSLINUX_EFI_AUTHENTICODE = '3d35b734483de3667734718e9e257cf5a0f37d27adf55446e7c26a26e0b4963f'
const SNAKEOIL_KEY = '/usr/share/ovmf/PkKek-1-snakeoil.key'
const SNAKEOIL_CERT = '/usr/share/ovmf/PkKek-1-snakeoil.pem'
const SNAKEOIL = 'C=US, ST=Colorado, L=Fort Collins, O=SnakeOil'
const SIGNED_AT = new Date(1_700_000_000 * 1000)

const enc = (s: string) => new TextEncoder().encode(s)
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

/** `stagex-image inspect ...` from the sources (dist/ may be stale while others work in the tree). */
function inspect(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'test/helpers/run-command-from-source.ts'), 'inspect', ...args], {cwd: REPO, encoding: 'utf8'})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}
const json = (r: {stdout: string}) => JSON.parse(r.stdout)
const sizeOf = (path: string) => statSync(path).size

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return concatBytes(parts)
}

describe('cli: inspect (ISO 9660, PE/EFI, GPT, FAT32)', function () {
  let dir: string
  const at = (name: string) => join(dir, name)
  const isoOptions: IsoOptions = {
    volumeId: 'DEMO_00000001',
    sourceDateEpoch: 1,
    files: [
      {path: 'ETC/HOSTNAME', source: bytesSource(enc('demo\n'))},
      {path: 'VMLINUZ', source: bytesSource(new Uint8Array(5000).fill(3))},
    ],
    boot: {catalogPath: 'BOOT.CAT', bios: {path: 'ISOLINUX.BIN', image: new Uint8Array(2048).fill(9)}, efi: {path: 'ESP.IMG', source: bytesSource(new Uint8Array(8192).fill(7))}},
    hybrid: {code: new Uint8Array(432).fill(0x90), id: 0x11223344},
  }
  let uki: Uint8Array
  let signedAuthenticode: string
  let pkcs7Length: number
  let diskInput: GptDiskInput

  before(async function () {
    for (const f of [STUB, SYSLINUX_EFI, SNAKEOIL_KEY, SNAKEOIL_CERT]) if (!existsSync(f)) throw new Error(`${f} is missing: run scripts/setup.sh`)
    dir = mkdtempSync(join(tmpdir(), 'stagex-inspect-'))
    writeFileSync(at('image.iso'), await writeIso(isoOptions))

    uki = await buildUki({
      stub: new Uint8Array(readFileSync(STUB)),
      osRelease: 'ID=stagex\nPRETTY_NAME="StageX appliance"\n',
      cmdline: 'console=ttyS0 quiet',
      uname: '6.6.0-stagex',
      linux: bytesSource(new Uint8Array(3000).fill(1)),
      initrd: bytesSource(new Uint8Array(1000).fill(2)),
      timeDateStamp: 1,
    })
    writeFileSync(at('uki.efi'), uki)
    writeFileSync(at('passphrase'), 'snakeoil\n')
    const signer = await loadSecureBootSigner({key: SNAKEOIL_KEY, cert: SNAKEOIL_CERT, passphraseFile: at('passphrase')}, (f) => `test (${f})`, {})
    const signed = await signPe(bytesSource(uki), (hash) => authenticodeSignedData(hash, signer, SIGNED_AT))
    signedAuthenticode = Buffer.from(signed.authenticodeSha256).toString('hex')
    pkcs7Length = signed.pkcs7.length
    const signedBytes = await collect(signed.open())
    writeFileSync(at('signed.efi'), signedBytes)
    // One byte of the command line changed after signing: "console" -> "Console".
    const cmdline = parsePe(signedBytes).sections.find((s) => s.name === '.cmdline')!
    const tampered = Uint8Array.from(signedBytes)
    tampered[cmdline.pointerToRawData] ^= 0x20
    writeFileSync(at('tampered.efi'), tampered)
    // The RSA signature's last byte (the PKCS#7 ends with it) changed: the signature no longer holds.
    const table = parsePe(signedBytes).certificateTable
    const broken = Uint8Array.from(signedBytes)
    broken[table.offset + 8 + pkcs7Length - 1] ^= 1
    writeFileSync(at('broken-signature.efi'), broken)

    const esp = await writeFat32({files: [{path: 'EFI/BOOT/BOOTX64.EFI', source: bytesSource(enc('uki'))}], volumeId: 0x1234abcd, label: 'ESP', sourceDateEpoch: 1})
    writeFileSync(at('esp.img'), esp)
    diskInput = {
      diskGuid: '11111111-2222-3333-4444-555555555555',
      partitions: [
        {typeGuid: ESP_TYPE_GUID, uniqueGuid: '66666666-7777-8888-9999-AAAAAAAAAAAA', name: 'esp', content: esp},
        {typeGuid: LINUX_DATA_TYPE_GUID, uniqueGuid: 'BBBBBBBB-CCCC-DDDD-EEEE-FFFFFFFFFFFF', name: 'data', sizeBytes: 4096},
      ],
    }
    writeFileSync(at('disk.raw'), await collect(writeGptDisk(diskInput)))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('sniffs the kind from the bytes: an isohybrid ISO is an ISO (though its MBR looks like a disk), a FAT32 volume is FAT', () => {
    const head = (name: string) => readFileSync(at(name)).subarray(0, 32 * 1024 + 6)
    assert.equal(describeFile(head('image.iso').subarray(0, 1024)), 'disk')
    assert.deepEqual(['image.iso', 'uki.efi', 'disk.raw', 'esp.img'].map((f) => describeOutput(head(f))), ['iso', 'pe', 'gpt', 'fat'])
    assert.equal(describeOutput(enc('hello\n')), undefined)
  })

  it('a value several fields share is shown once, with the fields that hold it', () => {
    assert.equal(groupedValues([['created', 'a'], ['modified', 'a'], ['expires', 'a'], ['effective', 'a']]), 'a (all 4)')
    assert.equal(groupedValues([['created', 'a'], ['modified', 'b'], ['expires', 'a']]), 'created, expires a; modified b')
    assert.deepEqual(['2026120102030405', '0000000000000000', 'junk'].map(volumeTime), ['2026-12-01 02:03:04.05', 'not set', '"junk"'])
  })

  it('ISO: volume, El Torito entries with their files, isohybrid MBR and every record, as the writer laid them out', async () => {
    const layout = layoutIso(isoOptions)
    const r = await inspectIso(at('image.iso'), sizeOf(at('image.iso')), {sha256: true})
    assert.equal(r.format, 'iso9660')
    assert.equal(r.size, layout.sizeBytes)
    assert.equal(r.volume.volumeId, 'DEMO_00000001')
    assert.equal(r.volume.volumeBlocks, layout.totalBlocks)
    assert.equal(r.volume.volumeBytes, layout.totalBlocks * 2048)
    assert.deepEqual([r.volume.created, r.volume.modified, r.volume.expires, r.volume.effective], ['1970010100000100', '1970010100000100', '0000000000000000', '0000000000000000'])
    assert.deepEqual([r.volume.lPathTableLba, r.volume.mPathTableLba, r.volume.pathTableSize], [layout.lPathTableLba, layout.mPathTableLba, layout.pathTableSize])
    const placed = (path: string) => layout.files.find((f) => f.path === path)!
    assert.deepEqual(r.boot, [
      {index: 1, platform: 'bios', bootable: true, emulation: 'none', loadSegment: 0, loadSectors: 4, lba: placed('ISOLINUX.BIN').lba, file: 'ISOLINUX.BIN;1', size: 2048},
      {index: 2, platform: 'efi', bootable: true, emulation: 'none', loadSegment: 0, loadSectors: 16, lba: placed('ESP.IMG').lba, file: 'ESP.IMG;1', size: 8192},
    ])
    assert.equal(r.mbr!.id, '0x11223344')
    assert.equal(r.mbr!.lba432, placed('ISOLINUX.BIN').lba * 4)
    assert.deepEqual(
      r.mbr!.partitions.map((p) => [p.index, p.bootable, p.type, p.firstLba, p.sectors]),
      layout.mbr!.partitions.flatMap((p, i) => (p.type === 0 && p.sectors === 0 ? [] : [[i + 1, p.status === 0x80, `0x${p.type.toString(16).padStart(2, '0')}`, p.firstLba, p.sectors]])),
    )
    assert.deepEqual(r.mbr!.partitions.map((p) => p.type), ['0x00', '0xef'])
    assert.deepEqual(r.files.map((f) => [f.path, f.directory, f.size]), [
      ['BOOT.CAT;1', false, 2048],
      ['ESP.IMG;1', false, 8192],
      ['ETC', true, 2048],
      ['ETC/HOSTNAME.;1', false, 5],
      ['ISOLINUX.BIN;1', false, 2048],
      ['VMLINUZ.;1', false, 5000],
    ])
    for (const f of r.files.filter((e) => !e.directory)) assert.equal(f.lba, layout.files.find((p) => p.identifier === f.path.split('/').at(-1))!.lba, f.path)
    assert.ok(r.files.every((f) => f.time === '1970-01-01T00:00:01 0'))
    assert.equal(r.files.find((f) => f.path === 'ETC/HOSTNAME.;1')!.sha256, sha256('demo\n'))
    assert.equal(r.files.find((f) => f.path === 'VMLINUZ.;1')!.sha256, sha256(new Uint8Array(5000).fill(3)))
    assert.equal(r.files.find((f) => f.path === 'ETC')!.sha256, undefined)
    assert.equal((await inspectIso(at('image.iso'), r.size)).files[3]!.sha256, undefined, 'files are hashed only with --sha256')
  })

  it('ISO from the command line: times shown once, the boot entries and files; --json --sha256 is the inspection', () => {
    const human = inspect(at('image.iso'))
    assert.equal(human.code, 0, human.stderr)
    const lines = human.stdout.split('\n')
    assert.ok(lines.includes('  times: created, modified 1970-01-01 00:00:01.00; expires, effective not set'), human.stdout)
    assert.ok(lines.includes("  files (6), every record's time 1970-01-01T00:00:01 0:"), human.stdout)
    assert.match(human.stdout, /^ {4}1 bios bootable, emulation none, load 4 sectors at segment 0x0, image at block \d+: ISOLINUX\.BIN;1 \(2048 bytes\)$/m)
    assert.match(human.stdout, /^ {4}2 efi {2}bootable, emulation none, load 16 sectors at segment 0x0, image at block \d+: ESP\.IMG;1 \(8192 bytes\)$/m)
    assert.match(human.stdout, /^ {2}isohybrid MBR: id 0x11223344,/m)
    assert.match(human.stdout, /^ {4}partition 2: type 0xef, first LBA \d+, 16 sectors \(8192 bytes\)$/m)
    assert.doesNotMatch(human.stdout, /sha256:/)
    const doc = json(inspect(at('image.iso'), '--json', '--sha256'))
    assert.equal(doc.format, 'iso9660')
    assert.equal(doc.volume.volumeId, 'DEMO_00000001')
    assert.equal(doc.files.find((f: {path: string}) => f.path === 'ETC/HOSTNAME.;1').sha256, sha256('demo\n'))
  })

  it('ISO made by xorriso: BIOS and EFI El Torito entries, the isohybrid MBR, mkisofs names', async function () {
    const isohdpfx = '/usr/lib/ISOLINUX/isohdpfx.bin'
    if (spawnSync('sh', ['-c', 'command -v xorriso']).status !== 0 || !existsSync(isohdpfx)) this.skip()
    const tree = at('xtree')
    mkdirSync(join(tree, 'boot'), {recursive: true})
    writeFileSync(join(tree, 'boot', 'a.txt'), 'alpha\n')
    writeFileSync(join(tree, 'boot', 'boot.bin'), new Uint8Array(2048).fill(0xf4))
    writeFileSync(join(tree, 'efi.img'), new Uint8Array(4096))
    const made = spawnSync(
      'xorriso',
      ['-as', 'mkisofs', '-quiet', '-V', 'XORRISO_VOL', '-isohybrid-mbr', isohdpfx, '-b', 'boot/boot.bin', '-no-emul-boot', '-boot-load-size', '4',
        '-eltorito-alt-boot', '-e', 'efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat', '-o', at('x.iso'), tree],
      {encoding: 'utf8'},
    )
    assert.equal(made.status, 0, made.stderr)
    const r = await inspectIso(at('x.iso'), sizeOf(at('x.iso')), {sha256: true})
    assert.equal(r.volume.volumeId, 'XORRISO_VOL')
    assert.deepEqual(r.boot.map((b) => [b.platform, b.emulation, b.loadSectors, b.file, b.size]), [
      ['bios', 'none', 4, 'BOOT/BOOT.BIN;1', 2048],
      ['efi', 'none', 8, 'EFI.IMG;1', 4096],
    ])
    assert.ok(r.mbr, 'xorriso wrote an isohybrid MBR')
    assert.equal(r.files.find((f) => f.path === 'BOOT/A.TXT;1')!.sha256, sha256('alpha\n'))
    // A GPT beside the MBR (-isohybrid-gpt-basdat): still read as an ISO.
    assert.equal(describeOutput(readFileSync(at('x.iso')).subarray(0, 40_000)), 'iso')
    assert.equal(inspect(at('x.iso')).code, 0)
  })

  it('PE: a UKI: sections as objdump sees them, the command line, os-release and uname, the Authenticode SHA-256, unsigned', async () => {
    const r = await inspectPe(at('uki.efi'), uki.length)
    assert.equal(r.machine, 'x86_64')
    assert.equal(r.sha256, sha256(uki))
    assert.deepEqual(r.uki, {cmdline: 'console=ttyS0 quiet', osRelease: 'ID=stagex\nPRETTY_NAME="StageX appliance"\n', uname: '6.6.0-stagex'})
    const objdump = execFileSync('objdump', ['-h', at('uki.efi')], {encoding: 'utf8'})
    const seen = [...objdump.matchAll(/^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)/gm)].map((m) => [m[1], parseInt(m[2]!, 16), parseInt(m[3]!, 16), parseInt(m[4]!, 16)])
    const base = Number(/ImageBase\s+([0-9a-f]+)/.exec(execFileSync('objdump', ['-p', at('uki.efi')], {encoding: 'utf8'}))![1]!.replace(/^/, '0x'))
    assert.deepEqual(r.sections.map((s) => [s.name, s.virtualSize, base + s.virtualAddress, s.rawOffset]), seen)
    assert.deepEqual(r.sections.slice(-5).map((s) => s.name), ['.osrel', '.cmdline', '.uname', '.initrd', '.linux'])
    assert.deepEqual(r.sections.slice(-2).map((s) => [s.virtualSize, s.rawSize]), [[1000, 1024], [3000, 3072]])
    assert.equal(r.authenticodeSha256, signedAuthenticode, 'the hash signPe signed')
    assert.deepEqual(r.signatures, [])
    assert.deepEqual(r.certificateTable, {offset: 0, size: 0})
  })

  it("PE: Debian 12's syslinux.efi: its known Authenticode SHA-256, not a UKI, unsigned (human output)", () => {
    const human = inspect(SYSLINUX_EFI)
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^  Authenticode SHA-256: ${SYSLINUX_EFI_AUTHENTICODE}$`, 'm'))
    assert.match(human.stdout, /^ {2}not a UKI \(no \.linux section\)$/m)
    assert.match(human.stdout, /^ {2}unsigned \(no certificate table\)$/m)
  })

  it('PE: a signed UKI: signer, issuer, serial, signing time, certificate sha256, and that it signs the file', async () => {
    const certSha256 = sha256(new X509Certificate(readFileSync(SNAKEOIL_CERT)).raw)
    const r = await inspectPe(at('signed.efi'), sizeOf(at('signed.efi')))
    assert.equal(r.authenticodeSha256, signedAuthenticode)
    assert.equal(r.checkSum.stored, r.checkSum.computed)
    assert.deepEqual(r.signatures, [
      {
        index: 1,
        valid: true,
        signer: SNAKEOIL,
        issuer: SNAKEOIL,
        serial: '2D3B3E2FEF17CC294C1A102FC8521DB29FCF6205',
        certSha256,
        signingTime: '2023-11-14T22:13:20.000Z',
        signedSha256: signedAuthenticode,
        matches: true,
      },
    ])
    const human = inspect(at('signed.efi'))
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^ {2}signature 1: signer ${SNAKEOIL}$`, 'm'))
    assert.match(human.stdout, new RegExp(`^ {4}it signs ${signedAuthenticode}: the file's Authenticode hash \\(ok\\)$`, 'm'))
    assert.match(human.stdout, /^ {2}a UKI: command line "console=ttyS0 quiet"$/m)
  })

  it('PE: one byte changed after signing: the signature signs another hash: exit 4, the report still printed and in the --json error', async () => {
    const r = await inspectPe(at('tampered.efi'), sizeOf(at('tampered.efi')))
    assert.equal(r.uki!.cmdline, 'Console=ttyS0 quiet')
    assert.notEqual(r.authenticodeSha256, signedAuthenticode)
    assert.deepEqual([r.signatures[0]!.valid, r.signatures[0]!.matches, r.signatures[0]!.signedSha256], [true, false, signedAuthenticode])
    const doc = inspect(at('tampered.efi'), '--json')
    assert.equal(doc.code, 4, doc.stderr)
    const {error} = json(doc)
    assert.equal(error.message, `${at('tampered.efi')}: signature 1 signs the Authenticode hash ${signedAuthenticode}, the file's is ${r.authenticodeSha256}: the file was changed after it was signed`)
    assert.equal(error.inspection.signatures[0].matches, false)
    assert.equal(error.inspection.authenticodeSha256, r.authenticodeSha256)
    const human = inspect(at('tampered.efi'))
    assert.equal(human.code, 4)
    assert.match(human.stdout, /NOT the file's Authenticode hash: the file was changed after it was signed/)
    assert.match(human.stderr, /^error: .*signature 1 signs the Authenticode hash/m)
  })

  it('PE: a broken signature (its RSA value changed) does not hold: exit 4 naming why', async () => {
    const r = await inspectPe(at('broken-signature.efi'), sizeOf(at('broken-signature.efi')))
    assert.deepEqual(r.signatures, [{index: 1, valid: false, error: "the RSA signature over the authenticated attributes does not verify with the included certificate's key", matches: false}])
    const doc = inspect(at('broken-signature.efi'), '--json')
    assert.equal(doc.code, 4)
    assert.match(json(doc).error.message, /signature 1 does not hold: the RSA signature/)
  })

  it("ISO and ESP: the UKI on the ISO's EFI boot image is read as PE: its signature is checked; changed after signing, exit 4", async () => {
    const withEsp = async (uefi: string, name: string) => {
      const esp = await writeFat32({files: [{path: 'EFI/BOOT/BOOTX64.EFI', source: bytesSource(readFileSync(at(uefi)))}], volumeId: 0xcafe0001, label: 'ESP', sourceDateEpoch: 1})
      writeFileSync(at(`${name}.img`), esp)
      writeFileSync(at(`${name}.iso`), await writeIso({...isoOptions, boot: {...isoOptions.boot!, efi: {path: 'ESP.IMG', source: bytesSource(esp)}}}))
    }
    await withEsp('signed.efi', 'esp-signed')
    await withEsp('tampered.efi', 'esp-tampered')
    const r = await inspectIso(at('esp-signed.iso'), sizeOf(at('esp-signed.iso')))
    assert.equal(r.esp!.file, 'ESP.IMG;1')
    assert.equal(r.esp!.volume.volumeId, 'CAFE-0001')
    const uefi = r.esp!.files.find((f) => f.path === 'EFI/BOOT/BOOTX64.EFI')!
    assert.equal(uefi.size, sizeOf(at('signed.efi')))
    assert.deepEqual(uefi.pe!.uki!.cmdline, 'console=ttyS0 quiet')
    assert.equal(uefi.pe!.authenticodeSha256, signedAuthenticode)
    assert.deepEqual(uefi.pe!.signatures.map((x) => [x.signer, x.matches]), [[SNAKEOIL, true]])
    const human = inspect(at('esp-signed.iso'))
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^ {2}the EFI boot image ESP\.IMG;1:$/m)
    assert.match(human.stdout, new RegExp(`^ {10}it signs ${signedAuthenticode}: the file's Authenticode hash \\(ok\\)$`, 'm'))
    const tampered = (await inspectFat(at('esp-tampered.img'), sizeOf(at('esp-tampered.img')))).files.find((f) => f.pe)!
    assert.equal(tampered.pe!.signatures[0]!.matches, false)
    const bad = inspect(at('esp-tampered.iso'), '--json')
    assert.equal(bad.code, 4)
    assert.equal(
      json(bad).error.message,
      `${at('esp-tampered.iso')}: ESP.IMG;1: EFI/BOOT/BOOTX64.EFI: signature 1 signs the Authenticode hash ${signedAuthenticode}, the file's is ${tampered.pe!.authenticodeSha256}: the file was changed after it was signed`,
    )
    assert.equal(inspect(at('esp-tampered.img')).code, 4, 'the ESP alone too')
  })

  it('FAT32: volume id, label, geometry and files with sha256', async () => {
    const r = await inspectFat(at('esp.img'), sizeOf(at('esp.img')), {sha256: true})
    assert.equal(r.volume.volumeId, '1234-ABCD')
    assert.equal(r.volume.label, 'ESP')
    assert.equal(r.volume.bytesPerSector, 512)
    assert.equal(r.volume.totalSectors * 512, r.size)
    assert.deepEqual(r.files.map((f) => [f.path, f.directory, f.size, f.written, f.sha256]), [
      ['EFI', true, 0, '1980-01-01 00:00:00', undefined],
      ['EFI/BOOT', true, 0, '1980-01-01 00:00:00', undefined],
      ['EFI/BOOT/BOOTX64.EFI', false, 3, '1980-01-01 00:00:00', sha256('uki')],
    ])
  })

  it('GPT: the header with its CRCs, each partition as laid out, the ESP listed as FAT; a changed entry is exit 4', async () => {
    const layout = layoutGptDisk(diskInput)
    const r = await inspectGpt(at('disk.raw'), sizeOf(at('disk.raw')))
    assert.equal(r.size, layout.sizeBytes)
    assert.equal(r.header.diskGuid, '11111111-2222-3333-4444-555555555555')
    assert.deepEqual([r.header.firstUsableLba, r.header.lastUsableLba, r.header.backupLba], [layout.firstUsableLba, layout.lastUsableLba, layout.totalSectors - 1])
    assert.equal(r.header.headerCrc32.stored, r.header.headerCrc32.computed)
    assert.equal(r.header.entriesCrc32.stored, r.header.entriesCrc32.computed)
    assert.deepEqual(
      r.partitions.map((p) => [p.index, p.name, p.type, p.uniqueGuid, p.firstLba, p.lastLba, p.bytes]),
      layout.partitions.map((p, i) => [i + 1, p.name, ['EFI System', 'Linux filesystem'][i], p.uniqueGuid, p.firstLba, p.lastLba, p.sizeBytes]),
    )
    assert.equal(r.partitions[0]!.fat!.volume.volumeId, '1234-ABCD')
    assert.deepEqual(r.partitions[0]!.fat!.files.map((f) => f.path), ['EFI', 'EFI/BOOT', 'EFI/BOOT/BOOTX64.EFI'])
    assert.equal(r.partitions[1]!.fat, undefined)
    const human = inspect(at('disk.raw'))
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^ {4}1 "esp": EFI System \(C12A7328-F81F-11D2-BA4B-00A0C93EC93B\), LBA 2048\.\.\d+/m)
    assert.match(human.stdout, /^ {8}EFI\/BOOT\/BOOTX64\.EFI +3 bytes/m)
    const bytes = readFileSync(at('disk.raw'))
    bytes[2 * 512 + 128 + 56] ^= 1 // the second entry's name
    writeFileSync(at('changed.raw'), bytes)
    const bad = inspect(at('changed.raw'), '--json')
    assert.equal(bad.code, 4)
    assert.match(json(bad).error.message, /the GPT entries' CRC-32 is 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}: the partition table was changed/)
  })

  it('EIF as before, now told by its magic: PCRs as the writer measured them, the CRC ok', async () => {
    const plan = planEif({kernel: bytesSource(new Uint8Array(4096).fill(5)), cmdline: 'console=ttyS0', metadata: enc('{"ImageName":"t"}'), ramdisks: [bytesSource(enc('070701'))], memoryBytes: 512 * 1024 * 1024, cpus: 2})
    const measured = await measureEif(plan)
    writeFileSync(at('tiny.eif'), await collect(eifChunks(plan, measured.crc32)))
    const doc = inspect(at('tiny.eif'), '--json')
    assert.equal(doc.code, 0, doc.stderr)
    const r = json(doc)
    assert.equal(r.format, 'eif')
    assert.deepEqual(r.pcrs, measured.pcrs)
    assert.equal(r.crc.ok, true)
    assert.equal(r.cmdline, 'console=ttyS0')
  })

  it('a file it does not read is exit 4 saying what it looks like; a missing file is exit 2', () => {
    writeFileSync(at('notes.txt'), 'these are notes\n')
    const text = inspect(at('notes.txt'))
    assert.equal(text.code, 4)
    assert.match(text.stderr, /notes\.txt is not a file inspect reads \(an EIF, an ISO 9660 image, a PE\/EFI file, a GPT disk or a FAT32 volume\): it looks like a text file/)
    const mbr = Buffer.alloc(4096)
    mbr[510] = 0x55
    mbr[511] = 0xaa
    writeFileSync(at('mbr.raw'), mbr)
    const doc = inspect(at('mbr.raw'), '--json')
    assert.equal(doc.code, 4)
    assert.match(json(doc).error.message, /it looks like a disk image with an MBR but no GPT/)
    assert.equal(inspect(at('missing.iso')).code, 2)
    // An ISO cut after its descriptors: read as an ISO, refused as malformed.
    writeFileSync(at('cut.iso'), readFileSync(at('image.iso')).subarray(0, 19 * 2048))
    const cut = inspect(at('cut.iso'), '--json')
    assert.equal(cut.code, 4)
    assert.match(json(cut).error.message, /cut\.iso: ISO 9660: .* lies outside the image/)
  })
})
