import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import zlib from 'node:zlib'
import {gzipBytes, gzipHeader, gzipStream} from '../../src/formats/gzip.js'

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

const GOLDEN = {
  inputLength: 945655,
  inputSha256: '6898bebe6b10f0ee46912ac9c4def793c2cb9423e13b6c7a1bd207bd6c876cbb',
  gzipLength: 255478,
  gzipSha256: 'b6836b59e4f90f29484bbfe1fbdd4c1eab26e83419b3ece1a0a9211bda254f36',
  gzip6Sha256: 'fe762f4951fc2c26f0a902e4ddd4c924a22b293e47ee6e7cc996d47da1b40a68',
}
