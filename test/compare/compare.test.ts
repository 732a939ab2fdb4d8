// The comparers name the first differing entries: cpio and tar members, FAT files and fields,
// GPT header and entry fields (and the ESP inside), PE sections; records stage by stage.
import assert from 'node:assert/strict'
import {bytesSource} from '../../src/formats/bytes.js'
import {type CpioEntry, S_IFDIR, S_IFREG, writeNewc} from '../../src/formats/cpio.js'
import {writeFat32} from '../../src/formats/fat32.js'
import {readFatEntries} from '../../src/formats/fat32-reader.js'
import {ESP_TYPE_GUID, writeGptDisk} from '../../src/formats/gpt.js'
import {compareCpio} from '../../src/compare/cpio.js'
import {compareFat} from '../../src/compare/fat.js'
import {compareGpt} from '../../src/compare/gpt.js'
import {compareRecords} from '../../src/compare/records.js'
import type {BuildRecord} from '../../src/pipeline/record.js'
import {readFileSync} from 'node:fs'
import {writeTar, type TarEntry} from '../../src/formats/tar.js'
import {buildUki} from '../../src/formats/pe.js'
import {compareTar} from '../../src/compare/tar.js'
import {comparePe} from '../../src/compare/pe.js'
import {applianceManifest, parseApplianceManifest} from '../../src/appliance/artifact.js'

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = []
  for await (const c of chunks) out.push(c)
  return Buffer.concat(out)
}

const file = (name: string, text: string, mode = 0o644, uid = 0): CpioEntry => ({
  name, mode: S_IFREG | mode, uid, gid: 0, nlink: 1, mtime: 1, ino: 0, size: Buffer.byteLength(text), data: Buffer.from(text),
})
const dir = (name: string): CpioEntry => ({name, mode: S_IFDIR | 0o755, uid: 0, gid: 0, nlink: 2, mtime: 1, ino: 0, size: 0})

const ESP_FILES = [
  {path: 'EFI/BOOT/BOOTX64.EFI', source: bytesSource(Buffer.alloc(5000, 7))},
  {path: 'loader/entries/a-long-name.conf', source: bytesSource(Buffer.from('title a\n'))},
]

describe('compare: first differing entries', () => {
  it('cpio: a member whose bytes differ, one whose mode and owner differ, one on one side only', async () => {
    const a = await collect(writeNewc([dir('etc'), file('etc/hostname', 'minimal\n'), file('etc/motd', 'hi\n'), file('etc/x', '1')]))
    const b = await collect(writeNewc([dir('etc'), file('etc/hostname', 'minimaL\n'), file('etc/motd', 'hi\n', 0o600, 1000)]))
    const found = compareCpio(a, b)
    assert.deepEqual(found.map((d) => [d.entry, d.field]), [
      ['cpio member etc/hostname', 'bytes'],
      ['cpio member etc/motd', 'mode'],
      ['cpio member etc/motd', 'owner'],
      ['cpio member etc/x', 'presence'],
    ])
    assert.match(found[0]!.a, /^byte 6 = 0x6c$/)
    assert.deepEqual(compareCpio(a, a), [])
  })

  it('FAT: a changed write time is a field of that file; the reader sees long names and bytes', async () => {
    const a = Buffer.from(await writeFat32({files: ESP_FILES, volumeId: 0x1234abcd, label: 'ESP', sourceDateEpoch: 1_700_000_000}))
    const {entries} = readFatEntries(a)
    assert.deepEqual(entries.map((e) => e.path), ['EFI', 'EFI/BOOT', 'EFI/BOOT/BOOTX64.EFI', 'loader', 'loader/entries', 'loader/entries/a-long-name.conf'])
    assert.equal(Buffer.from(entries[2]!.data).equals(Buffer.alloc(5000, 7)), true)
    const b = Buffer.from(a)
    b.writeUInt16LE(b.readUInt16LE(entries[5]!.entryOffset + 22) ^ 0x0020, entries[5]!.entryOffset + 22) // one minute later
    const found = compareFat(a, b)
    assert.deepEqual(found.map((d) => [d.entry, d.field]), [['FAT file loader/entries/a-long-name.conf', 'writeTime']])
    assert.deepEqual(compareFat(a, a), [])
  })

  it('GPT: a changed disk GUID is a header field, and a changed ESP inside is compared as FAT', async () => {
    const esp = Buffer.from(await writeFat32({files: ESP_FILES, volumeId: 1, label: 'ESP', sourceDateEpoch: 1, hiddenSectors: 2048}))
    const disk = (guid: string, content: Uint8Array) =>
      collect(writeGptDisk({diskGuid: guid, partitions: [{typeGuid: ESP_TYPE_GUID, uniqueGuid: '60F33797-1D71-4DCB-AA6F-20564F036CD0', name: 'ESP', content}]}))
    const a = await disk('1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBD', esp)
    const b = await disk('1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBE', esp)
    assert.deepEqual(compareGpt(a, b).filter((d) => d.field === 'diskGuid').map((d) => d.entry), ['GPT header'])
    const altered = Buffer.from(esp)
    const boot = readFatEntries(esp).entries.find((e) => e.path === 'EFI/BOOT/BOOTX64.EFI')!
    altered[boot.data.byteOffset - esp.byteOffset + 10] ^= 1
    const c = await disk('1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBD', altered)
    assert.deepEqual(compareGpt(a, c).map((d) => [d.entry, d.field]), [['GPT entry 1 (ESP): FAT file EFI/BOOT/BOOTX64.EFI', 'bytes']])
  })

  it('tar: a member whose mode differs, one whose bytes differ', async () => {
    const base = {uid: 0, gid: 0, mtime: 1, size: 0}
    const entries = (mode: number, text: string): TarEntry[] => [
      {...base, name: 'etc', type: 'dir', mode: 0o755},
      {...base, name: 'etc/motd', type: 'file', mode, size: text.length, data: Buffer.from(text)},
      {...base, name: 'etc/sh', type: 'symlink', mode: 0o777, linkName: 'busybox'},
    ]
    const a = await collect(writeTar(entries(0o644, 'hello')))
    const b = await collect(writeTar(entries(0o600, 'hellO')))
    assert.deepEqual(compareTar(a, b).map((d) => [d.entry, d.field]), [['tar member etc/motd', 'mode'], ['tar member etc/motd', 'bytes']])
    assert.deepEqual(compareTar(a, a), [])
  })

  it('PE: a UKI whose .cmdline differs names that section and the checksum', async () => {
    const uki = (cmdline: string) =>
      buildUki({
        stub: new Uint8Array(readFileSync('/usr/lib/systemd/boot/efi/linuxx64.efi.stub')),
        osRelease: 'ID=stagex\n',
        cmdline,
        linux: bytesSource(new Uint8Array(4096).fill(1)),
        initrd: bytesSource(new Uint8Array(4096).fill(2)),
      })
    const found = comparePe(await uki('console=ttyS0'), await uki('console=ttyS1'))
    assert.deepEqual(found.map((d) => [d.entry, d.field]), [['PE header', 'checkSum'], ['PE section .cmdline', 'bytes']])
  })

  it('artifact: the manifest depends only on the record and its outputs, and reads back; an unsafe title is refused', () => {
    const record = {
      sourceDateEpoch: 1,
      profile: {name: 'minimal', sha256: 'sha256:00'},
      outputs: {kernel: {file: 'vmlinuz', size: 3, sha256: 'ab'.repeat(32)}, sbom: {file: 'sbom.spdx.json', size: 2, sha256: 'cd'.repeat(32)}},
    } as unknown as BuildRecord
    const bytes = Buffer.from('{"record":1}\n')
    const a = applianceManifest(bytes, record)
    assert.equal(applianceManifest(Buffer.from(bytes), JSON.parse(JSON.stringify(record))).digest, a.digest)
    assert.match(a.bytes.toString(), /^\{"schemaVersion":2,"mediaType":"application\/vnd\.oci\.image\.manifest\.v1\+json","artifactType":"application\/vnd\.stagex-image\.appliance\.v1",/)
    const back = parseApplianceManifest(a.bytes, 'test')
    assert.deepEqual(back.layers.map((l) => [l.kind, l.file]), [['kernel', 'vmlinuz'], ['sbom', 'sbom.spdx.json']])
    const evil = JSON.parse(a.bytes.toString())
    evil.layers[0].annotations['org.opencontainers.image.title'] = '../../etc/passwd'
    assert.throws(() => parseApplianceManifest(Buffer.from(JSON.stringify(evil)), 'test'), (e: {exitCode: number}) => e.exitCode === 4)
  })

  it('records: stages in order, the first differing one marked, outputs after them', () => {
    const base = {
      stages: {resolve: {sha256: 'r'}, shape: {sha256: 's'}, initramfs: {sha256: 'i'}},
      outputs: {initramfs: {file: 'initramfs.cpio.gz', size: 1, sha256: 'i'}},
    } as unknown as BuildRecord
    const other = {...base, stages: {...base.stages, shape: {sha256: 't'}}} as BuildRecord
    const rows = compareRecords(base, other)
    assert.deepEqual(rows.map((r) => [r.stage, r.same]), [['resolve', true], ['shape', false], ['initramfs', true], ['output initramfs', true]])
  })
})
