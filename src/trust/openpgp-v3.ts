// Version 3 signature packets (RFC 4880 5.2.2), which openpgp.js 6 no longer reads. gpg made them
// by default for years (`--force-v3-sigs`), and containers/image, through gpgme, still accepts them.
// This module only parses such a packet and checks its RSA mathematics; which key made it, whether
// that key (and its primary) was valid when it signed and is not revoked now, stays with openpgp.js
// key objects in openpgp-verify.ts, under the same rules as for v4 signatures.
//
//   version (1) = 3 | hashed length (1) = 5 | signature type (1) | creation time (4, BE) |
//   issuer key ID (8) | public-key algorithm (1) | hash algorithm (1) | left 16 bits of hash (2) | MPIs
//
// The hash covers the document, then the signature type and the creation time (the 5 "hashed" bytes);
// unlike v4 there is no trailer. Only RSA (PKCS#1 v1.5) and SHA-256/384/512 are accepted.
import {constants, createHash, createPublicKey, verify} from 'node:crypto'
import {refuse} from './refusal.js'

export interface V3Signature {
  version: 3
  signatureType: number
  /** Seconds since the epoch, as stored. */
  createdSeconds: number
  created: Date
  /** Upper-case hex, 16 digits. */
  issuerKeyId: string
  publicKeyAlgorithm: number
  hashAlgorithm: number
  /** The first two bytes of the hash, a quick check. */
  hashPrefix: Uint8Array
  /** The RSA signature value m^d mod n, without leading zeros (an MPI's bytes). */
  rsaSignature: Uint8Array
}

/** OpenPGP hash algorithm IDs (RFC 4880 9.4) -> node:crypto names; SHA-1, MD5 and RIPEMD-160 are not accepted. */
const HASHES: Record<number, string> = {8: 'sha256', 9: 'sha384', 10: 'sha512'}
/** RSA (Encrypt or Sign) and RSA Sign-Only. */
const RSA_ALGORITHMS = new Set([1, 3])
const HEADER_LENGTH = 19

/** Reads an MPI (2-byte bit count, then the bytes) at `offset`; returns its bytes and the next offset. */
function readMpi(body: Uint8Array, offset: number): {bytes: Uint8Array; next: number} {
  if (offset + 2 > body.length) refuse('openpgp', 'v3 signature packet: truncated MPI')
  const bits = (body[offset]! << 8) | body[offset + 1]!
  const length = (bits + 7) >> 3
  const next = offset + 2 + length
  if (length === 0 || next > body.length) refuse('openpgp', 'v3 signature packet: truncated MPI')
  const bytes = body.subarray(offset + 2, next)
  // The bit count must be exact: the top byte holds the top bit.
  if (bits % 8 !== 0 && bytes[0]! >> bits % 8 !== 0) refuse('openpgp', 'v3 signature packet: MPI bit count does not match its bytes')
  if (bytes[0] === 0) refuse('openpgp', 'v3 signature packet: MPI has a leading zero byte')
  return {bytes, next}
}

/** Parses the body of a signature packet (tag 2) of version 3. Throws SignatureRefusal('openpgp') for anything else. */
export function parseV3SignaturePacket(body: Uint8Array): V3Signature {
  if (body.length === 0) refuse('openpgp', 'empty signature packet')
  if (body[0] !== 3) refuse('openpgp', `unsupported signature packet version ${body[0]}`)
  if (body.length < HEADER_LENGTH) refuse('openpgp', 'v3 signature packet: truncated')
  if (body[1] !== 5) refuse('openpgp', `v3 signature packet: hashed material is ${body[1]} bytes, not 5`)
  const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  const createdSeconds = view.readUInt32BE(3)
  const publicKeyAlgorithm = body[15]!
  const hashAlgorithm = body[16]!
  if (!RSA_ALGORITHMS.has(publicKeyAlgorithm))
    refuse('openpgp', `v3 signature by public-key algorithm ${publicKeyAlgorithm}; only RSA v3 signatures are verified`)
  if (HASHES[hashAlgorithm] === undefined)
    refuse('openpgp', `hash algorithm ${hashAlgorithm} is not accepted (SHA-256/384/512)`)
  const {bytes, next} = readMpi(body, HEADER_LENGTH)
  if (next !== body.length) refuse('openpgp', 'v3 signature packet: trailing bytes after the RSA signature')
  return {
    version: 3,
    signatureType: body[2]!,
    createdSeconds,
    created: new Date(createdSeconds * 1000),
    issuerKeyId: view.subarray(7, 15).toString('hex').toUpperCase(),
    publicKeyAlgorithm,
    hashAlgorithm,
    hashPrefix: body.slice(17, 19),
    rsaSignature: bytes.slice(),
  }
}

/** The bytes a v3 signature hashes: the document, the signature type, the creation time (4 bytes, big-endian). */
export function v3SignedData(signature: V3Signature, document: Uint8Array): Buffer {
  const trailer = Buffer.alloc(5)
  trailer[0] = signature.signatureType
  trailer.writeUInt32BE(signature.createdSeconds, 1)
  return Buffer.concat([document, trailer])
}

export interface RsaPublicParams {
  /** Modulus, big-endian. */
  n: Uint8Array
  /** Public exponent, big-endian. */
  e: Uint8Array
}

const unsignedBase64url = (bytes: Uint8Array): string => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  return Buffer.from(bytes.subarray(start)).toString('base64url')
}

/**
 * Checks a v3 RSA signature over `document` with the public key (n, e): the quick check of the
 * hash's first two bytes, then RSASSA-PKCS1-v1_5 with the hash's DigestInfo. Throws
 * SignatureRefusal('openpgp', 'signature verification failed ...') when it does not hold.
 */
export function verifyV3RsaSignature(signature: V3Signature, document: Uint8Array, key: RsaPublicParams): void {
  const hashName = HASHES[signature.hashAlgorithm]
  if (hashName === undefined) return refuse('openpgp', `hash algorithm ${signature.hashAlgorithm} is not accepted (SHA-256/384/512)`)
  const data = v3SignedData(signature, document)
  const digest = createHash(hashName).update(data).digest()
  if (digest[0] !== signature.hashPrefix[0] || digest[1] !== signature.hashPrefix[1])
    refuse('openpgp', 'signature verification failed: the hash does not match the signature\'s quick check (v3 signature)')
  let publicKey
  try {
    publicKey = createPublicKey({key: {kty: 'RSA', n: unsignedBase64url(key.n), e: unsignedBase64url(key.e)}, format: 'jwk'})
  } catch (error) {
    return refuse('openpgp', `the signing key is not a usable RSA key (${(error as Error).message})`)
  }
  const modulusBytes = Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? key.n.length * 8) / 8)
  if (signature.rsaSignature.length > modulusBytes) refuse('openpgp', 'signature verification failed: the RSA value is larger than the modulus (v3 signature)')
  // An MPI drops leading zeros; PKCS#1 wants the value as long as the modulus.
  const padded = Buffer.alloc(modulusBytes)
  padded.set(signature.rsaSignature, modulusBytes - signature.rsaSignature.length)
  const ok = verify(hashName, data, {key: publicKey, padding: constants.RSA_PKCS1_PADDING}, padded)
  if (!ok) refuse('openpgp', 'signature verification failed (v3 signature)')
}
