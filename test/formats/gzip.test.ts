import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import zlib from 'node:zlib'
import {
  BlockSplitter,
  compressBlock,
  deflateBlock,
  FORAS_VERSION,
  GZIP_BLOCK_SIZE,
  GZIP_BLOCKS_METHOD,
  gzipBlocksMethod,
  gzipBlocksStream,
  gzipHeader,
  inflatesTo,
  isIncompressible,
  storedBlocks,
  WINDOW_SIZE,
} from '../../src/formats/gzip.js'
import {chunked, hostGunzipSha256, MiB, mixedInput, noise, text} from '../helpers/gzip-inputs.js'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts))
const none = new Uint8Array(0)




/** The 10 bytes with which fflate 0.8.3's streaming Deflate reached before the stream's start. */
const ZEROS_FIRST = Uint8Array.of(0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0)

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of gen) parts.push(c)
  return concat(parts)
}


async function blocks(data: Uint8Array, options: {level?: number; blockSize?: number} = {}, sizes = [data.length || 1]) {
  return collect(gzipBlocksStream(chunked(data, sizes), options))
}

/** Where the deflate stream that starts after the header ends: the member's length without the trailer. */
function deflateEnd(gz: Uint8Array): number {
  const {engine} = zlib.inflateRawSync(gz.subarray(10), {info: true}) as unknown as {engine: {bytesWritten: number}}
  return 10 + engine.bytesWritten
}

/** The gzip trailer `data` must get: CRC-32 and length, little-endian. */
function trailerOf(data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setUint32(0, zlib.crc32(data), true)
  new DataView(b.buffer).setUint32(4, data.length, true)
  return b
}

/** Byte equality without dumping megabytes into the report when it fails. */
function sameBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.equal(actual.length, expected.length, `${message ?? 'bytes'}: length`)
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected), `${message ?? 'bytes'}: content differs`)
}

/** Raw inflate by node:zlib (a strict inflater, as the kernel's is). */
const inflate = (raw: Uint8Array) => new Uint8Array(zlib.inflateRawSync(raw))

describe('formats/gzip: the blocked method', () => {
  const mixed = mixedInput()

  it('pins foras at exactly the version the method string names (its integrity in the lock), and has no other deflate', () => {
    const manifest = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as {dependencies: Record<string, string>}
    assert.equal(manifest.dependencies['@hazae41/foras'], FORAS_VERSION, 'an exact version, no range')
    for (const other of ['pako', 'fflate']) assert.equal(manifest.dependencies[other], undefined, other)
    const lock = JSON.parse(readFileSync(join(process.cwd(), 'package-lock.json'), 'utf8')) as {packages: Record<string, {version: string; integrity?: string}>}
    const locked = lock.packages['node_modules/@hazae41/foras']
    assert.equal(locked.version, FORAS_VERSION)
    assert.match(locked.integrity ?? '', /^sha512-/)
    const installed = JSON.parse(readFileSync(join(process.cwd(), 'node_modules/@hazae41/foras/package.json'), 'utf8')) as {version: string}
    assert.equal(installed.version, FORAS_VERSION)
    assert.equal(GZIP_BLOCK_SIZE, MiB)
    assert.equal(FORAS_VERSION, '2.1.4')
    assert.equal(GZIP_BLOCKS_METHOD, 'gzip-9-foras-2.1.4-blocks-1MiB-nodict-flush2-stored-if-entropy-7.97-or-invalid')
    assert.equal(gzipBlocksMethod(6, 256 * 1024), 'gzip-6-foras-2.1.4-blocks-256KiB-nodict-flush2-stored-if-entropy-7.97-or-invalid')
  })

  it('writes the exact header: no name, MTIME 0, XFL per level, OS 3', async () => {
    assert.equal(hex(gzipHeader(9)), '1f8b0800000000000203')
    assert.equal(hex(gzipHeader(6)), '1f8b0800000000000003')
    assert.equal(hex(gzipHeader(1)), '1f8b0800000000000403')
    assert.equal(hex(gzipHeader(0)), '1f8b0800000000000403')
    assert.equal(hex((await blocks(text(1000, 1))).subarray(0, 10)), '1f8b0800000000000203')
    assert.equal(hex((await blocks(text(1000, 1), {level: 6})).subarray(0, 10)), '1f8b0800000000000003')
  })

  it('gives the exact bytes for small inputs', async () => {
    // empty: one empty final fixed-Huffman block (03 00), CRC 0, ISIZE 0
    assert.equal(hex(await blocks(none)), '1f8b0800000000000203' + '0300' + '00000000' + '00000000')
    // "hello\n": one final fixed-Huffman block, CRC-32 0x363a3020, ISIZE 6
    assert.equal(hex(await blocks(new TextEncoder().encode('hello\n'))), HELLO_GZIP)
    assert.equal(new TextDecoder().decode(zlib.gunzipSync(await blocks(new TextEncoder().encode('hello\n')))), 'hello\n')
  })

  it('has known answers on fixed inputs (any change of foras or of the method changes them)', async () => {
    assert.equal(mixed.length, BLOCKS_GOLDEN.inputLength)
    assert.equal(sha256(mixed), BLOCKS_GOLDEN.inputSha256)
    const gz = await blocks(mixed)
    assert.equal(gz.length, BLOCKS_GOLDEN.gzipLength)
    assert.equal(sha256(gz), BLOCKS_GOLDEN.gzipSha256)
    assert.equal(sha256(await blocks(mixed, {level: 6})), BLOCKS_GOLDEN.gzip6Sha256)
    // one block only (BFINAL), and many small blocks (sync flushes)
    assert.equal(sha256(await blocks(text(300000, 3))), BLOCKS_GOLDEN.oneBlockSha256)
    assert.equal(sha256(await blocks(text(300000, 3), {blockSize: 40000})), BLOCKS_GOLDEN.smallBlocksSha256)
    // the parts, block by block: header, four blocks (the third stored), trailer
    const jobs = new BlockSplitter().push(mixed)
    assert.equal(jobs.length, 3)
    sameBytes(compressBlock(jobs[2]), storedBlocks(mixed.subarray(2 * MiB, 3 * MiB), false))
    assert.equal(hex(compressBlock(jobs[0]).subarray(-4)), '0000ffff')
  })

  it('writes the CRC-32 and ISIZE trailer', async () => {
    const gz = await blocks(mixed)
    sameBytes(gz.subarray(-8), trailerOf(mixed))
  })

  it('round-trips through node:zlib gunzip, at every level, awkward sizes and two block sizes', async () => {
    const input = text(200000, 2)
    for (const n of [0, 1, 2, 255, 32767, 32768, 32769, 65535, 65536, 65537, 200000]) {
      const data = input.subarray(0, n)
      for (const level of [0, 1, 6, 9]) {
        for (const blockSize of [GZIP_BLOCK_SIZE, 65536]) {
          sameBytes(new Uint8Array(zlib.gunzipSync(await blocks(data, {level, blockSize}))), data, `size ${n} level ${level} block ${blockSize}`)
        }
      }
    }
  })

  it('passes the host gzip: gzip -t, gzip -dc, gzip -l; and gzip -t fails on a corrupted byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gzip-test-'))
    try {
      const file = join(dir, 'x.gz')
      for (const [name, data] of [['empty', none], ['one block', text(MiB, 5)], ['mixed', mixed]] as const) {
        writeFileSync(file, await blocks(data))
        execFileSync('gzip', ['-t', file])
        assert.equal(sha256(execFileSync('gzip', ['-dc', file], {maxBuffer: 64 << 20})), sha256(data), name)
        // gzip -l reads the trailer: the uncompressed size must be ours
        assert.match(execFileSync('gzip', ['-lv', file], {encoding: 'utf8'}), new RegExp(`\\b${data.length}\\b`), name)
      }
      const bad = await blocks(mixed)
      bad[bad.length - 5] ^= 1
      writeFileSync(file, bad)
      assert.notEqual(spawnSync('gzip', ['-t', file]).status, 0)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('writes stored blocks exactly: 00/01, LEN, NLEN, bytes; 65535 at most each', () => {
    assert.equal(hex(storedBlocks(Uint8Array.of(1, 2, 3), true)), '010300fcff010203')
    assert.equal(hex(storedBlocks(Uint8Array.of(1, 2, 3), false)), '000300fcff010203')
    assert.equal(hex(storedBlocks(none, true)), '010000ffff')
    assert.equal(hex(storedBlocks(none, false)), '000000ffff')
    const big = noise(65536, 1)
    const s = storedBlocks(big, true)
    assert.equal(s.length, 65536 + 10)
    assert.equal(hex(s.subarray(0, 5)), '00ffff0000')
    assert.equal(hex(s.subarray(5 + 65535, 5 + 65535 + 5)), '010100feff')
    sameBytes(inflate(s), big)
    assert.equal(storedBlocks(noise(65535, 1), false).length, 65535 + 5)
  })

  it('deflates a block on its own, ending in a sync flush (00 00 ff ff) or BFINAL', () => {
    const a = text(300000, 1)
    const middle = deflateBlock(a.subarray(0, 250000), false)
    assert.equal(hex(middle.subarray(-4)), '0000ffff')
    const last = deflateBlock(a.subarray(250000), true)
    sameBytes(inflate(concat([middle, last])), a)
    // no history: the second block's bytes are those of the same data alone
    sameBytes(last, deflateBlock(a.slice(250000), true))
    assert.ok(middle.length < 250000 / 3, `deflated: ${middle.length}`)
    // every block is a buffer of its own, so it can move to another thread as it is
    // (a sync-flushed block's buffer holds 2 bytes more, the empty final block its check used)
    assert.equal(last.byteLength, last.buffer.byteLength)
    assert.equal(middle.byteOffset, 0)
    assert.equal(middle.buffer.byteLength, middle.length + 2)
    // empty blocks: an empty final block (03 00); a sync flush alone
    assert.equal(hex(deflateBlock(none, true)), '0300')
    sameBytes(inflate(concat([deflateBlock(none, false), deflateBlock(none, true)])), none)
    // level 0 is stored blocks
    sameBytes(deflateBlock(a, false, 0), storedBlocks(a, false))
    assert.throws(() => deflateBlock(a, true, -1), RangeError)
    assert.throws(() => deflateBlock(a, true, 10), RangeError)
  })

  it('deflates the inputs that broke fflate 0.8.3 (a match before the stream, a wrong sync flush) into valid streams', async () => {
    sameBytes(inflate(concat([deflateBlock(ZEROS_FIRST, false), storedBlocks(none, true)])), ZEROS_FIRST)
    sameBytes(inflate(deflateBlock(ZEROS_FIRST, true)), ZEROS_FIRST)
    for (const data of [ZEROS_FIRST, concat([ZEROS_FIRST, text(3 * MiB, 6)])]) {
      sameBytes(new Uint8Array(zlib.gunzipSync(await blocks(data))), data)
    }
    // blocks of many lengths, so their last bits end at every position of a byte, each followed by a final block
    for (let k = 0; k < 48; k++) {
      const data = text(20000 + 997 * k, 100 + k)
      const block = deflateBlock(data.subarray(0, data.length - 500), false)
      assert.equal(hex(block.subarray(-4)), '0000ffff')
      sameBytes(inflate(concat([block, deflateBlock(data.subarray(data.length - 500), true)])), data, `length ${data.length}`)
    }
  })

  it('flushes twice: the block whose first sync flush foras 2.1.4 leaves unfinished comes out whole', () => {
    // the input that showed it at levels 6 and 9 (one of 300 such mixes tried)
    const k = 260
    const pieces: Uint8Array[] = []
    for (let p = 0; p < 4; p++) {
      const n = 500 + ((k * 7919 + p * 104729) % 120000)
      pieces.push([text(n, k * 10 + p), new Uint8Array(n), noise(n, k * 10 + p), concat([new Uint8Array(n >> 4), text(n, p)])][(k + p) % 4])
    }
    const data = concat(pieces).subarray(0, 65536 + ((k * 37) % 300000))
    for (const level of [6, 9]) {
      const block = deflateBlock(data, false, level)
      assert.equal(hex(block.subarray(-4)), '0000ffff')
      assert.ok(block.length < data.length * 0.8, `deflated, not the stored fallback: ${block.length} of ${data.length}`)
      sameBytes(inflate(concat([block, storedBlocks(none, true)])), data, `level ${level}`)
    }
  })

  it('checks every block by inflating it: a truncated, corrupted or foreign block is not taken', () => {
    const data = text(100000, 40)
    const good = deflateBlock(data, false)
    assert.equal(inflatesTo(good, data, false), true)
    assert.equal(inflatesTo(deflateBlock(data, true), data, true), true)
    assert.equal(inflatesTo(good.subarray(0, good.length - 7), data, false), false, 'truncated')
    const flipped = good.slice()
    flipped[100] ^= 0x10
    assert.equal(inflatesTo(flipped, data, false), false, 'corrupted')
    assert.equal(inflatesTo(good, text(100000, 41), false), false, 'another input')
    assert.equal(inflatesTo(deflateBlock(concat([data, data]), false), data, false), false, 'longer output')
  })

  it('writes valid streams for mixes of text, zeros and random data, stored and deflated, at several block sizes', async () => {
    for (let k = 0; k < 24; k++) {
      const pieces: Uint8Array[] = []
      for (let p = 0; p < 6; p++) {
        const n = 1000 + ((k * 7919 + p * 104729) % 150000)
        pieces.push([text(n, k * 10 + p), new Uint8Array(n), noise(n, k * 10 + p), concat([new Uint8Array(n >> 4), text(n, p)])][(k + p) % 4])
      }
      const data = concat(pieces)
      const blockSize = [WINDOW_SIZE, 65536, 100000, 250000][k % 4]
      const level = [9, 6, 1][k % 3]
      const gz = await blocks(data, {level, blockSize}, [54321])
      assert.equal(deflateEnd(gz), gz.length - 8, `case ${k}: one member`)
      sameBytes(new Uint8Array(zlib.gunzipSync(gz)), data, `case ${k}`)
    }
  })

  it('judges random blocks incompressible, and text, mixed, repeated and short blocks not', () => {
    assert.equal(isIncompressible(noise(MiB, 1)), true)
    assert.equal(isIncompressible(noise(MiB + 12345, 2)), true) // a tail joins the slice before
    assert.equal(isIncompressible(noise(65536, 3)), true)
    assert.equal(isIncompressible(noise(65535, 3)), false) // too short to judge
    assert.equal(isIncompressible(text(MiB, 1)), false)
    assert.equal(isIncompressible(new Uint8Array(MiB)), false)
    // one 64 KiB slice of text in random data
    const mixedSlice = noise(MiB, 4)
    mixedSlice.set(text(65536, 5), 7 * 65536)
    assert.equal(isIncompressible(mixedSlice), false)
    // random bytes, but repeating with a period deflate's window sees: its matches remove them
    for (const period of [100, 10000, 30000]) {
      const piece = noise(period, 6)
      const repeated = new Uint8Array(MiB)
      for (let i = 0; i < repeated.length; i += period) repeated.set(piece.subarray(0, Math.min(period, repeated.length - i)), i)
      assert.equal(isIncompressible(repeated), false, `period ${period}`)
    }
    // a period beyond the 32 KiB window is random to deflate
    const far = noise(40000, 7)
    const farRepeated = new Uint8Array(MiB)
    for (let i = 0; i < farRepeated.length; i += 40000) farRepeated.set(far.subarray(0, Math.min(40000, farRepeated.length - i)), i)
    assert.equal(isIncompressible(farRepeated), true)
    // one repeat of 6000 bytes (> 1/256 of the block) tips it; 3000 bytes do not
    const dup = noise(MiB, 8)
    dup.copyWithin(500000, 480000, 486000)
    assert.equal(isIncompressible(dup), false)
    const small = noise(MiB, 8)
    small.copyWithin(500000, 480000, 483000)
    assert.equal(isIncompressible(small), true)
  })

  it('stores a random block (input + 5 bytes per 65535, no deflate) and deflates a text block', async () => {
    const r = noise(2 * MiB, 11)
    const gz = await blocks(r)
    assert.equal(gz.length, 10 + 2 * (MiB + 5 * 17) + 8)
    sameBytes(new Uint8Array(zlib.gunzipSync(gz)), r)
    const block = compressBlock({data: r.subarray(0, MiB), last: false})
    sameBytes(block, storedBlocks(r.subarray(0, MiB), false))
    const t = text(2 * MiB, 12)
    const gzt = await blocks(t)
    assert.ok(gzt.length < t.length / 3, `text: ${gzt.length} of ${t.length}`)
    sameBytes(new Uint8Array(zlib.gunzipSync(gzt)), t)
  })

  it('writes one gzip member that node:zlib and the host gzip decompress to the exact input', async () => {
    const gz = await blocks(mixed)
    assert.equal(hex(gz.subarray(0, 10)), '1f8b0800000000000203')
    assert.equal(deflateEnd(gz), gz.length - 8, 'the deflate stream ends right before the trailer: one member')
    // the check can fail: two members
    const two = concat([await blocks(text(1000, 1)), await blocks(text(1000, 2))])
    assert.notEqual(deflateEnd(two), two.length - 8)
    sameBytes(new Uint8Array(zlib.gunzipSync(gz)), mixed)
    assert.equal(hostGunzipSha256(gz), sha256(mixed))
  })

  it('gives the same bytes however the input is chunked (1 byte, odd sizes, 3 MiB)', async () => {
    const want = sha256(await blocks(mixed))
    for (const sizes of [[3 * MiB], [MiB], [7, 65537, 100003], [MiB - 1, 2], [4096]]) {
      assert.equal(sha256(await blocks(mixed, {}, sizes)), want, `chunks ${sizes.join(',')}`)
    }
    // 1-byte chunks over a block boundary (1.25 MiB: one full block, then the last)
    const part = mixed.subarray(0, 1.25 * MiB)
    assert.equal(sha256(await blocks(part, {}, [1])), sha256(await blocks(part)))
  })

  it('handles the edges: empty, one byte, exactly one block, one block + 1 byte, 1, 2 and 3 blocks', async () => {
    sameBytes(new Uint8Array(zlib.gunzipSync(await blocks(Uint8Array.of(0x61)))), Uint8Array.of(0x61))
    const t = text(3 * MiB, 21)
    const header = gzipHeader(9)
    // exactly one block: it is the last one (BFINAL), nothing after it
    const exact = t.subarray(0, MiB)
    sameBytes(await blocks(exact), concat([header, deflateBlock(exact, true), trailerOf(exact)]))
    // one block + 1 byte: a sync-flushed block, then the byte on its own
    const plusOne = t.subarray(0, MiB + 1)
    sameBytes(await blocks(plusOne), concat([header, deflateBlock(exact, false), deflateBlock(t.subarray(MiB, MiB + 1), true), trailerOf(plusOne)]))
    // a random input of exactly two blocks: both stored, the second final
    const r = noise(2 * MiB, 22)
    sameBytes(await blocks(r, {}, [MiB]), concat([header, storedBlocks(r.subarray(0, MiB), false), storedBlocks(r.subarray(MiB), true), trailerOf(r)]))
    // 1, 2 and 3 blocks of text, and stored/deflated mixes: node:zlib and one member
    const mixes = [exact, plusOne, t.subarray(0, 2 * MiB), t, r, concat([r.subarray(0, MiB), exact]), concat([exact, r.subarray(0, MiB), exact.subarray(0, 1000)])]
    for (const [k, data] of mixes.entries()) {
      const gz = await blocks(data)
      sameBytes(new Uint8Array(zlib.gunzipSync(gz)), data, `case ${k}`)
      assert.equal(deflateEnd(gz), gz.length - 8, `case ${k}: one member`)
    }
  })

  it('takes other block sizes and levels (each its own method), and refuses bad ones', async () => {
    const part = mixed.subarray(0, 600000)
    for (const [level, blockSize] of [[9, WINDOW_SIZE], [1, 100000], [0, 65536], [6, 3 * MiB]]) {
      const gz = await blocks(part, {level, blockSize}, [12345])
      sameBytes(new Uint8Array(zlib.gunzipSync(gz)), part, `level ${level} block ${blockSize}`)
      assert.equal(deflateEnd(gz), gz.length - 8)
    }
    await assert.rejects(blocks(part, {blockSize: WINDOW_SIZE - 1}), RangeError)
    await assert.rejects(blocks(part, {blockSize: 1.5 * MiB + 0.5}), RangeError)
    await assert.rejects(blocks(part, {level: 10}), RangeError)
    await assert.rejects(blocks(part, {level: -1}), RangeError)
    await assert.rejects(blocks(part, {level: 1.5}), RangeError)
  })

  it('fills recycled block buffers again, and drops what is not a whole block; the bytes do not change', async () => {
    const s = new BlockSplitter(65536)
    const data = text(300000, 32)
    const first = s.push(data.subarray(0, 140000))
    assert.equal(first.length, 2)
    const buffer = first[0].data.buffer
    s.recycle(first[0].data)
    s.recycle(new Uint8Array(1000)) // not a block: dropped
    s.recycle(new Uint8Array(131072).subarray(0, 65536)) // a view of a larger buffer: dropped
    const next = s.push(data.subarray(140000))
    // the blocks held and filling when recycle() came were already made; the next one reuses the buffer
    assert.deepEqual(next.map((j) => j.data.buffer === buffer), [false, true])
    sameBytes(next[1].data, data.subarray(3 * 65536, 4 * 65536))
    // a stream whose blocks are recycled as soon as they are compressed gives the same bytes
    const splitter = new BlockSplitter()
    const parts = [gzipHeader(9)]
    for (const job of splitter.push(mixed)) {
      parts.push(compressBlock(job))
      splitter.recycle(job.data)
    }
    parts.push(compressBlock(splitter.end()), splitter.trailer())
    assert.equal(sha256(concat(parts)), BLOCKS_GOLDEN.gzipSha256)
  })

  it('hands out blocks on the grid, each a buffer of its own, only the last one last', () => {
    const s = new BlockSplitter(WINDOW_SIZE * 2)
    const data = text(200000, 31)
    const jobs = [...s.push(data.subarray(0, 65536)), ...s.push(data.subarray(65536, 70000)), ...s.push(data.subarray(70000))]
    jobs.push(s.end())
    assert.deepEqual(
      jobs.map((j) => [j.data.length, j.last]),
      [
        [65536, false],
        [65536, false],
        [65536, false],
        [200000 - 3 * 65536, true],
      ],
    )
    for (const [k, j] of jobs.entries()) {
      sameBytes(j.data, data.subarray(k * 65536, k * 65536 + j.data.length))
      assert.ok(j.data.byteOffset === 0 && j.data.byteLength === j.data.buffer.byteLength, 'a buffer of its own')
    }
    const trailer = new DataView(s.trailer().buffer)
    assert.equal(trailer.getUint32(0, true), zlib.crc32(data))
    assert.equal(trailer.getUint32(4, true), data.length)
    assert.throws(() => s.push(Uint8Array.of(1)), /after end/)
  })
})


// Known answers of the method with foras 2.1.4 (computed once here; node:zlib and gzip check the
// same outputs above). test/image/parallel-gzip.test.ts pins the same gzipSha256.
const HELLO_GZIP = '1f8b0800000000000203' + 'cb48cdc9c9e70200' + '20303a36' + '06000000'
const BLOCKS_GOLDEN = {
  inputLength: 3932283,
  inputSha256: 'e496392bb70bdc36a1a04a086d4a890c6f9fd698ae907221110429ca55240f27',
  gzipLength: 2572562,
  gzipSha256: 'dde09ccc1ceff9b1fc9c0dda9f9a5e898624ddd71b75718f04df94ac18571f16',
  gzip6Sha256: 'd51dca15384686845d5cdf5e77afe1ddb93a88790c35de7d7cc4b8ca75b52e28',
  oneBlockSha256: '0ca7e55dd40c8e183d39225cd92accf2968db7989837c641493183d570eaa9f7',
  smallBlocksSha256: 'cdaed2d0b3fbad6517545bb845c457e9d137384b441a9ab1b33c3f912487b5ce',
}
