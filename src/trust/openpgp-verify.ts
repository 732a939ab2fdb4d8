// One signature file -> verified payload bytes and the PRIMARY key that vouches for them.
//
// The file must be an OpenPGP signed message (compressed or not) holding exactly one literal data
// packet and exactly one signature, made by a key in the keyring. openpgp.js checks the
// mathematics, that the signature has not expired at `now`, and that the signing key and its
// primary were valid (not expired, not revoked, properly bound) when the signature was made; we add
// that neither is revoked at `now` (soft revocations too) and that the file holds nothing else.
// A key that has expired since it signed still counts, as under Sequoia's policy; one that had
// expired before it signed does not.
import * as openpgp from 'openpgp'
import {copiesOf, fingerprintOf, type Keyring, keysWithKeyId} from './keyring.js'
import {parseV3SignaturePacket, type V3Signature, verifyV3RsaSignature} from './openpgp-v3.js'
import {refuse, SignatureRefusal} from './refusal.js'

export interface VerifiedSignature {
  /** The literal data, returned only after the signature verified. */
  payload: Uint8Array
  /** Upper-case hex fingerprint of the keyring's primary key, even when a subkey signed. */
  primaryFingerprint: string
  /** The (sub)key that made the signature. */
  signingKeyFingerprint: string
  /** The primary key's primary user ID, e.g. "Lance R. Vick <lance@vick.house>". */
  userId?: string
  created: Date
}

export interface VerifyOptions {
  /** The moment for "not revoked now" and "signature not expired"; defaults to the clock. */
  now?: Date
}

const ALLOWED_HASHES = new Set<number>([openpgp.enums.hash.sha256, openpgp.enums.hash.sha384, openpgp.enums.hash.sha512])

// The packets a signed message may hold once decompressed.
const ALLOWED_TAGS = new Set<number>([
  openpgp.enums.packet.onePassSignature,
  openpgp.enums.packet.literalData,
  openpgp.enums.packet.signature,
  openpgp.enums.packet.marker,
])

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

type PacketTags = number[]

// Tags of a packet list; an unparseable packet (e.g. a v3 signature) is its tag negated.
const tagsOf = (list: Iterable<unknown>): PacketTags =>
  [...list].map((packet) =>
    packet instanceof openpgp.UnparseablePacket ? -packet.tag : (packet as {constructor: {tag: number}}).constructor.tag,
  )

async function parseMessage(bytes: Uint8Array): Promise<openpgp.Message<Uint8Array>> {
  if (bytes.length === 0) return refuse('openpgp', 'empty file')
  try {
    return await openpgp.readMessage({binaryMessage: bytes})
  } catch (error) {
    return refuse('openpgp', `not an OpenPGP message (${errorText(error)})`)
  }
}

/** What a well-formed message holds: a v4/v6 signature openpgp.js reads, or a v3 one it cannot (see openpgp-v3.ts). */
type MessageShape =
  | {version: 'current'; keyID: openpgp.KeyID}
  | {version: 3; signature: V3Signature; document: Uint8Array; onePass?: OnePass}

/** The fields of a one-pass signature packet that must agree with the signature it announces. */
interface OnePass {
  issuerKeyID: openpgp.KeyID
  signatureType: number
  hashAlgorithm: number
  publicKeyAlgorithm: number
}

/**
 * Reads the whole message once, before any verification, and checks its shape: one compressed
 * packet or none; inside, only one-pass signature, literal data and signature packets; exactly one
 * literal data packet and exactly one signature. Returns the signer's key ID, or, for a v3
 * signature packet openpgp.js could not parse, the parsed packet and the signed document.
 */
async function checkMessageShape(bytes: Uint8Array): Promise<MessageShape> {
  const message = await parseMessage(bytes)
  const outer = tagsOf(message.packets)
  if (outer.includes(openpgp.enums.packet.compressedData) && outer.length !== 1)
    refuse('openpgp', 'a compressed packet next to other packets')
  let packets: unknown[]
  try {
    const list = message.unwrapCompressed().packets
    packets = [...list]
    // Packets after the literal data arrive on the list's stream (in memory here): drain it.
    const rest = (list as unknown as {stream?: {getReader(): {read(): Promise<{done: boolean; value?: unknown}>}}}).stream
    if (rest) {
      const reader = rest.getReader()
      for (let next = await reader.read(); !next.done; next = await reader.read()) packets.push(next.value)
    }
  } catch (error) {
    return refuse('openpgp', `cannot read the message (${errorText(error)})`)
  }
  const inner = tagsOf(packets)
  for (const tag of inner) {
    if (tag === -openpgp.enums.packet.signature) continue // maybe v3: read below
    if (tag < 0) refuse('openpgp', `unsupported or malformed packet (tag ${-tag})`)
    if (!ALLOWED_TAGS.has(tag)) {
      const name = openpgp.enums.read(openpgp.enums.packet, tag) ?? `tag ${tag}`
      refuse('openpgp', `not a signed message: holds a ${name} packet`)
    }
  }
  const count = (wanted: number) => inner.filter((tag) => tag === wanted).length
  const literals = count(openpgp.enums.packet.literalData)
  if (literals !== 1) refuse('openpgp', `a signed message holds exactly one literal data packet, this one ${literals}`)
  const signatures = count(openpgp.enums.packet.signature) + count(-openpgp.enums.packet.signature)
  if (signatures === 0) refuse('openpgp', 'not signed: the message holds no signature packet')
  if (signatures > 1 || count(openpgp.enums.packet.onePassSignature) > 1)
    refuse('openpgp', `expected exactly one signature, found ${signatures}`)
  const unparsed = packets.find((packet) => packet instanceof openpgp.UnparseablePacket) as openpgp.UnparseablePacket | undefined
  if (unparsed) {
    // openpgp.js reads v4 and v6 signatures only; a v3 one is verified by openpgp-v3.ts.
    const signature = parseV3SignaturePacket(unparsed.write())
    const literal = packets.find((packet) => packet instanceof openpgp.LiteralDataPacket) as unknown as {getBytes(): unknown}
    const document = literal.getBytes()
    if (!(document instanceof Uint8Array)) return refuse('openpgp', 'cannot read the literal data of a v3-signed message')
    const onePass = packets.find((packet) => packet instanceof openpgp.OnePassSignaturePacket) as unknown as OnePass | undefined
    return {version: 3, signature, document, onePass}
  }
  const signature = packets.find((packet) => packet instanceof openpgp.SignaturePacket) as openpgp.SignaturePacket
  return {version: 'current', keyID: signature.issuerKeyID}
}

async function verifyWith(
  key: openpgp.PublicKey,
  keyring: Keyring,
  bytes: Uint8Array,
  now: Date,
): Promise<VerifiedSignature> {
  // A fresh parse per key: a message's streams are consumed by verify.
  const message = await parseMessage(bytes)
  const result = await openpgp.verify({message, verificationKeys: [key], date: now, format: 'binary', expectSigned: false})
  if (result.signatures.length !== 1) refuse('openpgp', `expected exactly one signature, found ${result.signatures.length}`)
  const entry = result.signatures[0]!
  try {
    await entry.verified
  } catch (error) {
    return refuse('openpgp', errorText(error))
  }
  const packet = (await entry.signature).packets[0]
  if (!packet) return refuse('openpgp', 'signature packet missing')
  if (packet.signatureType !== openpgp.enums.signature.binary)
    refuse('openpgp', `signature type ${packet.signatureType}; only binary-document signatures (0x00) are accepted`)
  const hash = packet.hashAlgorithm ?? -1
  if (!ALLOWED_HASHES.has(hash))
    refuse('openpgp', `hash algorithm ${openpgp.enums.read(openpgp.enums.hash, hash as openpgp.enums.hash) ?? hash} is not accepted (SHA-256/384/512)`)
  const created = packet.created
  if (!created) return refuse('openpgp', 'signature has no creation time')

  const [signingKey] = key.getKeys(entry.keyID)
  if (!signingKey) return refuse('openpgp', 'signing key vanished from the keyring')
  if (packet.issuerFingerprint && Buffer.from(packet.issuerFingerprint).toString('hex').toUpperCase() !== fingerprintOf(signingKey))
    refuse('openpgp', 'issuer fingerprint subpacket does not match the signing key')
  await checkNotRevokedNow(key, signingKey, keyring, now)
  return verifiedBy(key, signingKey, result.data, created)
}

type AnyKey = openpgp.PublicKey | openpgp.Subkey

/**
 * Revoked now, in any copy of the key the keyring holds? (Hard revocations also reach back in time
 * through openpgp.js's own check; this adds soft ones and revocations found in other copies.)
 */
async function checkNotRevokedNow(key: openpgp.PublicKey, signingKey: AnyKey, keyring: Keyring, now: Date): Promise<void> {
  for (const copy of copiesOf(keyring, fingerprintOf(key))) {
    if (await copy.isRevoked(undefined, undefined, now)) refuse('openpgp', `primary key ${fingerprintOf(key)} is revoked`)
    if (signingKey instanceof openpgp.Subkey) {
      for (const subkey of copy.subkeys) {
        if (fingerprintOf(subkey) === fingerprintOf(signingKey) && (await subkey.isRevoked(undefined as never, undefined as never, now)))
          refuse('openpgp', `signing subkey ${fingerprintOf(signingKey)} is revoked`)
      }
    }
  }
}

async function verifiedBy(key: openpgp.PublicKey, signingKey: AnyKey, payload: Uint8Array, created: Date): Promise<VerifiedSignature> {
  let userId: string | undefined
  try {
    userId = (await key.getPrimaryUser(created)).user.userID?.userID
  } catch {
    userId = key.getUserIDs()[0]
  }
  return {payload, primaryFingerprint: fingerprintOf(key), signingKeyFingerprint: fingerprintOf(signingKey), userId, created}
}

/**
 * A v3 signature (see openpgp-v3.ts), under the rules openpgp.js applies to v4 ones: a binary
 * document signature, not made in the future, by a key not newer than the signature, that (with its
 * primary) was a valid signing key when it signed and is not revoked now. v3 signatures cannot expire.
 */
async function verifyV3With(
  key: openpgp.PublicKey,
  keyring: Keyring,
  shape: Extract<MessageShape, {version: 3}>,
  now: Date,
): Promise<VerifiedSignature> {
  const {signature, document, onePass} = shape
  if (signature.signatureType !== openpgp.enums.signature.binary)
    refuse('openpgp', `signature type ${signature.signatureType}; only binary-document signatures (0x00) are accepted`)
  if (onePass) {
    const same =
      onePass.issuerKeyID.toHex().toUpperCase() === signature.issuerKeyId &&
      onePass.signatureType === signature.signatureType &&
      onePass.hashAlgorithm === signature.hashAlgorithm &&
      onePass.publicKeyAlgorithm === signature.publicKeyAlgorithm
    if (!same) refuse('openpgp', 'the one-pass signature packet does not match the signature packet')
  }
  if (signature.created.getTime() > now.getTime()) refuse('openpgp', `signature creation time ${signature.created.toISOString()} is in the future`)
  const signingKey = key.getKeys().find((k) => k.getKeyID().toHex().toUpperCase() === signature.issuerKeyId)
  if (!signingKey) return refuse('openpgp', 'signing key vanished from the keyring')
  const keyPacket = signingKey.keyPacket as unknown as {algorithm: number; publicParams: {n?: Uint8Array; e?: Uint8Array}}
  if (keyPacket.algorithm !== signature.publicKeyAlgorithm || !keyPacket.publicParams.n || !keyPacket.publicParams.e)
    refuse('openpgp', `signature verification failed: key ${fingerprintOf(signingKey)} is not the RSA key the v3 signature names`)
  verifyV3RsaSignature(signature, document, {n: keyPacket.publicParams.n!, e: keyPacket.publicParams.e!})
  if (signingKey.getCreationTime() > signature.created) refuse('openpgp', 'Key is newer than the signature')
  try {
    // As openpgp.js does for v4: the key (and its primary) must have been a valid signing key when it signed.
    await key.getSigningKey(signingKey.getKeyID(), signature.created)
  } catch (error) {
    return refuse('openpgp', errorText(error))
  }
  await checkNotRevokedNow(key, signingKey, keyring, now)
  return verifiedBy(key, signingKey, document, signature.created)
}

/**
 * Verifies one signature file against the keyring. Returns the payload and signer, or throws a
 * SignatureRefusal whose reason says why the signature does not count.
 */
export async function verifySignedMessage(
  bytes: Uint8Array,
  keyring: Keyring,
  options: VerifyOptions = {},
): Promise<VerifiedSignature> {
  const now = options.now ?? new Date()
  const shape = await checkMessageShape(bytes)
  const candidates =
    shape.version === 3
      ? keyring.keys.filter((key) => key.getKeys().some((k) => k.getKeyID().toHex().toUpperCase() === shape.signature.issuerKeyId))
      : keysWithKeyId(keyring, shape.keyID)
  const keyIdHex = shape.version === 3 ? shape.signature.issuerKeyId : shape.keyID.toHex().toUpperCase()
  if (candidates.length === 0) refuse('openpgp', `signed by key ${keyIdHex}, which is not in the keyring`)
  let first: SignatureRefusal | undefined
  for (const key of candidates) {
    try {
      return shape.version === 3 ? await verifyV3With(key, keyring, shape, now) : await verifyWith(key, keyring, bytes, now)
    } catch (error) {
      if (!(error instanceof SignatureRefusal)) throw error
      first ??= error
    }
  }
  throw first!
}
