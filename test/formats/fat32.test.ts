import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {
  aliasShortName,
  computeGeometry,
  exactShortName,
  type FatInput,
  fat32BootSector,
  fat32FsInfo,
  fat32LabelEntry,
  fatDateTime,
  lfnChecksum,
  planFat32,
  writeFat32,
  writeFat32Stream,
} from '../../src/formats/fat32.js'
import {ESP_TYPE_GUID, writeGptDisk} from '../../src/formats/gpt.js'
import {bytesSource, concatBytes} from '../../src/formats/bytes.js'

const vectors = new URL('../../../shared/vectors/disk/dosfstools-tests/', import.meta.url)
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const EPOCH = 1426325213 // dosfstools' test SOURCE_DATE_EPOCH: 2015-03-14 09:26:53 UTC
const env = {...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C.UTF-8'}
const src = bytesSource
/** The bytes of an in-memory file input (its source is a bytesSource). */
const bytesOf = (f: FatInput): Uint8Array => ('source' in f ? concatBytes([...(f.source.open() as Iterable<Uint8Array>)]) : new Uint8Array())

/** `xxd -r` for the part of a dump below `limit` bytes ("*" repeats the previous line). */
function unxxd(text: string, limit: number): Uint8Array {
  const out = new Uint8Array(limit)
  let prev: {at: number; bytes: number[]} | undefined
  let repeating = false
  for (const line of text.split('\n')) {
    if (line.trim() === '*') {
      repeating = true
      continue
    }
    const m = /^([0-9a-f]{8}): ((?:[0-9a-f]{2,4} ?)+)/.exec(line)
    if (!m) continue
    const at = parseInt(m[1]!, 16)
    const bytes = (m[2]!.replaceAll(' ', '').match(/../g) ?? []).map((h) => parseInt(h, 16))
    if (repeating && prev) {
      for (let p = prev.at + 16; p < Math.min(at, limit); p += 16) out.set(prev.bytes.slice(0, Math.max(0, limit - p)), p)
    }
    repeating = false
    if (at < limit) out.set(bytes.slice(0, limit - at), at)
    prev = {at, bytes}
  }
  return out
}

function sampleFiles(): FatInput[] {
  return [
    {path: 'EFI/BOOT/BOOTX64.EFI', source: src(new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff))},
    {path: 'loader/entries/a very long file name.conf', source: src(new TextEncoder().encode('title appliance\n'))},
    {path: 'loader/entries/a very long file name 2.conf', source: src(new TextEncoder().encode('title other\n'))},
    {path: 'loader/loader.conf', source: src(new TextEncoder().encode('timeout 0\n'))},
    {path: 'empty', source: src(new Uint8Array())},
    {path: '/emptydir', directory: true},
    {path: 'ünïcödé ☃.txt', source: src(new Uint8Array([1, 2, 3]))},
    {path: 'exactly-thirteen', source: src(new Uint8Array(512))},
  ]
}

function thousandFiles(): FatInput[] {
  const files: FatInput[] = []
  for (let i = 0; i < 1000; i++) {
    const dir = `folder number ${i % 7}/sub folder ${i % 5}/${i % 3 === 0 ? 'deeper level/' : ''}`
    const data = new Uint8Array((i * 37) % 1500).map((_, j) => (i + j) & 0xff)
    files.push({path: `${dir}a file with a long name number ${i}.bin`, source: src(data)})
  }
  return files
}

async function sha256Of(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256')
  for await (const c of chunks) hash.update(c)
  return hash.digest('hex')
}

function withImage<T>(image: Uint8Array, fn: (img: string, dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'fat32-test-'))
  try {
    const img = join(dir, 'esp.img')
    writeFileSync(img, image)
    return fn(img, dir)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

function fsckClean(img: string): string {
  const r = spawnSync('fsck.fat', ['-n', '-v', img], {encoding: 'utf8'})
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.doesNotMatch(r.stdout, /(fix|Fix|Free cluster summary wrong|differ|Dirty|Unable|Invalid|Bad)/, r.stdout)
  return r.stdout
}

function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name)
    return statSync(full).isDirectory() ? walk(full, `${prefix}${name}/`) : [`${prefix}${name}`]
  })
}

describe('formats: fat32', () => {
  it('converts the epoch to FAT date/time in UTC and clamps to 1980', () => {
    assert.deepEqual(fatDateTime(EPOCH), {date: 0x466e, time: 0x4b5a})
    assert.deepEqual(fatDateTime(0), {date: (0 << 9) | (1 << 5) | 1, time: 0})
    assert.deepEqual(fatDateTime(315532800 + 86400 + 3 * 3600 + 61), {date: (1 << 5) | 2, time: (3 << 11) | (1 << 5) | 0})
  })

  it('matches mkfs.fat\'s mkfs-fat32_2_res_sects geometry, BPB, FSInfo, FAT and label entry', () => {
    const ref = unxxd(readFileSync(new URL('mkfs-fat32_2_res_sects.xxd', vectors), 'utf8'), 0x1f3820)
    const g = computeGeometry(2048000, 8, 2)
    assert.equal(g.fatSectors, 1997)
    assert.equal(g.backupBootSector, 0)
    assert.equal(g.dataStartSector, 3996)
    const boot = fat32BootSector(g, 0x1234abcd, 'TESTFAT32')
    // jump, then the BPB and extended BPB field by field (the OEM name and boot code are our own)
    assert.deepEqual([...boot.subarray(0, 3)], [...ref.subarray(0, 3)])
    for (const [off, len, what] of [
      [11, 2, 'bytes per sector'], [13, 1, 'sectors per cluster'], [14, 2, 'reserved'], [16, 1, 'FATs'],
      [17, 2, 'root entries'], [19, 2, 'total16'], [21, 1, 'media'], [22, 2, 'FAT16 size'], [24, 2, 'sectors/track'],
      [26, 2, 'heads'], [28, 4, 'hidden'], [32, 4, 'total sectors'], [36, 4, 'FAT size'], [40, 2, 'flags'],
      [42, 2, 'version'], [44, 4, 'root cluster'], [48, 2, 'FSInfo'], [50, 2, 'backup boot'], [52, 12, 'reserved'],
      [64, 1, 'drive'], [65, 1, 'reserved1'], [66, 1, 'boot signature'], [67, 4, 'volume id'], [71, 11, 'label'],
      [82, 8, 'fs type'], [510, 2, 'signature'],
    ] as const) {
      assert.deepEqual([...boot.subarray(off, off + len)], [...ref.subarray(off, off + len)], what)
    }
    // one cluster (the root) is used
    assert.deepEqual(fat32FsInfo(g.clusterCount - 1), ref.subarray(512, 1024))
    assert.equal(Buffer.from(ref).readUInt32LE(512 + 488), 255499)
    // the label record in the root directory, timestamps from SOURCE_DATE_EPOCH
    assert.deepEqual(fat32LabelEntry('TESTFAT32', EPOCH), ref.subarray(3996 * 512, 3996 * 512 + 32))
    // both FATs begin: media, clean-shutdown, root end of chain
    const fatHead = Buffer.from('f8ffff0fffffff0ff8ffff0f', 'hex')
    assert.deepEqual(ref.subarray(2 * 512, 2 * 512 + 12), new Uint8Array(fatHead))
    assert.deepEqual(ref.subarray((2 + 1997) * 512, (2 + 1997) * 512 + 12), new Uint8Array(fatHead))
  })

  it('writes the same FAT head and root as the vector for an empty labelled volume', async () => {
    // a small volume with the vector's layout choices: compare the first FAT sector and the root cluster
    const img = await writeFat32({files: [], volumeId: 0x1234abcd, label: 'TESTFAT32', sourceDateEpoch: EPOCH, sizeBytes: 40 * 1024 * 1024})
    const g = planFat32({files: [], volumeId: 0, sourceDateEpoch: 0, sizeBytes: 40 * 1024 * 1024})
    const fat = img.subarray(g.reservedSectors * 512, g.reservedSectors * 512 + 512)
    const expected = new Uint8Array(512)
    expected.set(Buffer.from('f8ffff0fffffff0ff8ffff0f', 'hex'))
    assert.deepEqual(fat, expected)
    const root = img.subarray(g.dataStartSector * 512, g.dataStartSector * 512 + 512)
    const expectedRoot = new Uint8Array(512)
    expectedRoot.set(fat32LabelEntry('TESTFAT32', EPOCH))
    assert.deepEqual(root, expectedRoot)
  })

  it('chooses mkfs.fat cluster sizes and keeps small volumes valid FAT32', () => {
    const small = planFat32({files: [{path: 'a', source: src(new Uint8Array(10))}], volumeId: 1, sourceDateEpoch: 1})
    assert.equal(small.sectorsPerCluster, 1)
    assert.ok(small.clusterCount >= 65525)
    assert.equal((small.totalSectors * 512) % (1024 * 1024), 0)
    assert.equal(planFat32({files: [], volumeId: 1, sourceDateEpoch: 1, sizeBytes: 260 * 1024 * 1024}).sectorsPerCluster, 1)
    const big = planFat32({files: [], volumeId: 1, sourceDateEpoch: 1, sizeBytes: 261 * 1024 * 1024})
    assert.equal(big.sectorsPerCluster, 8)
    assert.equal(big.dataStartSector % 8, 0) // data aligned to the cluster
    assert.throws(() => planFat32({files: [], volumeId: 1, sourceDateEpoch: 1, sizeBytes: 16 * 1024 * 1024}), /at least 65529/)
    assert.throws(
      () => planFat32({files: [{path: 'x', source: src(new Uint8Array(40 * 1024 * 1024))}], volumeId: 1, sourceDateEpoch: 1, sizeBytes: 34 * 1024 * 1024}),
      /content needs/,
    )
  })

  it('names: exact 8.3, aliases with collisions, LFN checksum', () => {
    assert.equal(exactShortName('BOOTX64.EFI'), 'BOOTX64 EFI')
    assert.equal(exactShortName('bootx64.efi'), undefined)
    assert.equal(exactShortName('A.B.C'), undefined)
    const used = new Set<string>(['LONGFI~1TXT'])
    assert.equal(aliasShortName('long file name.txt', used), 'LONGFI~2TXT')
    const many = new Set<string>()
    for (let i = 1; i <= 9; i++) many.add(aliasShortName(`long file name ${i}.txt`, many))
    assert.equal(aliasShortName('long file name 10.txt', many), 'LONGF~10TXT')
    assert.equal(aliasShortName('.bashrc', new Set()), 'BASHRC~1   ')
    assert.equal(aliasShortName('a+b=c.tar.gz', new Set()), 'A_B_CT~1GZ ')
    // checksum from the VFAT definition, worked by hand for "BOOTX64 EFI"
    let sum = 0
    for (const c of Buffer.from('BOOTX64 EFI', 'latin1')) sum = (((sum & 1) << 7) + (sum >> 1) + c) & 0xff
    assert.equal(lfnChecksum(Buffer.from('BOOTX64 EFI', 'latin1')), sum)
    assert.equal(lfnChecksum(Buffer.from('AVERYL~1CON', 'latin1')), 0x71) // as mcopy wrote it
  })

  it('writes the same long-name records and alias as mcopy for one file', async () => {
    // mkfs.fat -F 32 + mcopy of "a very long file name.conf": the root's first three records
    const mcopy = [
      '4269006c00650020006e000f007161006d0065002e0063006f0000006e006600',
      '01610020007600650072000f0071790020006c006f006e006700000020006600',
    ]
    const image = await writeFat32({files: [{path: 'a very long file name.conf', source: src(new Uint8Array(3))}], volumeId: 1, sourceDateEpoch: EPOCH})
    const g = planFat32({files: [], volumeId: 1, sourceDateEpoch: 1})
    const root = image.subarray(g.dataStartSector * 512)
    assert.equal(Buffer.from(root.subarray(0, 64)).toString('hex'), mcopy.join(''))
    assert.equal(Buffer.from(root.subarray(64, 76)).toString('latin1'), 'AVERYL~1CON ')
  })

  it('fsck.fat finds nothing to fix and mtools reads every file back byte for byte', async () => {
    const files = sampleFiles()
    const image = await writeFat32({files, volumeId: 0xcafe1234, label: 'ESP', sourceDateEpoch: EPOCH, hiddenSectors: 2048})
    withImage(image, (img) => {
      const report = fsckClean(img)
      assert.match(report, /2048 hidden sectors|2048 hidden/)
      const listing = execFileSync('mdir', ['-i', img, '-/', '-b', '::'], {encoding: 'utf8', env})
      const listed = listing.split('\n').filter((l) => l && !l.endsWith('/')).sort()
      const wanted = files.filter((f) => 'source' in f).map((f) => `::/${f.path}`).sort()
      assert.deepEqual(listed, wanted)
      assert.ok(listing.includes('::/emptydir/'))
      for (const f of files) {
        if (!('source' in f)) continue
        const back = execFileSync('mtype', ['-i', img, `::/${f.path}`], {env})
        assert.equal(sha256(back), sha256(bytesOf(f)), f.path)
      }
      const info = execFileSync('minfo', ['-i', img, '::'], {encoding: 'utf8', env})
      assert.match(info, /serial number: CAFE1234/i)
      assert.match(info, /disk type="FAT32   "/)
      const root = execFileSync('mdir', ['-i', img, '::'], {encoding: 'utf8', env})
      assert.match(root, /^EMPTY\s+0 2015-03-14\s+9:26\s+empty$/m) // case-only difference keeps its 8.3 name
      assert.match(root, /^EXACTL~1\s+512 .* exactly-thirteen$/m)
      const dir = execFileSync('mdir', ['-i', img, '::/EFI/BOOT'], {encoding: 'utf8', env})
      assert.match(dir, /BOOTX64\s+EFI\s+300000 2015-03-14\s+9:26/)
    })
  })

  it('round-trips 1,000 files in nested folders with long names through mtools', async function () {
    this.timeout(120_000)
    const files = thousandFiles()
    const image = await writeFat32({files, volumeId: 1, label: 'MANY', sourceDateEpoch: EPOCH})
    withImage(image, (img, tmp) => {
      fsckClean(img)
      const out = join(tmp, 'out')
      mkdirSync(out)
      execFileSync('mcopy', ['-s', '-n', '-i', img, '::/*', out], {env})
      const got = walk(out).sort()
      assert.equal(got.length, 1000)
      assert.deepEqual(got, files.map((f) => f.path).sort())
      for (const f of files) {
        assert.equal(sha256(readFileSync(join(out, f.path))), sha256(bytesOf(f)), f.path)
      }
    })
  })

  it('sits in a GPT ESP that mtools reads at the partition offset', async () => {
    const files = sampleFiles()
    const esp = await writeFat32({files, volumeId: 0x0badcafe, label: 'ESP', sourceDateEpoch: EPOCH, hiddenSectors: 2048})
    const chunks: Uint8Array[] = []
    const disk = writeGptDisk({
      diskGuid: '1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBD',
      partitions: [{typeGuid: ESP_TYPE_GUID, uniqueGuid: '60F33797-1D71-4DCB-AA6F-20564F036CD0', name: 'ESP', content: esp}],
    })
    for await (const c of disk) chunks.push(c)
    withImage(Buffer.concat(chunks), (img) => {
      const back = execFileSync('mtype', ['-i', `${img}@@1M`, '::/EFI/BOOT/BOOTX64.EFI'], {env})
      assert.equal(sha256(back), sha256(bytesOf(files[0]!)))
      assert.match(execFileSync('sfdisk', ['--verify', img], {encoding: 'utf8'}), /No errors detected/)
    })
  })

  it('is deterministic, independent of input order, and one changed byte changes the image', async () => {
    const opts = {volumeId: 7, label: 'ESP', sourceDateEpoch: EPOCH}
    const a = sha256(await writeFat32({...opts, files: sampleFiles()}))
    assert.equal(sha256(await writeFat32({...opts, files: sampleFiles()})), a)
    assert.equal(sha256(await writeFat32({...opts, files: sampleFiles().reverse()})), a)
    const changed = sampleFiles()
    const flipped = bytesOf(changed[0]!)
    flipped[1234] ^= 1
    changed[0] = {path: changed[0]!.path, source: src(flipped)}
    assert.notEqual(sha256(await writeFat32({...opts, files: changed})), a)
    assert.notEqual(sha256(await writeFat32({...opts, files: sampleFiles(), sourceDateEpoch: EPOCH + 2})), a)
    assert.notEqual(sha256(await writeFat32({...opts, files: sampleFiles(), volumeId: 8})), a)
  })

  it('streams the bytes the in-memory writer wrote before streaming (known answers)', async function () {
    this.timeout(60_000)
    // sha256 of writeFat32's output for these inputs at 9f8d263, when it built the volume in one buffer.
    const before = {
      sample: '866e7aa92db291d41e9bca34d260230f944c1190e5cf9ebd735b9ec29978f7b1',
      sampleNoLabel: 'bd604bde415f9c69f0d1db41952ff95e0a72d01e24b074e9017fc323b9692bf1',
      many: 'b3d89f4f8234098eec3bf4aeb259e61762ac4f38827749c811c2668154f5d8b5',
      empty40: 'c1ac13608b19548fafac55384e8e5a5cd4d7a9542b6b3b970fb32eb173a6bf69',
      spc2res2: '52cd6d5de9efde83fd06e3e6514b2544fef7ae550ffe61b0aab61e9f9ca3f725',
      spc8: '34c69a51de036fbedf48837de08d4a726795a43c2fc7bf5c95410fa12bf65735',
    }
    const stream = writeFat32Stream
    assert.equal(await sha256Of(stream({files: sampleFiles(), volumeId: 0xcafe1234, label: 'ESP', sourceDateEpoch: EPOCH, hiddenSectors: 2048})), before.sample)
    assert.equal(await sha256Of(stream({files: sampleFiles(), volumeId: 7, sourceDateEpoch: EPOCH})), before.sampleNoLabel)
    assert.equal(await sha256Of(stream({files: thousandFiles(), volumeId: 1, label: 'MANY', sourceDateEpoch: EPOCH})), before.many)
    assert.equal(sha256(await writeFat32({files: thousandFiles(), volumeId: 1, label: 'MANY', sourceDateEpoch: EPOCH})), before.many)
    const empty = {files: [], volumeId: 0x1234abcd, label: 'TESTFAT32', sourceDateEpoch: EPOCH, sizeBytes: 40 * 1024 * 1024}
    assert.equal(await sha256Of(stream(empty)), before.empty40)
    const noBackup = {files: sampleFiles(), volumeId: 9, label: 'X', sourceDateEpoch: EPOCH, sizeBytes: 80 * 1024 * 1024, sectorsPerCluster: 2, reservedSectors: 2}
    assert.equal(await sha256Of(stream(noBackup)), before.spc2res2)
    // 8-sector clusters, reserved sectors raised to align the data; a 5 MB file given in odd-sized chunks
    const big = new Uint8Array(5_000_001).map((_, i) => (i * 131 + (i >> 12)) & 0xff)
    const chunked = {
      size: big.length,
      *open() {
        for (let at = 0; at < big.length; at += 65_537) yield big.subarray(at, at + 65_537)
      },
    }
    const spc8 = {files: [...sampleFiles(), {path: 'big.bin', source: chunked}], volumeId: 0xdeadbeef, label: 'ESP', sourceDateEpoch: EPOCH, sizeBytes: 270 * 1024 * 1024, hiddenSectors: 2048}
    assert.equal(planFat32(spc8).reservedSectors, 34)
    assert.equal(await sha256Of(stream(spc8)), before.spc8)
  })

  it('refuses names FAT cannot hold apart, bad labels and clashing paths', () => {
    const base = {volumeId: 1, sourceDateEpoch: 1}
    const d = src(new Uint8Array(1))
    assert.throws(() => writeFat32({...base, files: [{path: 'a.txt', source: d}, {path: 'A.TXT', source: d}]}), /differ only in case/)
    assert.throws(() => writeFat32({...base, files: [{path: 'a:b', source: d}]}), /does not allow/)
    assert.throws(() => writeFat32({...base, files: [{path: 'a/../b', source: d}]}), /invalid FAT name/)
    assert.throws(() => writeFat32({...base, files: [{path: 'a', source: d}, {path: 'a/b', source: d}]}), /through a file/)
    assert.throws(() => writeFat32({...base, files: [{path: 'a', source: d}, {path: 'a', source: d}]}), /given twice/)
    assert.throws(() => writeFat32({...base, files: [], label: 'much too long label'}), /label/)
  })
})
