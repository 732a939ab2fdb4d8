// CRC-32 as zlib, gzip, PNG and GPT compute it: the IEEE 802.3 polynomial, reflected
// (0xEDB88320), initial value and final XOR 0xFFFFFFFF. Table-driven, slicing by 8 bytes.
//
// Incremental: `crc32(b, crc32(a))` equals `crc32(a ++ b)`; the start value is 0.
// Pure: bytes in, a number out.

const POLY = 0xedb88320

/** 8 tables of 256 entries: T[0] is the classic byte table, T[k][n] = CRC of n followed by k zero bytes. */
const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1
    t[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8)
      t[k * 256 + n] = c
    }
  }
  return t
})()

/**
 * CRC-32 of `data`, continuing from `previous` (the CRC of the bytes before, 0 to start).
 * Returns an unsigned 32-bit integer. A signed `previous` (`crc | 0`) is read as its unsigned value.
 */
export function crc32(data: Uint8Array, previous = 0): number {
  if (!Number.isInteger(previous) || previous < -0x80000000 || previous > 0xffffffff) {
    throw new RangeError(`crc32: previous must be a 32-bit integer, got ${previous}`)
  }
  const t = TABLES
  let c = (previous ^ 0xffffffff) >>> 0
  const n = data.length
  let i = 0
  const end8 = n - (n % 8)
  while (i < end8) {
    const lo = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))
    c =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + data[i + 4]] ^
      t[512 + data[i + 5]] ^
      t[256 + data[i + 6]] ^
      t[data[i + 7]]
    i += 8
  }
  while (i < n) {
    c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8)
    i++
  }
  return (c ^ 0xffffffff) >>> 0
}
