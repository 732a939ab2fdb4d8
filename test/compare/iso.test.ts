// The ISO comparer (diff, reproduce): volume fields, El Torito entries, the MBR, files, and the ESP
// inside compared as FAT; the reader reads our images and one xorriso made.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {bytesSource} from '../../src/formats/bytes.js'
import {writeFat32} from '../../src/formats/fat32.js'
import {type IsoOptions, writeIso} from '../../src/formats/iso9660.js'
import {readIso} from '../../src/formats/iso9660-reader.js'
import {compareIso} from '../../src/compare/iso.js'
import {compareOutput} from '../../src/compare/outputs.js'

const enc = (s: string) => new TextEncoder().encode(s)

async function image(change: {hostname?: string; volumeId?: string; epoch?: number; mbrId?: number; espText?: string} = {}): Promise<Uint8Array> {
  const esp = await writeFat32({files: [{path: 'EFI/BOOT/BOOTX64.EFI', source: bytesSource(enc(change.espText ?? 'uki'))}], volumeId: 1, label: 'ESP', sourceDateEpoch: 1})
  const options: IsoOptions = {
    volumeId: change.volumeId ?? 'DEMO_00000001',
    sourceDateEpoch: change.epoch ?? 1,
    files: [
      {path: 'ETC/HOSTNAME', source: bytesSource(enc(change.hostname ?? 'demo\n'))},
      {path: 'VMLINUZ', source: bytesSource(new Uint8Array(5000).fill(3))},
    ],
    boot: {catalogPath: 'BOOT.CAT', bios: {path: 'ISOLINUX.BIN', image: new Uint8Array(2048).fill(9)}, efi: {path: 'ESP.IMG', source: bytesSource(esp)}},
    hybrid: {code: new Uint8Array(432).fill(0x90), id: change.mbrId ?? 0x11223344},
  }
  return writeIso(options)
}

describe('compare: iso', () => {
  it('reads back what the writer wrote: volume, El Torito entries, MBR and files', async () => {
    const r = readIso(await image())
    assert.equal(r.volume.volumeId, 'DEMO_00000001')
    assert.equal(r.volume.created, '1970010100000100')
    assert.deepEqual(r.bootEntries.map((e) => [e.platform, e.loadSectors]), [[0, 4], [0xef, 0]])
    assert.equal(r.mbr!.id, 0x11223344)
    assert.deepEqual(r.entries.map((e) => e.path), ['BOOT.CAT;1', 'ESP.IMG;1', 'ETC', 'ETC/HOSTNAME.;1', 'ISOLINUX.BIN;1', 'VMLINUZ.;1'])
    assert.equal(Buffer.from(r.entries.find((e) => e.path === 'ETC/HOSTNAME.;1')!.data).toString(), 'demo\n')
    assert.equal(r.entries[0]!.time, '1970-01-01T00:00:01 0')
  })

  it('names a changed file\'s bytes, a changed volume id and MBR id, and times', async () => {
    const base = await image()
    assert.deepEqual(compareIso(base, await image()), [])
    assert.deepEqual(compareIso(base, await image({hostname: 'demO\n'})), [{entry: 'ISO file ETC/HOSTNAME.;1', field: 'bytes', a: 'byte 3 = 0x6f', b: 'byte 3 = 0x4f'}])
    const ids = compareIso(base, await image({volumeId: 'DEMO_00000002', mbrId: 0x11223345}))
    assert.deepEqual(ids.map((d) => `${d.entry} ${d.field}`), ['ISO volume volumeId', 'MBR id'])
    const times = compareIso(base, await image({epoch: 2}))
    assert.ok(times.some((d) => d.entry === 'ISO volume' && d.field === 'created'))
  })

  it('compares the ESP inside as a FAT volume, naming the file in it', async () => {
    const diff = compareIso(await image(), await image({espText: 'UKI'}))
    assert.ok(diff.some((d) => d.entry === 'ISO file ESP.IMG;1 (ESP): FAT file EFI/BOOT/BOOTX64.EFI' && d.field === 'bytes'), JSON.stringify(diff))
  })

  it('diff picks the ISO comparer for the iso output; an unreadable side falls back to bytes', async () => {
    const base = await image()
    assert.equal(compareOutput('iso', 'image.iso', base, await image({hostname: 'x\n'}))[0]!.entry, 'ISO file ETC/HOSTNAME.;1')
    const broken = Uint8Array.from(base)
    broken[16 * 2048 + 1] = 0x41
    const fallback = compareOutput('iso', 'image.iso', base, broken)
    assert.deepEqual(fallback.map((d) => d.field), ['bytes', 'format'])
  })

  it('reads an image xorriso made (directories, El Torito, names as mkisofs writes them)', function () {
    if (spawnSync('sh', ['-c', 'command -v xorriso']).status !== 0) this.skip()
    const dir = mkdtempSync(join(tmpdir(), 'stagex-iso-reader-'))
    try {
      mkdirSync(join(dir, 'tree', 'boot'), {recursive: true})
      writeFileSync(join(dir, 'tree', 'boot', 'a.txt'), 'alpha\n')
      writeFileSync(join(dir, 'tree', 'efi.img'), new Uint8Array(4096))
      const made = spawnSync('xorriso', ['-as', 'mkisofs', '-quiet', '-e', 'efi.img', '-no-emul-boot', '-o', join(dir, 'x.iso'), join(dir, 'tree')], {encoding: 'utf8'})
      assert.equal(made.status, 0, made.stderr)
      const r = readIso(readFileSync(join(dir, 'x.iso')))
      const a = r.entries.find((e) => /^BOOT\/A\.TXT/.test(e.path))!
      assert.equal(Buffer.from(a.data).toString(), 'alpha\n')
      assert.deepEqual(r.bootEntries.map((e) => [e.platform, e.loadSectors]), [[0xef, 8]])
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
