import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createCipheriv, createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import zlib from 'node:zlib'
import {
  BlockSplitter,
  compressBlock,
  deflateBlock,
  DICTIONARY_SIZE,
  GZIP_BLOCK_SIZE,
  GZIP_BLOCKS_METHOD,
  gzipBlocksMethod,
  gzipBlocksStream,
  gzipBytes,
  gzipHeader,
  gzipStream,
  isIncompressible,
  storedBlocks,
} from '../../src/formats/gzip.js'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** A fixed, partly compressible input: numbered text lines with xorshift noise, about 1 MiB. */
function fixedInput(): Uint8Array {
  const parts: string[] = []
  let x = 2463534242
  for (let i = 0; parts.length < 24000; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    parts.push(`line ${i} ${x.toString(36)} ${'abcdefgh'.slice(x % 8)} lorem ipsum ${x % 1000}\n`)
  }
  return new TextEncoder().encode(parts.join(''))
}

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of gen) parts.push(c)
  return Buffer.concat(parts)
}

async function* chunked(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let i = 0
  let k = 0
  while (i < data.length) {
    const n = sizes[k++ % sizes.length]
    yield data.subarray(i, i + n)
    i += n
  }
}

describe('formats/gzip', () => {
  const input = fixedInput()

  it('writes the exact header: no name, MTIME 0, XFL per level, OS 3', () => {
    assert.equal(hex(gzipHeader(9)), '1f8b0800000000000203')
    assert.equal(hex(gzipHeader(6)), '1f8b0800000000000003')
    assert.equal(hex(gzipHeader(1)), '1f8b0800000000000403')
    assert.equal(hex(gzipHeader(0)), '1f8b0800000000000403')
    assert.equal(hex(gzipBytes(input).subarray(0, 10)), '1f8b0800000000000203')
    assert.equal(hex(gzipBytes(input, 6).subarray(0, 10)), '1f8b0800000000000003')
  })

  it('gives the exact bytes for small inputs', () => {
    assert.equal(hex(gzipBytes(new Uint8Array(0))), '1f8b0800000000000203' + '0300' + '00000000' + '00000000')
    // "hello\n": fixed-Huffman block, CRC-32 0x363a3020, ISIZE 6
    assert.equal(
      hex(gzipBytes(new TextEncoder().encode('hello\n'))),
      '1f8b0800000000000203' + 'cb48cdc9c9e70200' + '20303a36' + '06000000',
    )
  })

  it('has a golden sha256 on a fixed 1 MiB input (catches any change of deflate output)', () => {
    assert.equal(input.length, GOLDEN.inputLength)
    assert.equal(sha256(input), GOLDEN.inputSha256)
    const gz = gzipBytes(input)
    assert.equal(gz.length, GOLDEN.gzipLength)
    assert.equal(sha256(gz), GOLDEN.gzipSha256)
    assert.equal(sha256(gzipBytes(input, 6)), GOLDEN.gzip6Sha256)
  })

  it('writes the CRC-32 and ISIZE trailer', () => {
    const gz = gzipBytes(input)
    const view = new DataView(gz.buffer, gz.byteOffset + gz.length - 8, 8)
    assert.equal(view.getUint32(0, true), zlib.crc32(input))
    assert.equal(view.getUint32(4, true), input.length)
  })

  it('round-trips through node:zlib gunzip, at every level and awkward sizes', () => {
    for (const n of [0, 1, 2, 255, 65535, 65536, 65537, 200000]) {
      const data = input.subarray(0, n)
      for (const level of [0, 1, 6, 9]) {
        assert.deepEqual(new Uint8Array(zlib.gunzipSync(gzipBytes(data, level))), data, `size ${n} level ${level}`)
      }
    }
  })

  it('streams the same bytes as gzipBytes, however the input is chunked', async () => {
    const want = gzipBytes(input)
    for (const sizes of [[input.length], [1, 7, 65536, 3], [65536], [65537, 65535], [4096], [100003, 1]]) {
      const got = await collect(gzipStream(chunked(input, sizes)))
      assert.equal(sha256(got), sha256(want), `chunks ${sizes.join(',')}`)
    }
    // level 0 (stored blocks) too
    const got0 = await collect(gzipStream(chunked(input, [1000, 70000]), 0))
    assert.equal(sha256(got0), sha256(gzipBytes(input, 0)))
  })

  it('equals classic zlib deflate (Python zlib, raw, memLevel 8) byte for byte at levels 9 and 6', function () {
    const py = spawnSync('python3', ['-c', 'import zlib; print(zlib.ZLIB_RUNTIME_VERSION)'], {encoding: 'utf8'})
    if (py.status !== 0) this.skip()
    const dir = mkdtempSync(join(tmpdir(), 'gzip-test-'))
    try {
      writeFileSync(join(dir, 'in'), input)
      for (const level of [9, 6]) {
        const raw = execFileSync('python3', [
          '-c',
          'import sys, zlib\n' +
            'c = zlib.compressobj(int(sys.argv[2]), zlib.DEFLATED, -15, 8)\n' +
            'sys.stdout.buffer.write(c.compress(open(sys.argv[1], "rb").read()) + c.flush())',
          join(dir, 'in'),
          String(level),
        ])
        const gz = gzipBytes(input, level)
        assert.equal(sha256(gz.subarray(10, gz.length - 8)), sha256(raw), `level ${level}`)
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('passes the host gzip: gzip -t and gzip -dc', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gzip-test-'))
    try {
      const file = join(dir, 'x.gz')
      writeFileSync(file, gzipBytes(input))
      execFileSync('gzip', ['-t', file])
      const out = execFileSync('gzip', ['-dc', file], {maxBuffer: 64 << 20})
      assert.equal(sha256(out), sha256(input))
      // gzip -l reads the trailer: uncompressed size must be ours
      const list = execFileSync('gzip', ['-lv', file], {encoding: 'utf8'})
      assert.match(list, new RegExp(`\\b${input.length}\\b`))
      // a corrupted byte must be caught by gzip -t (so the check above can fail)
      const bad = gzipBytes(input)
      bad[bad.length - 5] ^= 1
      writeFileSync(file, bad)
      assert.notEqual(spawnSync('gzip', ['-t', file]).status, 0)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('rejects a level outside 0..9', async () => {
    assert.throws(() => gzipBytes(new Uint8Array(1), 10), RangeError)
    assert.throws(() => gzipBytes(new Uint8Array(1), -1), RangeError)
    await assert.rejects(collect(gzipStream(chunked(new Uint8Array(1), [1]), 1.5)), RangeError)
  })
})


// ---------------------------------------------------------------------------------------------
// The blocked method

const MiB = 1 << 20

/** Deterministic random bytes: the AES-128-CTR keystream of a key made from `seed`. */
function noise(n: number, seed: number): Uint8Array {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16))
  return new Uint8Array(cipher.update(Buffer.alloc(n)))
}

/** Exactly `n` bytes of numbered text lines with some xorshift variety. */
function text(n: number, seed: number): Uint8Array {
  const parts: string[] = []
  let x = seed >>> 0 || 1
  let size = 0
  for (let i = 0; size < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    const line = `${i} ${x.toString(36)} /usr/lib/${'abcdefgh'.slice(x % 8)} mode=0644 size=${x % 100000}\n`
    parts.push(line)
    size += line.length
  }
  return new TextEncoder().encode(parts.join('')).subarray(0, n)
}

/**
 * The fixed mixed input: text 1.25 MiB, random 2 MiB, text 0.5 MiB + 123 bytes. Block 0 is
 * text, block 1 text then random (deflated), block 2 all random (stored), block 3 the rest (last).
 */
function mixedInput(): Uint8Array {
  return concat([text(1.25 * MiB, 7), noise(2 * MiB, 8), text(0.5 * MiB + 123, 9)])
}

/** Where the deflate stream that starts after the header ends: the member's length without the trailer. */
function deflateEnd(gz: Uint8Array): number {
  const body = gz.subarray(10)
  const {engine} = zlib.inflateRawSync(body, {info: true}) as unknown as {engine: {bytesWritten: number}}
  return 10 + engine.bytesWritten
}

async function blocks(data: Uint8Array, options: {level?: number; blockSize?: number} = {}, sizes = [data.length || 1]) {
  return new Uint8Array(await collect(gzipBlocksStream(chunked(data, sizes), options)))
}

const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts))

/** Byte equality without dumping megabytes into the report when it fails. */
function sameBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.equal(actual.length, expected.length, `${message ?? 'bytes'}: length`)
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected), `${message ?? 'bytes'}: content differs`)
}

describe('formats/gzip: the blocked method', () => {
  const mixed = mixedInput()

  it('names the method for the build record', () => {
    assert.equal(GZIP_BLOCK_SIZE, MiB)
    assert.equal(GZIP_BLOCKS_METHOD, 'gzip-9-blocks-1MiB-dict32K-stored-if-entropy-7.97')
    assert.equal(gzipBlocksMethod(6, 256 * 1024), 'gzip-6-blocks-256KiB-dict32K-stored-if-entropy-7.97')
  })

  it('writes stored blocks exactly: 00/01, LEN, NLEN, bytes; 65535 at most each', () => {
    assert.equal(hex(storedBlocks(Uint8Array.of(1, 2, 3), true)), '010300fcff010203')
    assert.equal(hex(storedBlocks(Uint8Array.of(1, 2, 3), false)), '000300fcff010203')
    assert.equal(hex(storedBlocks(new Uint8Array(0), true)), '010000ffff')
    assert.equal(hex(storedBlocks(new Uint8Array(0), false)), '000000ffff')
    const big = noise(65536, 1)
    const s = storedBlocks(big, true)
    assert.equal(s.length, 65536 + 10)
    assert.equal(hex(s.subarray(0, 5)), '00ffff0000')
    assert.equal(hex(s.subarray(5 + 65535, 5 + 65535 + 5)), '010100feff')
    sameBytes(new Uint8Array(zlib.inflateRawSync(s)), big)
    assert.equal(storedBlocks(noise(65535, 1), false).length, 65535 + 5)
  })

  it('deflates a block with the dictionary, ending in a sync flush (00 00 ff ff) or BFINAL', () => {
    const a = text(200000, 1)
    const b = text(100000, 1).map((x, i) => (i % 1000 === 0 ? 0x41 : x)) // mostly a repeat of a's start
    const first = deflateBlock(a.subarray(0, 150000), new Uint8Array(0), false)
    assert.equal(hex(first.subarray(-4)), '0000ffff')
    const dict = a.subarray(150000 - DICTIONARY_SIZE, 150000)
    const second = deflateBlock(a.subarray(150000), dict, true)
    sameBytes(new Uint8Array(zlib.inflateRawSync(concat([first, second]))), a)
    // the dictionary is used: b's start repeats what it holds
    const withDict = deflateBlock(b.subarray(0, 20000), text(20000, 1), true)
    const without = deflateBlock(b.subarray(0, 20000), new Uint8Array(0), true)
    assert.ok(withDict.length * 4 < without.length, `${withDict.length} vs ${without.length}`)
    sameBytes(new Uint8Array(zlib.inflateRawSync(withDict, {dictionary: text(20000, 1)})), b.subarray(0, 20000))
    // level 0 is stored blocks
    sameBytes(deflateBlock(a, dict, false, 0), storedBlocks(a, false))
  })

  it('deflates a block exactly as classic zlib does with the same dictionary and sync flush (Python zlib)', function () {
    const py = spawnSync('python3', ['-c', 'import zlib'], {encoding: 'utf8'})
    if (py.status !== 0) this.skip()
    const dir = mkdtempSync(join(tmpdir(), 'gzip-test-'))
    try {
      const data = text(300000, 3)
      const dict = text(DICTIONARY_SIZE, 4)
      writeFileSync(join(dir, 'data'), data)
      writeFileSync(join(dir, 'dict'), dict)
      for (const [level, last] of [[9, false], [9, true], [6, false]] as const) {
        const raw = execFileSync('python3', [
          '-c',
          'import sys, zlib\n' +
            'd = open(sys.argv[2], "rb").read()\n' +
            'c = zlib.compressobj(int(sys.argv[3]), zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, d)\n' +
            'f = zlib.Z_FINISH if sys.argv[4] == "1" else zlib.Z_SYNC_FLUSH\n' +
            'sys.stdout.buffer.write(c.compress(open(sys.argv[1], "rb").read()) + c.flush(f))',
          join(dir, 'data'),
          join(dir, 'dict'),
          String(level),
          last ? '1' : '0',
        ])
        assert.equal(sha256(deflateBlock(data, dict, last, level)), sha256(raw), `level ${level} last ${last}`)
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
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

  it('stores a random block (input + 5 bytes per 65535, no pako) and deflates a text block', async () => {
    const r = noise(2 * MiB, 11)
    const gz = await blocks(r)
    assert.equal(gz.length, 10 + 2 * (MiB + 5 * 17) + 8)
    sameBytes(new Uint8Array(zlib.gunzipSync(gz)), r)
    const block = compressBlock({data: r.subarray(0, MiB), dictionary: new Uint8Array(0), last: false})
    sameBytes(block, storedBlocks(r.subarray(0, MiB), false))
    const t = text(2 * MiB, 12)
    const gzt = await blocks(t)
    assert.ok(gzt.length < t.length / 3, `text: ${gzt.length} of ${t.length}`)
    sameBytes(new Uint8Array(zlib.gunzipSync(gzt)), t)
  })

  it('has a golden sha256 on a fixed 3.75 MiB mixed input (catches any drift in pako or the method)', async () => {
    assert.equal(mixed.length, BLOCKS_GOLDEN.inputLength)
    assert.equal(sha256(mixed), BLOCKS_GOLDEN.inputSha256)
    const gz = await blocks(mixed)
    assert.equal(gz.length, BLOCKS_GOLDEN.gzipLength)
    assert.equal(sha256(gz), BLOCKS_GOLDEN.gzipSha256)
    assert.equal(sha256(await blocks(mixed, {level: 6})), BLOCKS_GOLDEN.gzip6Sha256)
    // the parts, block by block: header, four blocks (the third stored), trailer
    const jobs = new BlockSplitter().push(mixed)
    assert.equal(jobs.length, 3)
    sameBytes(compressBlock(jobs[2]), storedBlocks(mixed.subarray(2 * MiB, 3 * MiB), false))
    assert.equal(hex(compressBlock(jobs[0]).subarray(-4)), '0000ffff')
  })

  it('writes one gzip member that node:zlib and the host gzip decompress to the exact input', async () => {
    const gz = await blocks(mixed)
    assert.equal(hex(gz.subarray(0, 10)), '1f8b0800000000000203')
    assert.equal(deflateEnd(gz), gz.length - 8, 'the deflate stream ends right before the trailer: one member')
    // the check can fail: two members
    const two = concat([gzipBytes(text(1000, 1)), gzipBytes(text(1000, 2))])
    assert.notEqual(deflateEnd(two), two.length - 8)
    const view = new DataView(gz.buffer, gz.byteOffset + gz.length - 8, 8)
    assert.equal(view.getUint32(0, true), zlib.crc32(mixed))
    assert.equal(view.getUint32(4, true), mixed.length)
    sameBytes(new Uint8Array(zlib.gunzipSync(gz)), mixed)
    const dir = mkdtempSync(join(tmpdir(), 'gzip-test-'))
    try {
      const file = join(dir, 'x.gz')
      writeFileSync(file, gz)
      execFileSync('gzip', ['-t', file])
      assert.equal(sha256(execFileSync('gzip', ['-dc', file], {maxBuffer: 64 << 20})), sha256(mixed))
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
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

  it('handles the edges: empty, one byte, exactly one block, one block + 1 byte, exact multiples', async () => {
    // empty: one empty final block, the same bytes as the single-stream method
    assert.equal(hex(await blocks(new Uint8Array(0))), hex(gzipBytes(new Uint8Array(0))))
    const one = await blocks(Uint8Array.of(0x61))
    sameBytes(new Uint8Array(zlib.gunzipSync(one)), Uint8Array.of(0x61))
    const t = text(MiB + 1, 21)
    const header = gzipHeader(9)
    const trailer = (data: Uint8Array) => {
      const b = new Uint8Array(8)
      new DataView(b.buffer).setUint32(0, zlib.crc32(data), true)
      new DataView(b.buffer).setUint32(4, data.length, true)
      return b
    }
    // exactly one block: it is the last one (BFINAL), nothing after it
    const exact = t.subarray(0, MiB)
    sameBytes(await blocks(exact), concat([header, deflateBlock(exact, new Uint8Array(0), true), trailer(exact)]))
    // one block + 1 byte: a sync-flushed block, then the byte with the block's last 32 KiB as dictionary
    sameBytes(
      await blocks(t),
      concat([
        header,
        deflateBlock(exact, new Uint8Array(0), false),
        deflateBlock(t.subarray(MiB), exact.subarray(MiB - DICTIONARY_SIZE), true),
        trailer(t),
      ]),
    )
    // a random input of exactly two blocks: both stored, the second final
    const r = noise(2 * MiB, 22)
    sameBytes(await blocks(r, {}, [MiB]), concat([header, storedBlocks(r.subarray(0, MiB), false), storedBlocks(r.subarray(MiB), true), trailer(r)]))
    for (const data of [exact, t, r]) sameBytes(new Uint8Array(zlib.gunzipSync(await blocks(data))), data)
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
    assert.throws(() => deflateBlock(part, new Uint8Array(0), true, -1), RangeError)
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

// Computed once with pako 3.0.3; src/image/parallel-gzip.ts's tests pin the same value.
const BLOCKS_GOLDEN = {
  inputLength: 3932283,
  inputSha256: 'e496392bb70bdc36a1a04a086d4a890c6f9fd698ae907221110429ca55240f27',
  gzipLength: 2561187,
  gzipSha256: 'bd378d46d1219947ac258fa03ef71949cf378e23533a8b5662bc67794611de08',
  gzip6Sha256: 'fe65676c998ee8be5b3f513201fb614c998c95b45350e8a3251cee474eeb5977',
}

const GOLDEN = {
  inputLength: 945655,
  inputSha256: '6898bebe6b10f0ee46912ac9c4def793c2cb9423e13b6c7a1bd207bd6c876cbb',
  gzipLength: 255478,
  gzipSha256: 'b6836b59e4f90f29484bbfe1fbdd4c1eab26e83419b3ece1a0a9211bda254f36',
  gzip6Sha256: 'fe762f4951fc2c26f0a902e4ddd4c924a22b293e47ee6e7cc996d47da1b40a68',
}
