// v3 signature packets: parsing and RSA checks (src/trust/openpgp-v3.ts), against packets made here
// with node:crypto and against containers/image's -v3 fixtures (read in place).
import assert from 'node:assert/strict'
import {createHash, generateKeyPairSync, sign} from 'node:crypto'
import {readFileSync} from 'node:fs'
import * as openpgp from 'openpgp'
import {parseV3SignaturePacket, type RsaPublicParams, v3SignedData, verifyV3RsaSignature} from '../../src/trust/openpgp-v3.js'
import {SignatureRefusal} from '../../src/trust/refusal.js'

const fixtures = new URL('../../../shared/vectors/signing/fixtures/', import.meta.url)

const {privateKey, publicKey} = generateKeyPairSync('rsa', {modulusLength: 2048})
const jwk = publicKey.export({format: 'jwk'})
const rsa: RsaPublicParams = {n: Buffer.from(jwk.n!, 'base64url'), e: Buffer.from(jwk.e!, 'base64url')}
const HASH_IDS = {sha256: 8, sha384: 9, sha512: 10, sha1: 2} as const

/** A v3 signature packet body over `document`, made the RFC 4880 5.2.2 way. */
function makeV3(document: Uint8Array, options: {hash?: keyof typeof HASH_IDS; type?: number; created?: number; algorithm?: number} = {}): Buffer {
  const hash = options.hash ?? 'sha256'
  const type = options.type ?? 0
  const created = options.created ?? 1_700_000_000
  const trailer = Buffer.alloc(5)
  trailer[0] = type
  trailer.writeUInt32BE(created, 1)
  const data = Buffer.concat([document, trailer])
  const digest = createHash(hash).update(data).digest()
  let value = sign(hash, data, privateKey)
  while (value[0] === 0) value = value.subarray(1) // an MPI has no leading zeros
  const bits = value.length * 8 - Math.clz32(value[0]!) + 24
  const header = Buffer.alloc(19)
  header[0] = 3
  header[1] = 5
  header[2] = type
  header.writeUInt32BE(created, 3)
  Buffer.from('0123456789ABCDEF', 'hex').copy(header, 7)
  header[15] = options.algorithm ?? 1
  header[16] = HASH_IDS[hash]
  digest.copy(header, 17, 0, 2)
  const mpi = Buffer.alloc(2)
  mpi.writeUInt16BE(bits)
  return Buffer.concat([header, mpi, value])
}

const reasonOf = (action: () => unknown): string => {
  try {
    action()
  } catch (error) {
    if (error instanceof SignatureRefusal) return error.reason
    throw error
  }
  return '(accepted)'
}

describe('trust: v3 signature packets', () => {
  const document = Buffer.from('{"critical":{}}\n')

  it('parses the fields of a v3 packet', () => {
    const signature = parseV3SignaturePacket(makeV3(document, {hash: 'sha512', created: 1_458_239_713}))
    assert.equal(signature.version, 3)
    assert.equal(signature.signatureType, 0)
    assert.equal(signature.createdSeconds, 1_458_239_713)
    assert.equal(signature.created.toISOString(), '2016-03-17T18:35:13.000Z')
    assert.equal(signature.issuerKeyId, '0123456789ABCDEF')
    assert.equal(signature.publicKeyAlgorithm, 1)
    assert.equal(signature.hashAlgorithm, 10)
  })

  it('hashes the document, the signature type and the creation time (big-endian), no v4 trailer', () => {
    const signature = parseV3SignaturePacket(makeV3(document, {created: 0x01020304}))
    assert.deepEqual(v3SignedData(signature, document), Buffer.concat([document, Buffer.from([0, 1, 2, 3, 4])]))
  })

  for (const hash of ['sha256', 'sha384', 'sha512'] as const) {
    it(`verifies an RSA ${hash} signature made with node:crypto`, () => {
      const signature = parseV3SignaturePacket(makeV3(document, {hash}))
      assert.equal(reasonOf(() => verifyV3RsaSignature(signature, document, rsa)), '(accepted)')
    })
  }

  it('refuses another document, another creation time, a flipped signature bit and another key', () => {
    const packet = makeV3(document)
    const signature = parseV3SignaturePacket(packet)
    assert.match(reasonOf(() => verifyV3RsaSignature(signature, Buffer.from('{"critical":{}} \n'), rsa)), /^openpgp: signature verification failed/)
    assert.match(reasonOf(() => verifyV3RsaSignature({...signature, createdSeconds: signature.createdSeconds + 1}, document, rsa)), /verification failed/)
    const flipped = Buffer.from(packet)
    flipped[flipped.length - 1]! ^= 1
    assert.match(reasonOf(() => verifyV3RsaSignature(parseV3SignaturePacket(flipped), document, rsa)), /verification failed/)
    const other = generateKeyPairSync('rsa', {modulusLength: 2048}).publicKey.export({format: 'jwk'})
    const otherKey = {n: Buffer.from(other.n!, 'base64url'), e: Buffer.from(other.e!, 'base64url')}
    assert.match(reasonOf(() => verifyV3RsaSignature(signature, document, otherKey)), /verification failed/)
  })

  it('refuses other versions, other hashed lengths, SHA-1, non-RSA keys, truncation and trailing bytes', () => {
    const packet = makeV3(document)
    const changed = (offset: number, value: number) => {
      const copy = Buffer.from(packet)
      copy[offset] = value
      return copy
    }
    assert.match(reasonOf(() => parseV3SignaturePacket(changed(0, 4))), /unsupported signature packet version 4/)
    assert.match(reasonOf(() => parseV3SignaturePacket(changed(1, 6))), /hashed material is 6 bytes/)
    assert.match(reasonOf(() => parseV3SignaturePacket(makeV3(document, {hash: 'sha1'}))), /hash algorithm 2 is not accepted/)
    assert.match(reasonOf(() => parseV3SignaturePacket(changed(15, 17))), /only RSA v3 signatures/)
    assert.match(reasonOf(() => parseV3SignaturePacket(packet.subarray(0, 12))), /truncated/)
    assert.match(reasonOf(() => parseV3SignaturePacket(packet.subarray(0, packet.length - 1))), /truncated MPI/)
    assert.match(reasonOf(() => parseV3SignaturePacket(Buffer.concat([packet, Buffer.from([0])]))), /trailing bytes/)
    assert.match(reasonOf(() => parseV3SignaturePacket(new Uint8Array())), /empty signature packet/)
  })

  it('reads the v3 packet inside containers/image\'s subkey.signature-v3 (signed by subkey D75B3109B3BAAEAF)', async () => {
    const message = await openpgp.readMessage({binaryMessage: readFileSync(new URL('subkey.signature-v3', fixtures))})
    const list = message.unwrapCompressed().packets
    const packets: unknown[] = [...list]
    // Packets after the literal data arrive on the list's stream: drain it.
    const rest = (list as unknown as {stream?: ReadableStream<unknown>}).stream
    if (rest) {
      const reader = rest.getReader()
      for (let next = await reader.read(); !next.done; next = await reader.read()) packets.push(next.value)
    }
    const unparsed = packets.find((p) => p instanceof openpgp.UnparseablePacket) as openpgp.UnparseablePacket
    assert.ok(unparsed, 'openpgp.js leaves the v3 signature unparsed')
    const signature = parseV3SignaturePacket(unparsed.write())
    assert.equal(signature.issuerKeyId, 'D75B3109B3BAAEAF')
    assert.equal(signature.signatureType, 0)
    assert.ok([8, 9, 10].includes(signature.hashAlgorithm))
  })
})
