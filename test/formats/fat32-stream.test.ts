// The FAT32 writer streams: volumes far larger than memory are laid out from sizes and written in order,
// memory stays flat, sizes are found for any content FAT32 can hold, and wrong sizes fail clearly.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createWriteStream, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import type {SizedSource} from '../../src/formats/bytes.js'
import {bytesSource} from '../../src/formats/bytes.js'
import {type FatInput, FatLayoutError, fat32Geometry, planFat32, writeFat32, writeFat32Stream} from '../../src/formats/fat32.js'
import {drainSamplingRss} from '../helpers/stream-rss.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const EPOCH = 1426325213
const env = {...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C.UTF-8'}

/** `size` bytes made when read, `chunk` at a time, each chunk a fresh buffer (as a file read gives); chunk i filled with (37i + 1) & 0xff. */
function lazySource(size: number, chunk = MiB, pattern = true): SizedSource & {opened: number} {
  const source = {
    size,
    opened: 0,
    *open() {
      source.opened++
      for (let at = 0, i = 0; at < size; at += chunk, i++) {
        const c = new Uint8Array(Math.min(chunk, size - at))
        if (pattern) c.fill((i * 37 + 1) & 0xff)
        yield c
      }
    },
  }
  return source
}

/** Files whose sizes alone matter (plans only: open() is never called). */
const sized = (size: number): SizedSource => ({size, open: () => assert.fail('a plan must not read the files')})

async function sha256Of(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256')
  for await (const c of chunks) hash.update(c)
  return hash.digest('hex')
}

const thrown = (fn: () => unknown): unknown => {
  try {
    fn()
  } catch (error) {
    return error
  }
  return assert.fail('expected a throw')
}

describe('formats: fat32 streaming', function () {
  this.timeout(60_000)

  it('streams a ~600 MB ESP with memory that does not grow with it (rss delta < 150 MB)', async () => {
    const files: FatInput[] = [
      {path: 'EFI/BOOT/BOOTX64.EFI', source: bytesSource(new Uint8Array(171_456).fill(7))},
      {path: 'LINUX', source: lazySource(30_000_001, 256 * 1024)},
      {path: 'INITRD', source: lazySource(570_000_003, 256 * 1024)},
    ]
    const options = {files, volumeId: 2, label: 'ESP', sourceDateEpoch: EPOCH, hiddenSectors: 2048}
    const hash = createHash('sha256')
    const {size, rssGrowth} = await drainSamplingRss(writeFat32Stream(options), (chunk) => hash.update(chunk))
    assert.equal(size, planFat32(options).totalSectors * 512)
    assert.ok(size > 600e6)
    assert.ok(rssGrowth < 150 * MiB, `rss grew by ${(rssGrowth / MiB).toFixed(1)} MiB`)
    assert.match(hash.digest('hex'), /^[0-9a-f]{64}$/)
  })

  it('plans and streams a volume for a 2 GiB file; the stream is exactly the planned size, in chunks of at most 1 MiB', async () => {
    const files: FatInput[] = [
      {path: 'EFI/BOOT/BOOTX64.EFI', source: bytesSource(new Uint8Array(4096).fill(0x90))},
      {path: 'INITRD', source: lazySource(2 * GiB, MiB, false)},
    ]
    const options = {files, volumeId: 1, label: 'ESP', sourceDateEpoch: EPOCH}
    const g = planFat32(options)
    assert.equal(g.sectorsPerCluster, 8)
    assert.ok(g.totalSectors * 512 > 2 * GiB)
    let size = 0
    let largest = 0
    for await (const chunk of writeFat32Stream(options)) {
      size += chunk.length
      largest = Math.max(largest, chunk.length)
    }
    assert.equal(size, g.totalSectors * 512)
    assert.ok(largest <= MiB, `largest chunk ${largest}`)
  })

  it('finds a size for content just past a cluster-size step (mkfs.fat\'s 260 MiB and 8 GiB steps), which once failed', () => {
    // 256 MiB needs more than 260 MiB with 512-byte clusters, but less with 4 KiB ones: the first 4 KiB-cluster size.
    const g = planFat32({files: [{path: 'INITRD', source: sized(256 * MiB)}], volumeId: 1, label: 'ESP', sourceDateEpoch: 1})
    assert.equal(g.totalSectors * 512, 261 * MiB)
    assert.equal(g.sectorsPerCluster, 8)
    assert.deepEqual(fat32Geometry(261 * MiB), g) // the size alone gives the same geometry again
    const parts = [3 * GiB, 3 * GiB, 8180 * MiB - 6 * GiB].map((size, i) => ({path: `PART${i}`, source: sized(size)}))
    const big = planFat32({files: parts, volumeId: 1, sourceDateEpoch: 1})
    assert.equal(big.totalSectors * 512, 8193 * MiB)
    assert.equal(big.sectorsPerCluster, 16)
  })

  it('refuses an explicit size too small for the files with FatLayoutError: the bytes they need and the volume size', () => {
    const files = [{path: 'LINUX', source: sized(40 * MiB)}]
    const error = thrown(() => planFat32({files, volumeId: 1, sourceDateEpoch: 1, sizeBytes: 34 * MiB}))
    assert.ok(error instanceof FatLayoutError)
    assert.equal(error.problem, 'too-small')
    assert.equal(error.limitBytes, 34 * MiB)
    assert.match(error.message, /content needs 81921 clusters of 512 bytes \(41943552 bytes\); a 35651584-byte FAT32 volume has \d+; the smallest volume that holds it is \d+ bytes/)
    // the size it names holds the files; 1 MiB less does not
    assert.equal(planFat32({files, volumeId: 1, sourceDateEpoch: 1, sizeBytes: error.neededBytes}).totalSectors * 512, error.neededBytes)
    assert.throws(() => planFat32({files, volumeId: 1, sourceDateEpoch: 1, sizeBytes: error.neededBytes - MiB}), FatLayoutError)
    // the writer refuses it the same way, before reading anything
    assert.throws(() => writeFat32Stream({files, volumeId: 1, sourceDateEpoch: 1, sizeBytes: 34 * MiB}), FatLayoutError)
  })

  it('refuses content no FAT32 volume can hold, and a file of 4 GiB, with FatLayoutError', () => {
    const many = Array.from({length: 600}, (_, i) => ({path: `F${i}`, source: sized(4 * GiB - 1)}))
    const tooLarge = thrown(() => planFat32({files: many, volumeId: 1, sourceDateEpoch: 1}))
    assert.ok(tooLarge instanceof FatLayoutError)
    assert.equal(tooLarge.problem, 'too-large')
    assert.match(tooLarge.message, /content needs \d+ bytes in 32768-byte clusters; the largest FAT32 volume of 512-byte sectors is \d+ bytes/)
    const oneFile = thrown(() => planFat32({files: [{path: 'BIG', source: sized(4 * GiB)}], volumeId: 1, sourceDateEpoch: 1}))
    assert.ok(oneFile instanceof FatLayoutError)
    assert.equal(oneFile.problem, 'file-too-large')
    assert.match(oneFile.message, /at most 4294967295 bytes; "BIG" is 4294967296 bytes/)
    // just under the limit is fine
    assert.ok(planFat32({files: [{path: 'BIG', source: sized(4 * GiB - 1)}], volumeId: 1, sourceDateEpoch: 1}).totalSectors > 0)
  })

  it('fails the stream when a source gives fewer or more bytes than its size', async () => {
    const short = {size: 10, open: () => [new Uint8Array(4), new Uint8Array(5)]}
    await assert.rejects(writeFat32({files: [{path: 'a/short.bin', source: short}], volumeId: 1, sourceDateEpoch: 1}), /FAT file "a\/short\.bin": its source gave 9 bytes, but the volume was laid out for 10/)
    const long = {size: 10, open: () => [new Uint8Array(6), new Uint8Array(6)]}
    await assert.rejects(writeFat32({files: [{path: 'long.bin', source: long}], volumeId: 1, sourceDateEpoch: 1}), /FAT file "long\.bin": its source gave more than 10 bytes/)
  })

  it('a volume streamed straight into a file: fsck.fat finds nothing to fix, mtools reads the chunked files back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fat32-stream-'))
    try {
      const odd = lazySource(5_000_003, 65_521)
      const files: FatInput[] = [
        {path: 'EFI/BOOT/BOOTX64.EFI', source: bytesSource(new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff))},
        {path: 'LINUX', source: odd},
        {path: 'a long name/with a file.txt', source: lazySource(1, 1)},
        {path: 'empty', source: lazySource(0)},
      ]
      const img = join(dir, 'esp.img')
      await pipeline(writeFat32Stream({files, volumeId: 0xcafe1234, label: 'ESP', sourceDateEpoch: EPOCH, hiddenSectors: 2048}), createWriteStream(img))
      assert.equal(odd.opened, 1, 'each file is read once')
      const r = spawnSync('fsck.fat', ['-n', '-v', img], {encoding: 'utf8'})
      assert.equal(r.status, 0, r.stdout + r.stderr)
      assert.doesNotMatch(r.stdout, /(fix|Fix|Free cluster summary wrong|differ|Dirty|Unable|Invalid|Bad)/, r.stdout)
      for (const f of files) {
        if (!('source' in f)) continue
        const back = execFileSync('mtype', ['-i', img, `::/${f.path}`], {env, maxBuffer: 1 << 24})
        assert.equal(createHash('sha256').update(back).digest('hex'), await sha256Of(f.source.open()), f.path)
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
