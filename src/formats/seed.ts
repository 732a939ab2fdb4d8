// Seeded identifiers, derived the way systemd-repart derives them: HMAC-SHA256 keyed with the
// 16-byte build seed, first 16 bytes, then the UUID version 4 and RFC 4122 variant bits.
// Also the GUID helpers: string form <-> big-endian ("string order") bytes <-> GPT's mixed-endian
// on-disk bytes. Pure: bytes in, bytes out.

import {createHmac} from 'node:crypto'

/** A 16-byte seed, as systemd-repart's --seed= (or any bytes; HMAC accepts any key length). */
export type Seed = Uint8Array

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Parses "1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBD" (or 32 hex digits) into 16 bytes in string order. */
export function guidToBytes(guid: string): Uint8Array {
  const hex = GUID_RE.test(guid) ? guid.replaceAll('-', '') : guid
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`not a GUID: ${JSON.stringify(guid)}`)
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** Formats 16 bytes in string order as an upper-case GUID, the way partition tools print them. */
export function bytesToGuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new TypeError(`a GUID is 16 bytes, got ${bytes.length}`)
  const h = Buffer.from(bytes).toString('hex').toUpperCase()
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** String-order bytes -> GPT/EFI on-disk bytes (first three fields little-endian). Its own inverse. */
export function swapGuidEndian(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) throw new TypeError(`a GUID is 16 bytes, got ${bytes.length}`)
  const out = new Uint8Array(16)
  out[0] = bytes[3]!
  out[1] = bytes[2]!
  out[2] = bytes[1]!
  out[3] = bytes[0]!
  out[4] = bytes[5]!
  out[5] = bytes[4]!
  out[6] = bytes[7]!
  out[7] = bytes[6]!
  out.set(bytes.subarray(8), 8)
  return out
}

/** GUID string -> the 16 bytes GPT stores on disk (mixed-endian). */
export const guidToDisk = (guid: string): Uint8Array => swapGuidEndian(guidToBytes(guid))

/** The 16 bytes GPT stores on disk -> GUID string. */
export const guidFromDisk = (bytes: Uint8Array): string => bytesToGuid(swapGuidEndian(bytes))

/** Parses a hex seed ("750b6cd5c4ae4012a15e7be3c29e6a47", dashes allowed) into bytes. */
export function parseSeed(text: string): Seed {
  const hex = text.replaceAll('-', '')
  if (!/^([0-9a-f]{2})+$/i.test(hex)) throw new TypeError(`not a hex seed: ${JSON.stringify(text)}`)
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

function hmac(seed: Seed, message: Uint8Array | string): Uint8Array {
  return Uint8Array.from(createHmac('sha256', seed).update(message).digest())
}

/** HMAC-SHA256(seed, label): 32 raw bytes for anything that needs derived bytes (volume ids, nested seeds). */
export function deriveId(seed: Seed, label: string | Uint8Array): Uint8Array {
  return hmac(seed, label)
}

/** Sets UUID version 4 and the RFC 4122 variant on 16 string-order bytes (a copy). */
export function makeUuidV4(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes.subarray(0, 16))
  out[6] = (out[6]! & 0x0f) | 0x40
  out[8] = (out[8]! & 0x3f) | 0x80
  return out
}

/** HMAC-SHA256(seed, label)[0:16] with the v4 bits: the general seeded UUID (string-order bytes). */
export function deriveUuid(seed: Seed, label: string | Uint8Array): Uint8Array {
  return makeUuidV4(hmac(seed, label))
}

/** systemd-repart's disk GUID: HMAC-SHA256(seed, "disk-uuid")[0:16], UUIDv4. Returns the GUID string. */
export function deriveDiskGuid(seed: Seed): string {
  return bytesToGuid(deriveUuid(seed, 'disk-uuid'))
}

/**
 * systemd-repart's partition GUID: HMAC-SHA256(seed, type_uuid [|| le64(k) when k > 0])[0:16], UUIDv4,
 * where k counts the earlier partitions of the same type.
 */
export function derivePartitionGuid(seed: Seed, typeGuid: string, k = 0): string {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`partition index must be >= 0, got ${k}`)
  const type = guidToBytes(typeGuid)
  let message = type
  if (k > 0) {
    message = new Uint8Array(24)
    message.set(type)
    new DataView(message.buffer).setBigUint64(16, BigInt(k), true)
  }
  return bytesToGuid(deriveUuid(seed, message))
}

/** A 32-bit FAT volume serial from the seed: the first 4 bytes of HMAC-SHA256(seed, label), big-endian. */
export function deriveVolumeId(seed: Seed, label = 'fat-volume-id'): number {
  const b = hmac(seed, label)
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0
}
