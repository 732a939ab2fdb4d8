import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import zlib from 'node:zlib'
import {Deflate} from 'fflate'
import {
  BlockSplitter,
  compressBlock,
  deflateBlock,
  DICTIONARY_SIZE,
  FFLATE_VERSION,
  GZIP_BLOCK_SIZE,
  GZIP_BLOCKS_METHOD,
  gzipBlocksMethod,
  gzipBlocksStream,
  gzipHeader,
  isIncompressible,
  storedBlocks,
} from '../../src/formats/gzip.js'
import {chunked, hostGunzipSha256, MiB, mixedInput, noise, text} from '../helpers/gzip-inputs.js'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts))
const none = new Uint8Array(0)




/** The 10 bytes with which fflate 0.8.3's streaming Deflate, alone, reaches before the stream's start. */
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

/** Raw inflate by node:zlib (a strict inflater, as the kernel's is), optionally after a dictionary. */
const inflate = (raw: Uint8Array, dictionary?: Uint8Array) => new Uint8Array(zlib.inflateRawSync(raw, dictionary ? {dictionary} : {}))

describe('formats/gzip: the blocked method', () => {
  const mixed = mixedInput()

  it('pins fflate at exactly the version the method string names, and has no other deflate', () => {
    const manifest = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as {dependencies: Record<string, string>}
    assert.equal(manifest.dependencies.fflate, FFLATE_VERSION, 'an exact version, no range')
    assert.equal(manifest.dependencies.pako, undefined)
    const installed = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('fflate/package.json'), 'utf8')) as {version: string}
    assert.equal(installed.version, FFLATE_VERSION)
    assert.equal(GZIP_BLOCK_SIZE, MiB)
    assert.equal(FFLATE_VERSION, '0.8.3')
    assert.equal(GZIP_BLOCKS_METHOD, 'gzip-9-fflate-0.8.3-blocks-1MiB-dict32K-stored-if-entropy-7.97')
    assert.equal(gzipBlocksMethod(6, 256 * 1024), 'gzip-6-fflate-0.8.3-blocks-256KiB-dict32K-stored-if-entropy-7.97')
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

  it('has known answers on fixed inputs (any change of fflate or of the method changes them)', async () => {
    assert.equal(mixed.length, BLOCKS_GOLDEN.inputLength)
    assert.equal(sha256(mixed), BLOCKS_GOLDEN.inputSha256)
    const gz = await blocks(mixed)
    assert.equal(gz.length, BLOCKS_GOLDEN.gzipLength)
    assert.equal(sha256(gz), BLOCKS_GOLDEN.gzipSha256)
    assert.equal(sha256(await blocks(mixed, {level: 6})), BLOCKS_GOLDEN.gzip6Sha256)
    // one block only (deflateSync, BFINAL), and many small blocks (the streaming path, sync flushes)
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

  it('deflates a block with the dictionary, ending in a sync flush (00 00 ff ff) or BFINAL', () => {
    const a = text(300000, 1)
    const b = text(100000, 1).map((x, i) => (i % 1000 === 0 ? 0x41 : x)) // mostly a repeat of a's start
    const dict = a.subarray(150000 - DICTIONARY_SIZE, 150000)
    const middle = deflateBlock(a.subarray(150000, 250000), dict, false)
    assert.equal(hex(middle.subarray(-4)), '0000ffff')
    const last = deflateBlock(a.subarray(250000), a.subarray(250000 - DICTIONARY_SIZE, 250000), true)
    sameBytes(inflate(concat([middle, last]), dict), a.subarray(150000))
    // the dictionary is used: b's start repeats what it holds
    const withDict = deflateBlock(b.subarray(0, 20000), text(20000, 1), true)
    const without = deflateBlock(b.subarray(0, 20000), none, true)
    assert.ok(withDict.length * 4 < without.length, `${withDict.length} vs ${without.length}`)
    sameBytes(inflate(withDict, text(20000, 1)), b.subarray(0, 20000))
    // every block is a buffer of its own, so it can move to another thread as it is
    for (const out of [middle, last, withDict, without]) assert.equal(out.byteLength, out.buffer.byteLength)
    // level 0 is stored blocks
    sameBytes(deflateBlock(a, dict, false, 0), storedBlocks(a, false))
    assert.throws(() => deflateBlock(a, none, true, -1), RangeError)
  })

  it('stores the first 32 KiB of a stream, the history fflate needs before a sync-flushed block', () => {
    const data = text(200000, 4)
    const first = deflateBlock(data, none, false)
    const stored = storedBlocks(data.subarray(0, DICTIONARY_SIZE), false)
    sameBytes(first.subarray(0, stored.length), stored)
    sameBytes(first.subarray(stored.length), deflateBlock(data.subarray(DICTIONARY_SIZE), data.subarray(0, DICTIONARY_SIZE), false))
    sameBytes(inflate(concat([first, storedBlocks(none, true)])), data)
    // a first block that is also the last one is deflated whole
    assert.ok(deflateBlock(data, none, true).length < data.length / 3)
    // shorter than the window: all stored; a partial dictionary is completed from the block
    sameBytes(deflateBlock(data.subarray(0, 1000), none, false), storedBlocks(data.subarray(0, 1000), false))
    const partial = deflateBlock(data.subarray(10000, 60000), data.subarray(0, 10000), false)
    sameBytes(partial.subarray(0, DICTIONARY_SIZE - 10000 + 5), storedBlocks(data.subarray(10000, DICTIONARY_SIZE), false))
    sameBytes(inflate(concat([partial, storedBlocks(none, true)]), data.subarray(0, 10000)), data.subarray(10000, 60000))
  })

  it('works around fflate 0.8.3: a match before the start of the stream (its streaming Deflate without history)', async () => {
    // fflate alone: the stream refers to bytes before its start
    const parts: Uint8Array[] = []
    new Deflate({level: 9, mem: 8}, (c) => parts.push(c)).push(ZEROS_FIRST, true)
    assert.throws(() => inflate(concat(parts)), /invalid distance too far back/)
    // ours, as the first block of a longer stream and as the only one
    sameBytes(inflate(concat([deflateBlock(ZEROS_FIRST, none, false), storedBlocks(none, true)])), ZEROS_FIRST)
    sameBytes(inflate(deflateBlock(ZEROS_FIRST, none, true)), ZEROS_FIRST)
    for (const data of [ZEROS_FIRST, concat([ZEROS_FIRST, text(3 * MiB, 6)])]) {
      sameBytes(new Uint8Array(zlib.gunzipSync(await blocks(data))), data)
    }
  })

  it('works around fflate 0.8.3: its sync flush (flush(true)) that strict inflaters reject', () => {
    // Blocks after a full window of history, of many lengths, so their last bits end at every
    // position of a byte; each is followed by a final block, as in a stream.
    let fflateBroken = 0
    for (let k = 0; k < 48; k++) {
      const data = text(DICTIONARY_SIZE + 20000 + 997 * k, 100 + k)
      const dict = data.subarray(0, DICTIONARY_SIZE)
      const block = data.subarray(DICTIONARY_SIZE, data.length - 500)
      const tail = data.subarray(data.length - 500)
      const ours = deflateBlock(block, dict, false)
      assert.equal(hex(ours.subarray(-4)), '0000ffff')
      const last = deflateBlock(tail, data.subarray(data.length - 500 - DICTIONARY_SIZE, data.length - 500), true)
      sameBytes(inflate(concat([ours, last]), dict), data.subarray(DICTIONARY_SIZE), `length ${block.length}`)
      // what fflate's flush(true) writes for the same block
      const parts: Uint8Array[] = []
      const deflate = new Deflate({level: 9, mem: 8, dictionary: dict}, (c) => parts.push(c))
      deflate.push(block, false)
      deflate.flush(true)
      try {
        inflate(concat([...parts, last]), dict)
      } catch {
        fflateBroken++
      }
    }
    assert.ok(fflateBroken > 0, 'the inputs exercise the cases where fflate 0.8.3 gets it wrong')
  })

  it('writes valid streams for mixes of text, zeros and random data, stored and deflated, at several block sizes', async () => {
    for (let k = 0; k < 24; k++) {
      const pieces: Uint8Array[] = []
      for (let p = 0; p < 6; p++) {
        const n = 1000 + ((k * 7919 + p * 104729) % 150000)
        pieces.push([text(n, k * 10 + p), new Uint8Array(n), noise(n, k * 10 + p), concat([new Uint8Array(n >> 4), text(n, p)])][(k + p) % 4])
      }
      const data = concat(pieces)
      const blockSize = [DICTIONARY_SIZE, 65536, 100000, 250000][k % 4]
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

  it('stores a random block (input + 5 bytes per 65535, no fflate) and deflates a text block', async () => {
    const r = noise(2 * MiB, 11)
    const gz = await blocks(r)
    assert.equal(gz.length, 10 + 2 * (MiB + 5 * 17) + 8)
    sameBytes(new Uint8Array(zlib.gunzipSync(gz)), r)
    const block = compressBlock({data: r.subarray(0, MiB), dictionary: none, last: false})
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
    sameBytes(await blocks(exact), concat([header, deflateBlock(exact, none, true), trailerOf(exact)]))
    // one block + 1 byte: a sync-flushed block, then the byte with the block's last 32 KiB as dictionary
    const plusOne = t.subarray(0, MiB + 1)
    sameBytes(
      await blocks(plusOne),
      concat([header, deflateBlock(exact, none, false), deflateBlock(t.subarray(MiB, MiB + 1), exact.subarray(MiB - DICTIONARY_SIZE), true), trailerOf(plusOne)]),
    )
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
    for (const [level, blockSize] of [[9, DICTIONARY_SIZE], [1, 100000], [0, 65536], [6, 3 * MiB]]) {
      const gz = await blocks(part, {level, blockSize}, [12345])
      sameBytes(new Uint8Array(zlib.gunzipSync(gz)), part, `level ${level} block ${blockSize}`)
      assert.equal(deflateEnd(gz), gz.length - 8)
    }
    await assert.rejects(blocks(part, {blockSize: DICTIONARY_SIZE - 1}), RangeError)
    await assert.rejects(blocks(part, {blockSize: 1.5 * MiB + 0.5}), RangeError)
    await assert.rejects(blocks(part, {level: 10}), RangeError)
    await assert.rejects(blocks(part, {level: -1}), RangeError)
    await assert.rejects(blocks(part, {level: 1.5}), RangeError)
  })

  it('hands out blocks on the grid with their own buffers and the previous 32 KiB as dictionary', () => {
    const s = new BlockSplitter(DICTIONARY_SIZE * 2)
    const data = text(200000, 31)
    const jobs = [...s.push(data.subarray(0, 65536)), ...s.push(data.subarray(65536, 70000)), ...s.push(data.subarray(70000))]
    jobs.push(s.end())
    assert.deepEqual(
      jobs.map((j) => [j.data.length, j.dictionary.length, j.last]),
      [
        [65536, 0, false],
        [65536, DICTIONARY_SIZE, false],
        [65536, DICTIONARY_SIZE, false],
        [200000 - 3 * 65536, DICTIONARY_SIZE, true],
      ],
    )
    for (const [k, j] of jobs.entries()) {
      sameBytes(j.data, data.subarray(k * 65536, k * 65536 + j.data.length))
      if (k > 0) sameBytes(j.dictionary, data.subarray(k * 65536 - DICTIONARY_SIZE, k * 65536))
      for (const v of [j.data, j.dictionary]) assert.ok(v.byteOffset === 0 && v.byteLength === v.buffer.byteLength, 'a buffer of its own')
    }
    const trailer = new DataView(s.trailer().buffer)
    assert.equal(trailer.getUint32(0, true), zlib.crc32(data))
    assert.equal(trailer.getUint32(4, true), data.length)
    assert.throws(() => s.push(Uint8Array.of(1)), /after end/)
  })
})


// Known answers of the method with fflate 0.8.3 (computed once here; node:zlib and gzip check the
// same outputs above). test/image/parallel-gzip.test.ts pins the same gzipSha256.
const HELLO_GZIP = '1f8b0800000000000203' + 'cb48cdc9c9e70200' + '20303a36' + '06000000'
const BLOCKS_GOLDEN = {
  inputLength: 3932283,
  inputSha256: 'e496392bb70bdc36a1a04a086d4a890c6f9fd698ae907221110429ca55240f27',
  gzipLength: 2609615,
  gzipSha256: '74f7956da0c7aacf43c7b8f723c0b4422db07e08163294ae08f054bfbe60033e',
  gzip6Sha256: 'fe5ba0da19ffb1dabb521a6f38736f6b6f6fcb9ff99def194c31669d002caf06',
  oneBlockSha256: 'e867d523990d261afacb9d9f1ad4dd9bcb8b39e9c8afcb4913123bea2380f63e',
  smallBlocksSha256: 'd8bd5742b17b1ca8da4d624c320286312841c211e534dd9a756aaba12d4e5bd9',
}
