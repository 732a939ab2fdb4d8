// ESP and disk assembly: seeded identifiers, the ESP placed in the disk as written alone, host tools agree.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {bytesSource, concatBytes, type SizedSource} from '../../src/formats/bytes.js'
import type {FatFileInput} from '../../src/formats/fat32.js'
import {ESP_TYPE_GUID} from '../../src/formats/gpt.js'
import {derivePartitionGuid, deriveVolumeId, parseSeed} from '../../src/formats/seed.js'
import {StagexError} from '../../src/errors.js'
import {buildDisk, parseSize, sha256Stream} from '../../src/image/disk.js'
import {syslinuxEspFiles, ukiEspFiles} from '../../src/image/loader.js'

const repart = JSON.parse(readFileSync(new URL('../../../shared/vectors/disk/systemd-repart/vectors.json', import.meta.url), 'utf8'))
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const env = {...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C.UTF-8'}
const bytes = (n: number, k: number) => new Uint8Array(n).map((_, i) => (i * k + 3) & 0xff)

function sampleFiles() {
  return syslinuxEspFiles({
    syslinuxEfi: bytes(171_456, 7),
    ldlinux: bytes(136_880, 11),
    kernel: bytesSource(bytes(3_000_000, 13)),
    initrd: bytesSource(bytes(1_000_001, 17)),
    cmdline: 'console=ttyS0 quiet',
  })
}

/** The bytes of an in-memory ESP file (every source here is a bytesSource). */
const bytesOf = (f: FatFileInput) => concatBytes([...(f.source.open() as Iterable<Uint8Array>)])

/** Zero bytes made when read, 1 MiB at a time (never held). */
const lazyZeros = (size: number): SizedSource => ({
  size,
  *open() {
    for (let at = 0; at < size; at += 1 << 20) yield new Uint8Array(Math.min(1 << 20, size - at))
  },
})

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

describe('image: ESP and disk', function () {
  this.timeout(60_000)
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'stagex-disk-'))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('derives systemd-repart\'s disk GUID and the ESP GUID from the same seed, and the FAT serial', async () => {
    const seed = parseSeed(repart.seed)
    const disk = buildDisk({files: sampleFiles(), seed, sourceDateEpoch: 1})
    assert.equal(disk.layout.diskGuid, repart.expectedFromSystemdTest.emptyDisk['label-id'])
    assert.equal(disk.layout.partitions[0]!.uniqueGuid, derivePartitionGuid(seed, ESP_TYPE_GUID, 0))
    assert.equal(disk.volumeId, deriveVolumeId(seed))
    const esp = await collect(disk.esp())
    assert.equal(new DataView(esp.buffer, esp.byteOffset).getUint32(67, true), disk.volumeId, 'BPB volume id')

    const path = join(dir, 'repart.raw')
    writeFileSync(path, await collect(disk.disk()))
    const table = JSON.parse(execFileSync('sfdisk', ['--json', path], {encoding: 'utf8'})).partitiontable
    assert.equal(table.id, '1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBD')
    assert.equal(table.partitions[0].uuid, disk.layout.partitions[0]!.uniqueGuid)
    assert.equal(table.partitions[0].type, ESP_TYPE_GUID)
    assert.match(execFileSync('sfdisk', ['--verify', path], {encoding: 'utf8'}), /No errors detected/)
  })

  it('puts the ESP at LBA 2048 byte for byte, with the hidden-sectors field pointing there', async () => {
    const disk = buildDisk({files: sampleFiles(), seed: parseSeed('00112233445566778899aabbccddeeff'), sourceDateEpoch: 1})
    const whole = await collect(disk.disk())
    const esp = await collect(disk.esp())
    const p = disk.layout.partitions[0]!
    assert.equal(p.firstLba, 2048)
    assert.equal(sha256(whole.subarray(p.offsetBytes, p.offsetBytes + esp.length)), sha256(esp))
    assert.equal(new DataView(esp.buffer, esp.byteOffset).getUint32(28, true), 2048)
    assert.equal(whole.length, disk.layout.sizeBytes)
  })

  it('fsck.fat finds nothing to fix; mtools lists every file and reads it back byte for byte', async () => {
    const files = sampleFiles()
    const disk = buildDisk({files, seed: parseSeed('0f'.repeat(16)), sourceDateEpoch: 1_700_000_000})
    const path = join(dir, 'esp.img')
    writeFileSync(path, await collect(disk.esp()))
    execFileSync('fsck.fat', ['-n', path])
    const listed = execFileSync('mdir', ['-/', '-b', '-i', path, '::'], {env, encoding: 'utf8'}).trim().split('\n').filter((l) => !l.endsWith('/'))
    assert.deepEqual(listed.sort(), files.map((f) => `::/${f.path}`).sort())
    for (const f of files) assert.equal(sha256(execFileSync('mtype', ['-i', path, `::/${f.path}`], {env, maxBuffer: 1 << 26})), sha256(bytesOf(f)), f.path)
  })

  it('honours an ESP size, and refuses one too small for the files or for FAT32', async () => {
    const disk = buildDisk({files: sampleFiles(), seed: parseSeed('01'.repeat(16)), sourceDateEpoch: 1, sizeBytes: parseSize('64M')})
    assert.equal((await collect(disk.esp())).length, 64 * 1024 * 1024)
    assert.equal(disk.espSize, 64 * 1024 * 1024)
    assert.throws(() => buildDisk({files: sampleFiles(), seed: parseSeed('01'.repeat(16)), sourceDateEpoch: 1, sizeBytes: parseSize('8M')}), /FAT32 needs at least/)
    assert.equal(parseSize('512K'), 524_288)
    assert.equal(parseSize('1G'), 1024 ** 3)
    assert.throws(() => parseSize('10MB'), /not a size/)
  })

  it('streams the ESP and disk the in-memory builder wrote before streaming (known answers)', async () => {
    // sha256 (and sizes) of buildDisk's ESP and disk for these inputs at 9f8d263, when it held the ESP in memory.
    const cases = [
      {seed: '00112233445566778899aabbccddeeff', sizeBytes: undefined, esp: '6a47e7e56e9aab82985d8eb5436875e362999269adc5c106dbb95e23349cf873', espSize: 34_603_008,
        disk: 'e770a567f54237ff69988bc56b09f0d74023e7535e9a8d2bb7b3965e4a6f6976', diskSize: 36_700_160},
      {seed: '01'.repeat(16), sizeBytes: 64 * 1024 * 1024, esp: '3bdc550c93a2e49a8208ec11995677927e0958f81c776bbefc41448a5c7cee9f', espSize: 67_108_864,
        disk: 'dcc2d12cd3f7ac0dc874a00a8d2e73e42fcc4907c05596dc0f550e27b4171292', diskSize: 69_206_016},
    ]
    for (const c of cases) {
      const disk = buildDisk({files: sampleFiles(), seed: parseSeed(c.seed), sourceDateEpoch: 1, sizeBytes: c.sizeBytes})
      assert.deepEqual(await sha256Stream(disk.esp()), {sha256: c.esp, size: c.espSize})
      assert.deepEqual(await sha256Stream(disk.disk()), {sha256: c.disk, size: c.diskSize})
      assert.equal(disk.espSize, c.espSize)
      assert.equal(disk.layout.sizeBytes, c.diskSize)
    }
  })

  it('an ESP size too small for the files is bad input (exit 4) naming the ESP and boot.espSize, before any file is read', () => {
    const files = ukiEspFiles({size: 40 * 1024 * 1024, open: () => assert.fail('nothing is read to lay the disk out')})
    const error = (() => {
      try {
        buildDisk({files, seed: parseSeed('02'.repeat(16)), sourceDateEpoch: 1, sizeBytes: parseSize('34M')})
      } catch (e) {
        return e
      }
      return assert.fail('expected a refusal')
    })()
    assert.ok(error instanceof StagexError)
    assert.equal(error.exitCode, 4)
    assert.match(error.message, /^the ESP is too small for its files: content needs \d+ clusters of 512 bytes \(\d+ bytes\); a 35651584-byte FAT32 volume/)
    assert.match(error.message, /Set boot\.espSize to at least 41M, or leave it out/)
    // the size it names works
    assert.equal(buildDisk({files, seed: parseSeed('02'.repeat(16)), sourceDateEpoch: 1, sizeBytes: parseSize('41M')}).espSize, 41 * 1024 * 1024)
  })

  it('streams the disk of a ~600 MB ESP with memory that does not grow with it, the ESP partition equal to the ESP stream', async function () {
    this.timeout(120_000)
    const files = syslinuxEspFiles({syslinuxEfi: bytes(171_456, 7), ldlinux: bytes(136_880, 11), kernel: lazyZeros(30_000_001), initrd: lazyZeros(570_000_003), cmdline: 'quiet'})
    const disk = buildDisk({files, seed: parseSeed('03'.repeat(16)), sourceDateEpoch: 1})
    const p = disk.layout.partitions[0]!
    const before = process.memoryUsage().rss
    let peak = before
    let at = 0
    const inPartition = createHash('sha256')
    for await (const chunk of disk.disk()) {
      // the part of the chunk inside the ESP partition
      const from = Math.max(0, p.offsetBytes - at)
      const to = Math.min(chunk.length, p.offsetBytes + disk.espSize - at)
      if (to > from) inPartition.update(chunk.subarray(from, to))
      at += chunk.length
      peak = Math.max(peak, process.memoryUsage().rss)
    }
    assert.equal(at, disk.layout.sizeBytes)
    assert.ok(disk.espSize > 600e6)
    assert.ok(peak - before < 150 * 1024 * 1024, `rss grew by ${((peak - before) / 1024 / 1024).toFixed(1)} MiB`)
    assert.deepEqual(await sha256Stream(disk.esp()), {sha256: inPartition.digest('hex'), size: disk.espSize})
  })
})
