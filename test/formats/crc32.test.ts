import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import zlib from 'node:zlib'
import {crc32} from '../../src/formats/crc32.js'

const NOISE_SHA256_PREFIX = '96ba43225ea1b441' // guards the generator itself

const ascii = (s: string) => new TextEncoder().encode(s)

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/** Bit-at-a-time CRC-32 straight from the definition, with no table. */
function crcBitwise(data: Uint8Array): number {
  let c = 0xffffffff
  for (const b of data) {
    c ^= b
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

describe('formats/crc32', () => {
  it('gives the published check values', () => {
    assert.equal(crc32(new Uint8Array(0)), 0)
    assert.equal(crc32(ascii('123456789')), 0xcbf43926)
    assert.equal(crc32(ascii('The quick brown fox jumps over the lazy dog')), 0x414fa339)
    assert.equal(crc32(new Uint8Array(32)), 0x190a55ad)
    assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b)
    assert.equal(crc32(ascii('a')), 0xe8b7be43)
  })

  it('equals the bitwise definition and node:zlib on every length 0..300 and odd offsets', () => {
    const data = noise(300 + 16, 7)
    for (let n = 0; n <= 300; n++) {
      for (const off of [0, 1, 3, 7]) {
        const view = data.subarray(off, off + n)
        const want = crcBitwise(view)
        assert.equal(crc32(view), want, `length ${n} offset ${off}`)
        assert.equal(zlib.crc32(view), want, `node:zlib disagrees at length ${n}`)
      }
    }
  })

  it('chains: crc32(b, crc32(a)) == crc32(a ++ b) for every split', () => {
    const data = noise(1000, 42)
    const whole = crc32(data)
    for (let cut = 0; cut <= data.length; cut += 37) {
      assert.equal(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), whole, `cut at ${cut}`)
    }
    // three pieces
    assert.equal(crc32(data.subarray(500), crc32(data.subarray(13, 500), crc32(data.subarray(0, 13)))), whole)
  })

  it('reads a signed previous value (crc | 0) as its unsigned value', () => {
    const prev = crc32(ascii('a'))
    assert.ok(prev > 0x7fffffff, 'test needs a CRC with the top bit set')
    assert.ok((prev | 0) < 0)
    assert.equal(crc32(ascii('bc'), prev | 0), 0x352441c2)
    assert.equal(crc32(ascii('bc'), prev), 0x352441c2)
  })

  it('rejects a previous value that is not a 32-bit integer', () => {
    assert.throws(() => crc32(new Uint8Array(1), 1.5), RangeError)
    assert.throws(() => crc32(new Uint8Array(1), 2 ** 32), RangeError)
  })

  it('has the known answer on 1 MiB of fixed noise (also computed by Python zlib.crc32)', () => {
    const data = noise(1 << 20, 1)
    assert.equal(createHash('sha256').update(data).digest('hex').slice(0, 16), NOISE_SHA256_PREFIX)
    assert.equal(crc32(data), 0x622a2a39)
  })
})
