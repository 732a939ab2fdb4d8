// The trust stage for one image: every signature file is verified (OpenPGP against the keyring,
// then the payload's digest, then its identity, in containers/image's order), each gets a row in
// the table, and the image passes only with at least `threshold` distinct primary keys.
import {badInputError} from '../errors.js'
import {type Digest, parseDigest} from '../oci/digest.js'
import {canonicalRepository} from '../oci/reference.js'
import {type Keyring, readKeyring} from './keyring.js'
import {verifySignedMessage} from './openpgp-verify.js'
import {checkSignedClaims, parseExpectedRepository, parseSignaturePayload} from './payload.js'
import {SignatureRefusal} from './refusal.js'
import {checkThresholdValue, countDistinctSigners, enforceThreshold, type TrustResult} from './threshold.js'
import type {TrustRow} from './trust-table.js'

export interface VerifyImageSignaturesInput {
  /** Canonical repository, e.g. docker.io/stagex/core-busybox (stagex/core-busybox is the same). */
  repository: string
  /** The manifest digest pulled (for legacy StageX signatures: the digest they signed). */
  manifestDigest: Digest | string
  signatures: ReadonlyArray<{name: string; bytes: Uint8Array}>
  /** The maintainers' keys: a read keyring, or keyring file contents (armored or binary). */
  keyring: Keyring | Uint8Array | string
  threshold: number
  /** Accept StageX's pre-June-2025 payload form. */
  legacy?: boolean
  /** Require signatures to claim exactly this tag (default: tags are ignored; images are pulled by digest). */
  tag?: string
  /** "Now" for revocation and signature expiry; defaults to the clock. */
  now?: Date
  /** false: return the table and the counted signers without refusing (the caller combines several lists). */
  enforce?: boolean
}

const isKeyring = (value: unknown): value is Keyring =>
  typeof value === 'object' && value !== null && Array.isArray((value as Keyring).keys)

async function verifyOne(
  signature: {name: string; bytes: Uint8Array},
  input: VerifyImageSignaturesInput,
  keyring: Keyring,
  manifestDigest: Digest,
): Promise<TrustRow> {
  let row: TrustRow = {file: signature.name, counted: false, reason: ''}
  try {
    const verified = await verifySignedMessage(signature.bytes, keyring, {now: input.now})
    row = {...row, signer: verified.primaryFingerprint, signerName: verified.userId}
    const claims = parseSignaturePayload(verified.payload, {legacy: input.legacy})
    checkSignedClaims(claims, {repository: input.repository, manifestDigest, tag: input.tag})
    const via = verified.signingKeyFingerprint === verified.primaryFingerprint ? '' : ` by subkey ${verified.signingKeyFingerprint}`
    const legacy = claims.format === 'stagex-legacy' ? ' (legacy StageX payload)' : ''
    return {...row, counted: true, reason: `ok: signed ${verified.created.toISOString()}${via}${legacy}`}
  } catch (error) {
    if (error instanceof SignatureRefusal) return {...row, counted: false, reason: error.reason}
    throw error
  }
}

/**
 * Verifies an image's signatures and enforces the threshold. Returns the distinct signers and the
 * table; throws StagexError 'trust' (exit 3) when fewer than `threshold` distinct keys signed, with
 * the table in its details, or 'usage' for a bad threshold, repository or keyring.
 */
export async function verifyImageSignatures(input: VerifyImageSignaturesInput): Promise<TrustResult> {
  checkThresholdValue(input.threshold)
  const repository = parseExpectedRepository(input.repository)
  let manifestDigest: Digest
  try {
    manifestDigest = parseDigest(input.manifestDigest, `manifest digest of ${canonicalRepository(repository)}`)
  } catch (error) {
    throw badInputError((error as Error).message)
  }
  const keyring = isKeyring(input.keyring) ? input.keyring : await readKeyring(input.keyring)
  const table: TrustRow[] = []
  for (const signature of input.signatures) table.push(await verifyOne(signature, input, keyring, manifestDigest))
  const counted = countDistinctSigners(table)
  const image = `${canonicalRepository(repository)}@${manifestDigest}`
  const result = {counted, table, distinctSigners: counted.length, threshold: input.threshold}
  return input.enforce === false ? result : enforceThreshold(image, result)
}
