import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {bytesSource, type SizedSource} from '../../src/formats/bytes.js'
import {drainSamplingRss} from '../helpers/stream-rss.js'
import {
  bootCatalog,
  ISO_BLOCK,
  isohybridMbr,
  isoRecordTime,
  isoVolumeTime,
  layoutIso,
  type IsoOptions,
  patchBootInfoTable,
  writeIso,
  writeIsoStream,
} from '../../src/formats/iso9660.js'

const enc = (s: string) => new TextEncoder().encode(s)
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0

// ---------------------------------------------------------------------------------------------
// An independent reader: ECMA-119 and El Torito as the specs lay them out, sharing no code with the writer.

interface ReadRecord {
  name: string
  lba: number
  size: number
  isDir: boolean
  time: number[]
}

function le32(b: Uint8Array, at: number) {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
}
function be32(b: Uint8Array, at: number) {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
}
const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8)
const be16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!
const text = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n))
const block = (img: Uint8Array, lba: number) => img.subarray(lba * 2048, (lba + 1) * 2048)

function readRecord(b: Uint8Array, at: number): ReadRecord {
  const len = b[at]!
  assert.ok(len >= 34, `record length ${len}`)
  assert.equal(le32(b, at + 2), be32(b, at + 6), 'extent both-endian')
  assert.equal(le32(b, at + 10), be32(b, at + 14), 'size both-endian')
  assert.equal(le16(b, at + 28), be16(b, at + 30), 'volume sequence both-endian')
  const idLen = b[at + 32]!
  const id = b.subarray(at + 33, at + 33 + idLen)
  const name = idLen === 1 && id[0]! < 2 ? ['.', '..'][id[0]!]! : text(b, at + 33, idLen)
  return {name, lba: le32(b, at + 2), size: le32(b, at + 10), isDir: (b[at + 25]! & 2) !== 0, time: [...b.subarray(at + 18, at + 25)]}
}

function readDirectory(img: Uint8Array, lba: number, size: number): ReadRecord[] {
  const out: ReadRecord[] = []
  const data = img.subarray(lba * 2048, lba * 2048 + size)
  let at = 0
  while (at < data.length) {
    if (data[at] === 0) {
      at = (Math.floor(at / 2048) + 1) * 2048 // the rest of this block is padding
      continue
    }
    const r = readRecord(data, at)
    assert.ok(Math.floor(at / 2048) === Math.floor((at + data[at]! - 1) / 2048), 'a record never crosses a block')
    out.push(r)
    at += data[at]!
  }
  return out
}

interface ReadIso {
  volumeId: string
  volumeBlocks: number
  created: string
  root: ReadRecord
  /** Path -> record, for every file and directory. */
  entries: Map<string, ReadRecord>
  /** Directory names in the order each directory lists them. */
  listings: Map<string, string[]>
  pathTable: {name: string; lba: number; parent: number}[]
  mPathTable: {name: string; lba: number; parent: number}[]
  catalogLba?: number
}

function readIso(img: Uint8Array): ReadIso {
  const pvd = block(img, 16)
  assert.equal(pvd[0], 1)
  assert.equal(text(pvd, 1, 5), 'CD001')
  assert.equal(le16(pvd, 128), 2048)
  const volumeBlocks = le32(pvd, 80)
  assert.equal(volumeBlocks, be32(pvd, 84))
  let catalogLba: number | undefined
  for (let lba = 17; ; lba++) {
    const d = block(img, lba)
    assert.equal(text(d, 1, 5), 'CD001', `descriptor at ${lba}`)
    if (d[0] === 255) break
    if (d[0] === 0 && text(d, 7, 23) === 'EL TORITO SPECIFICATION') catalogLba = le32(d, 71)
  }
  const root = readRecord(pvd, 156)
  const entries = new Map<string, ReadRecord>()
  const listings = new Map<string, string[]>()
  const walk = (dir: ReadRecord, path: string) => {
    const records = readDirectory(img, dir.lba, dir.size)
    assert.equal(records[0]!.name, '.')
    assert.equal(records[0]!.lba, dir.lba)
    assert.equal(records[1]!.name, '..')
    listings.set(path, records.slice(2).map((r) => r.name))
    for (const r of records.slice(2)) {
      const p = path === '' ? r.name : `${path}/${r.name}`
      entries.set(p, r)
      if (r.isDir) walk(r, p)
    }
  }
  walk(root, '')
  const ptSize = le32(pvd, 132)
  const readTable = (lba: number, big: boolean) => {
    const t = img.subarray(lba * 2048, lba * 2048 + ptSize)
    const out: {name: string; lba: number; parent: number}[] = []
    for (let at = 0; at < t.length; ) {
      const n = t[at]!
      out.push({name: n === 1 && t[at + 8] === 0 ? '' : text(t, at + 8, n), lba: big ? be32(t, at + 2) : le32(t, at + 2), parent: big ? be16(t, at + 6) : le16(t, at + 6)})
      at += 8 + n + (n % 2)
    }
    return out
  }
  return {
    volumeId: text(pvd, 40, 32).trimEnd(),
    volumeBlocks,
    created: text(pvd, 813, 16),
    root,
    entries,
    listings,
    pathTable: readTable(le32(pvd, 140), false),
    mPathTable: readTable(be32(pvd, 148), true),
    catalogLba,
  }
}

function readCatalog(img: Uint8Array, lba: number) {
  const c = block(img, lba)
  assert.equal(c[0], 1)
  assert.equal(c[30], 0x55)
  assert.equal(c[31], 0xaa)
  let sum = 0
  for (let i = 0; i < 32; i += 2) sum = (sum + le16(c, i)) & 0xffff
  assert.equal(sum, 0, 'validation entry checksum')
  const entry = (at: number) => ({bootable: c[at] === 0x88, media: c[at + 1], loadSegment: le16(c, at + 2), sectors: le16(c, at + 6), lba: le32(c, at + 8)})
  const out = [{platform: c[1]!, ...entry(32)}]
  if (c[64] === 0x91 || c[64] === 0x90) {
    assert.equal(le16(c, 66), 1)
    out.push({platform: c[65]!, ...entry(96)})
  }
  return out
}

// ---------------------------------------------------------------------------------------------

const kernel = new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff)
const initrd = new Uint8Array(70_001).map((_, i) => (i * 7 + 3) & 0xff)
const esp = new Uint8Array(40 * 1024 * 1024 + 512).map((_, i) => (i % 4096 === 0 ? 0xe5 : 0))
const biosImage = new Uint8Array(38912).map((_, i) => (i * 13) & 0xff)
const mbrCode = new Uint8Array(432).fill(0x90)

function sample(extra: Partial<IsoOptions> = {}): IsoOptions {
  return {
    volumeId: 'SAMPLE_0123ABCD',
    sourceDateEpoch: 1700000000, // 2023-11-14T22:13:20Z
    files: [
      {path: 'VMLINUZ', source: bytesSource(kernel)},
      {path: 'INITRD.IMG', source: bytesSource(initrd)},
      {path: 'ISOLINUX/ISOLINUX.CFG', source: bytesSource(enc('DEFAULT appliance\n'))},
      {path: 'ISOLINUX/LDLINUX.C32', source: bytesSource(enc('ldlinux'))},
      {path: 'EMPTY.TXT', source: bytesSource(new Uint8Array())},
    ],
    boot: {catalogPath: 'ISOLINUX/BOOT.CAT', bios: {path: 'ISOLINUX/ISOLINUX.BIN', image: biosImage}, efi: {path: 'ESP.IMG', source: bytesSource(esp)}},
    hybrid: {code: mbrCode, id: 0x12345678},
    ...extra,
  }
}

describe('formats/iso9660', () => {
  describe('known answers', () => {
    it('the boot info table of Debian 12 isolinux.bin at LBA 20514 is what xorriso -boot-info-table writes', function () {
      const path = '/usr/lib/ISOLINUX/isolinux.bin'
      if (!existsSync(path)) this.skip()
      const image = new Uint8Array(readFileSync(path))
      // isolinux 3:6.04~git20190206.bf6db5b4+dfsg1-3; bytes 8..24 read from an image xorriso 1.5.4 made.
      if (sha256(image) !== 'f3e2c1786564e148fb394e2321666ddccccedc18f7cf9db3e2416d45d13ea492') this.skip()
      const patched = patchBootInfoTable(image, 20514)
      assert.equal(Buffer.from(patched.subarray(8, 24)).toString('hex'), '10000000225000000098000080c71188')
      assert.deepEqual(patched.subarray(24, 64), new Uint8Array(40))
      assert.deepEqual(patched.subarray(64), image.subarray(64), 'only the table changes')
    })

    it('the boot info table checksum is the 32-bit sum of the words from offset 64 (a short last word zero-padded)', () => {
      const image = new Uint8Array(64 + 9)
      image.set([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x02], 64)
      const t = patchBootInfoTable(image, 7)
      assert.deepEqual([...t.subarray(8, 24)], [16, 0, 0, 0, 7, 0, 0, 0, 73, 0, 0, 0, 2, 0, 0, 0])
    })

    it('the isohybrid MBR with an ESP entry is byte for byte what xorriso -isohybrid-mbr ... -isohybrid-gpt-basdat writes for the same layout', () => {
      const code = new Uint8Array(432).map((_, i) => i & 0xff)
      const mbr = isohybridMbr(code, 20514, 0x1a49c5ed, [
        {status: 0x80, type: 0x00, firstLba: 0, sectors: 83968},
        {status: 0x00, type: 0xef, firstLba: 136, sectors: 81920},
      ])
      assert.deepEqual(mbr.subarray(0, 432), code)
      // Bytes 432..511 of the image xorriso 1.5.4 made (isolinux.bin at 20514, efi.img of 40 MiB at LBA 34).
      const xorriso =
        '884001000000000' + '0edc5491a00008000' + '0100003f20280000000000480100' + '00feffffeffeffff8800000000400100' + '0'.repeat(64) + '55aa'
      assert.equal(Buffer.from(mbr.subarray(432)).toString('hex'), xorriso)
    })

    it('the validation entry checksum for platform x86 and no id string is 55AA, as xorriso writes', () => {
      const c = bootCatalog([{platform: 'bios', path: 'B', lba: 20514, loadSectors: 4, size: 2048}, {platform: 'uefi', path: 'E', lba: 34, loadSectors: 0, size: 1}])
      assert.equal(Buffer.from(c.subarray(0, 128)).toString('hex'),
        '01000000' + '00'.repeat(24) + 'aa5555aa' +
        '8800000000000400' + '22500000' + '00'.repeat(20) +
        '91ef0100' + '00'.repeat(28) +
        '8800000000000000' + '22000000' + '00'.repeat(20))
    })

    it('times: epoch 1 is 1970-01-01 00:00:01 UTC in both forms; offsets are 0', () => {
      assert.deepEqual([...isoRecordTime(1)], [70, 1, 1, 0, 0, 1, 0])
      assert.equal(Buffer.from(isoVolumeTime(1).subarray(0, 16)).toString('latin1'), '1970010100000100')
      assert.equal(isoVolumeTime(1)[16], 0)
      assert.deepEqual([...isoRecordTime(1700000000)], [123, 11, 14, 22, 13, 20, 0])
      assert.deepEqual([...isoRecordTime(2 ** 33)], [255, 12, 31, 23, 59, 59, 0], 'clamped to 2155')
    })
  })

  describe('read back', () => {
    let img: Uint8Array
    let layout: ReturnType<typeof layoutIso>
    before(async () => {
      layout = layoutIso(sample())
      img = await writeIso(sample())
    })

    it('is the size the layout gives, a multiple of 1 MiB, with the volume size in the PVD', () => {
      assert.equal(img.length, layout.sizeBytes)
      assert.equal(img.length % (1024 * 1024), 0)
      const r = readIso(img)
      assert.equal(r.volumeBlocks * 2048, img.length)
      assert.equal(r.volumeId, 'SAMPLE_0123ABCD')
      assert.equal(r.created, '2023111422132000')
    })

    it('lists every file with its bytes, level-1 identifiers, sorted as ECMA-119 9.3 says, every time the epoch', () => {
      const r = readIso(img)
      assert.deepEqual(r.listings.get(''), ['EMPTY.TXT;1', 'ESP.IMG;1', 'INITRD.IMG;1', 'ISOLINUX', 'VMLINUZ.;1'])
      assert.deepEqual(r.listings.get('ISOLINUX'), ['BOOT.CAT;1', 'ISOLINUX.BIN;1', 'ISOLINUX.CFG;1', 'LDLINUX.C32;1'])
      const bytesAt = (p: string) => {
        const e = r.entries.get(p)!
        return img.subarray(e.lba * 2048, e.lba * 2048 + e.size)
      }
      assert.deepEqual(bytesAt('VMLINUZ.;1'), kernel)
      assert.deepEqual(bytesAt('INITRD.IMG;1'), initrd)
      assert.deepEqual(bytesAt('ESP.IMG;1'), esp)
      assert.deepEqual(bytesAt('ISOLINUX/ISOLINUX.CFG;1'), enc('DEFAULT appliance\n'))
      assert.equal(r.entries.get('EMPTY.TXT;1')!.size, 0)
      for (const e of [r.root, ...r.entries.values()]) assert.deepEqual(e.time, [123, 11, 14, 22, 13, 20, 0])
    })

    it('no two extents overlap, and each lies inside the volume', () => {
      const r = readIso(img)
      const extents = [...r.entries.values()].filter((e) => e.size > 0).map((e) => [e.lba, e.lba + Math.ceil(e.size / 2048)] as const).sort((a, b) => a[0] - b[0])
      for (let i = 1; i < extents.length; i++) assert.ok(extents[i]![0] >= extents[i - 1]![1], 'no overlap')
      assert.ok(extents.at(-1)![1] <= r.volumeBlocks)
    })

    it('has L and M path tables with the same directories, by level, parent and name', () => {
      const r = readIso(img)
      assert.deepEqual(r.pathTable, [
        {name: '', lba: r.root.lba, parent: 1},
        {name: 'ISOLINUX', lba: r.entries.get('ISOLINUX')!.lba, parent: 1},
      ])
      assert.deepEqual(r.mPathTable, r.pathTable)
    })

    it('boots: a BIOS default entry (no emulation, 4 sectors, the patched isolinux.bin) and a UEFI section over the ESP image', () => {
      const r = readIso(img)
      assert.equal(r.catalogLba, r.entries.get('ISOLINUX/BOOT.CAT;1')!.lba)
      const [bios, efi] = readCatalog(img, r.catalogLba!)
      assert.deepEqual(bios, {platform: 0, bootable: true, media: 0, loadSegment: 0, sectors: 4, lba: r.entries.get('ISOLINUX/ISOLINUX.BIN;1')!.lba})
      // 40 MiB + 512 is more than 65535 sectors: 0, as xorriso writes (EDK2 then uses the rest of the volume).
      assert.deepEqual(efi, {platform: 0xef, bootable: true, media: 0, loadSegment: 0, sectors: 0, lba: r.entries.get('ESP.IMG;1')!.lba})
      const isolinux = r.entries.get('ISOLINUX/ISOLINUX.BIN;1')!
      const patched = img.subarray(isolinux.lba * 2048, isolinux.lba * 2048 + isolinux.size)
      assert.equal(le32(patched, 8), 16)
      assert.equal(le32(patched, 12), isolinux.lba)
      assert.equal(le32(patched, 16), biosImage.length)
      assert.deepEqual(patched.subarray(64), biosImage.subarray(64))
    })

    it('a small ESP gets its size in 512-byte sectors in the catalog', async () => {
      const small = new Uint8Array(3 * 512 + 1)
      const options = sample({boot: {catalogPath: 'BOOT.CAT', bios: {path: 'ISOLINUX.BIN', image: biosImage}, efi: {path: 'ESP.IMG', source: bytesSource(small)}}})
      const l = layoutIso(options)
      assert.equal(l.bootEntries.find((e) => e.platform === 'uefi')!.loadSectors, 4)
      const image = await writeIso(options)
      assert.equal(readCatalog(image, l.catalogLba!)[1]!.sectors, 4)
    })

    it('has the isohybrid MBR: the code, the BIOS image at 432 in 512-byte sectors, the id, partition 1 over the image (type 0) and partition 2 (0xEF) over the ESP', () => {
      const r = readIso(img)
      assert.deepEqual(img.subarray(0, 432), mbrCode)
      const isolinux = r.entries.get('ISOLINUX/ISOLINUX.BIN;1')!
      assert.equal(le32(img, 432), isolinux.lba * 4)
      assert.equal(le32(img, 440), 0x12345678)
      assert.deepEqual([img[510], img[511]], [0x55, 0xaa])
      const part = (i: number) => ({status: img[446 + 16 * i], type: img[450 + 16 * i], start: le32(img, 454 + 16 * i), sectors: le32(img, 458 + 16 * i)})
      assert.deepEqual(part(0), {status: 0x80, type: 0, start: 0, sectors: img.length / 512})
      const e = r.entries.get('ESP.IMG;1')!
      assert.deepEqual(part(1), {status: 0, type: 0xef, start: e.lba * 4, sectors: Math.ceil(e.size / 512)})
      assert.deepEqual(part(2), {status: 0, type: 0, start: 0, sectors: 0})
      assert.deepEqual(img.subarray(512, 16 * 2048), new Uint8Array(16 * 2048 - 512), 'the rest of the system area is zero')
      assert.deepEqual(layout.mbr!.partitions.map((p) => p.type), [0, 0xef])
    })

    it('the layout names what was written', () => {
      const r = readIso(img)
      for (const f of layout.files) {
        const e = r.entries.get(f.path.replace(/[^/]+$/, f.identifier))!
        assert.equal(e.size, f.size, f.path)
        if (f.size > 0) assert.equal(e.lba, f.lba, f.path)
      }
      assert.deepEqual(layout.bootEntries.map((b) => [b.platform, b.path]), [['bios', 'ISOLINUX/ISOLINUX.BIN'], ['uefi', 'ESP.IMG']])
    })

    it('xorriso reports a BIOS and a UEFI El Torito entry and the isohybrid MBR (with Debian\'s isolinux.bin and isohdpfx.bin); isoinfo reads the volume', async function () {
      const [isolinux, isohdpfx] = ['/usr/lib/ISOLINUX/isolinux.bin', '/usr/lib/ISOLINUX/isohdpfx.bin']
      if (!has('xorriso') || !has('isoinfo') || !existsSync(isolinux) || !existsSync(isohdpfx)) this.skip()
      // xorriso calls the MBR isohybrid when its code is syslinux's and the BIOS image carries isolinux's hybrid signature.
      const real = sample({hybrid: {code: new Uint8Array(readFileSync(isohdpfx)), id: 0x12345678}})
      real.boot!.bios!.image = new Uint8Array(readFileSync(isolinux))
      const img = await writeIso(real)
      const dir = mkdtempSync(join(tmpdir(), 'stagex-iso-'))
      try {
        const file = join(dir, 'x.iso')
        writeFileSync(file, img)
        const x = spawnSync('xorriso', ['-indev', file, '-report_el_torito', 'plain', '-report_system_area', 'plain'], {encoding: 'utf8'})
        assert.equal(x.status, 0, x.stderr)
        const out = x.stdout + x.stderr
        assert.match(out, /El Torito boot img : +1 +BIOS +y +none .* 4 +\d+/)
        assert.match(out, /El Torito img opts : +1 +boot-info-table isohybrid-suitable/)
        assert.match(out, /El Torito boot img : +2 +UEFI +y +none/)
        assert.match(out, /El Torito img path : +2 +\/ESP\.IMG/)
        assert.match(out, /System area summary: MBR isohybrid cyl-align-on/)
        assert.match(out, /MBR partition {6}: +2 +0x00 +0xef/)
        const info = spawnSync('isoinfo', ['-d', '-i', file], {encoding: 'utf8'})
        assert.equal(info.status, 0, info.stderr)
        assert.match(info.stdout, /Volume id: SAMPLE_0123ABCD/)
        assert.match(info.stdout, new RegExp(`Volume size is: ${img.length / 2048}`))
        const listing = spawnSync('isoinfo', ['-l', '-i', file], {encoding: 'utf8'})
        assert.match(listing.stdout, /LDLINUX\.C32;1/)
      } finally {
        rmSync(dir, {recursive: true, force: true})
      }
    })
  })

  describe('determinism and streaming', () => {
    it('same options, same bytes; another epoch or volume id changes them', async () => {
      const a = sha256(await writeIso(sample()))
      assert.equal(sha256(await writeIso(sample())), a)
      assert.notEqual(sha256(await writeIso(sample({sourceDateEpoch: 2}))), a)
      assert.notEqual(sha256(await writeIso(sample({volumeId: 'OTHER'}))), a)
    })

    it('the order of the input files does not matter', async () => {
      const o = sample()
      assert.equal(sha256(await writeIso({...o, files: [...o.files].reverse()})), sha256(await writeIso(o)))
    })

    it('opens each source once, when its extent comes, and passes large chunks through without joining them', async () => {
      const opened: string[] = []
      const big = new Uint8Array(4 * 1024 * 1024)
      const tracked = (name: string, bytes: Uint8Array): SizedSource => ({
        size: bytes.length,
        open: () => {
          opened.push(name)
          return [bytes.subarray(0, 1024 * 1024), bytes.subarray(1024 * 1024)]
        },
      })
      const stream = writeIsoStream({volumeId: 'S', sourceDateEpoch: 1, files: [{path: 'B.BIN', source: tracked('b', big)}, {path: 'A.BIN', source: tracked('a', enc('a'))}]})
      assert.deepEqual(opened, [], 'nothing is read before the stream is')
      let largest = 0
      for await (const chunk of stream) largest = Math.max(largest, chunk.length)
      assert.deepEqual(opened, ['a', 'b'])
      assert.ok(largest <= 3 * 1024 * 1024 + 1, `largest chunk ${largest}`)
    })

    it('streams a ~600 MB image with memory that does not grow with it (rss delta < 150 MB)', async function () {
      this.timeout(60_000)
      const MiB = 1024 * 1024
      const piece = new Uint8Array(256 * 1024).fill(5)
      const lazy = (size: number): SizedSource => ({
        size,
        open: function* () {
          for (let left = size; left > 0; left -= piece.length) yield piece.subarray(0, Math.min(piece.length, left))
        },
      })
      const options = sample({files: [{path: 'VMLINUZ', source: lazy(30_000_001)}, {path: 'INITRD.IMG', source: lazy(570_000_003)}]})
      const {size, rssGrowth} = await drainSamplingRss(writeIsoStream(options))
      assert.equal(size, layoutIso(options).sizeBytes)
      assert.ok(size > 600e6)
      assert.ok(rssGrowth < 150 * MiB, `rss grew by ${(rssGrowth / MiB).toFixed(1)} MiB`)
    })

    it('a source that gives other bytes than its size fails the stream, naming the file', async () => {
      const liar: SizedSource = {size: 10, open: () => [new Uint8Array(9)]}
      await assert.rejects(writeIso({volumeId: 'S', sourceDateEpoch: 1, files: [{path: 'X.BIN', source: liar}]}), /"X.BIN".*9 bytes.*laid out for 10/)
    })
  })

  describe('names and refusals', () => {
    const only = (path: string, level?: 1 | 2): IsoOptions => ({volumeId: 'V', sourceDateEpoch: 1, level, files: [{path, source: bytesSource(enc('x'))}]})

    it('sorts by name padded with spaces, then by extension (ECMA-119 9.3)', async () => {
      const files = ['AB', 'A.B', 'A_', 'A0.Z', 'A'].map((path) => ({path, source: bytesSource(enc(path))}))
      const r = readIso(await writeIso({volumeId: 'V', sourceDateEpoch: 1, files}))
      assert.deepEqual(r.listings.get(''), ['A.;1', 'A.B;1', 'A0.Z;1', 'AB.;1', 'A_.;1'])
    })

    it('level 1 refuses long, lower-case and odd names; level 2 takes 30 characters', () => {
      assert.throws(() => layoutIso(only('TOOLONGNAME.TXT')), /level 1 file name/)
      assert.throws(() => layoutIso(only('lower.txt')), /level 1 file name/)
      assert.throws(() => layoutIso(only('A.B.C')), /file name/)
      assert.throws(() => layoutIso(only('LONGDIRNAME/A')), /level 1 directory name/)
      assert.doesNotThrow(() => layoutIso(only('A_MUCH_LONGER_NAME.CONF', 2)))
      assert.throws(() => layoutIso(only(`${'A'.repeat(28)}.ABC`, 2)), /level 2 file name/)
    })

    it('refuses a path twice, a path through a file, nine levels, a file over 4 GiB and a bad volume id', () => {
      const x = bytesSource(enc('x'))
      assert.throws(() => layoutIso({volumeId: 'V', sourceDateEpoch: 1, files: [{path: 'A', source: x}, {path: 'A', source: x}]}), /given twice/)
      assert.throws(() => layoutIso({volumeId: 'V', sourceDateEpoch: 1, files: [{path: 'A', source: x}, {path: 'A/B', source: x}]}), /runs through a file/)
      assert.throws(() => layoutIso(only('A/B/C/D/E/F/G/H/I')), /8 levels/)
      assert.doesNotThrow(() => layoutIso(only('A/B/C/D/E/F/G/I')))
      assert.throws(() => layoutIso({volumeId: 'V', sourceDateEpoch: 1, files: [{path: 'BIG', source: {size: 2 ** 32, open: () => []}}]}), /at most 4294967295 bytes/)
      assert.throws(() => layoutIso({...only('A'), volumeId: 'lower'}), /volume id/)
      assert.throws(() => layoutIso({...only('A'), volumeId: 'X'.repeat(33)}), /volume id/)
    })

    it('an isohybrid MBR needs a BIOS entry; a catalog needs an entry', () => {
      assert.throws(() => layoutIso({...only('A'), hybrid: {code: mbrCode, id: 1}}), /boot.bios is required/)
      assert.throws(() => layoutIso({...only('A'), boot: {catalogPath: 'BOOT.CAT'}}), /BIOS or an EFI entry/)
    })

    it('a UEFI-only image has the EFI entry as its default, platform 0xEF', async () => {
      const options: IsoOptions = {...only('A'), boot: {catalogPath: 'BOOT.CAT', efi: {path: 'ESP.IMG', source: bytesSource(new Uint8Array(1024))}}}
      const l = layoutIso(options)
      const cat = readCatalog(await writeIso(options), l.catalogLba!)
      assert.equal(cat.length, 1)
      assert.equal(cat[0]!.platform, 0xef)
      assert.equal(cat[0]!.sectors, 2)
    })

    it('keeps block 0..15 zero without hybrid, and a directory of many files spans blocks without a record crossing one', async () => {
      const files = Array.from({length: 120}, (_, i) => ({path: `D/F${String(i).padStart(3, '0')}.TXT`, source: bytesSource(enc(String(i)))}))
      const img = await writeIso({volumeId: 'V', sourceDateEpoch: 1, files})
      assert.deepEqual(img.subarray(0, 16 * ISO_BLOCK), new Uint8Array(16 * ISO_BLOCK))
      const r = readIso(img)
      assert.equal(r.listings.get('D')!.length, 120)
      assert.ok(r.entries.get('D')!.size > 2048)
      const e = r.entries.get('D/F119.TXT;1')!
      assert.equal(text(img, e.lba * 2048, e.size), '119')
    })
  })
})
