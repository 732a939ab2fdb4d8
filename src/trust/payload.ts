// The signed payload: strict "simple signing" JSON (containers-signature(5)), and StageX's legacy
// form (before June 2025) when the profile allows it. Only ever called on bytes whose OpenPGP
// signature has been verified.
import {type Digest, digestProblem, isSha256Digest} from '../oci/digest.js'
import {canonicalRepository, parseRegistryReference, type RegistryReference} from '../oci/reference.js'
import {usageError} from '../errors.js'
import {refuse} from './refusal.js'
import {isJsonObject, type JsonValue, parseStrictJson, StrictJsonError} from './strict-json.js'

export const SIMPLE_SIGNING_TYPE = 'atomic container signature'
export const LEGACY_STAGEX_TYPE = 'pgp container image signature'

export interface SignedClaims {
  format: 'simple-signing' | 'stagex-legacy'
  /** The manifest digest the signer vouched for (legacy bare hex is given its `sha256:` prefix). */
  manifestDigest: Digest
  /** critical.identity.docker-reference, as written. */
  dockerReference: string
  creator?: string
  timestamp?: number
}

export interface PayloadOptions {
  /** Accept StageX's legacy payload (JSON array, type "pgp container image signature", bare hex digest). */
  legacy?: boolean
}

type JsonObject = {[key: string]: JsonValue}

function exactMembers(value: JsonValue | undefined, where: string, required: string[], optional: string[] = []): JsonObject {
  if (!isJsonObject(value)) return refuse('payload', `${where} is not a JSON object`)
  for (const key of Object.keys(value)) {
    if (!required.includes(key) && !optional.includes(key)) refuse('payload', `unknown member "${key}" in ${where}`)
  }
  for (const key of required) {
    if (!(key in value)) refuse('payload', `${where} has no "${key}"`)
  }
  return value
}

function stringMember(object: JsonObject, key: string, where: string): string {
  const value = object[key]
  if (typeof value !== 'string') return refuse('payload', `${where}.${key} is not a string`)
  return value
}

function readOptional(value: JsonValue | undefined): Pick<SignedClaims, 'creator' | 'timestamp'> {
  if (value === undefined || value === null) return {}
  if (!isJsonObject(value)) return refuse('payload', '"optional" is neither an object nor null')
  const out: Pick<SignedClaims, 'creator' | 'timestamp'> = {}
  if ('creator' in value) {
    if (typeof value.creator !== 'string') refuse('payload', 'optional.creator is not a string')
    out.creator = value.creator as string
  }
  if ('timestamp' in value) {
    if (typeof value.timestamp !== 'number' || !Number.isSafeInteger(value.timestamp))
      refuse('payload', 'optional.timestamp is not an integer')
    out.timestamp = value.timestamp as number
  }
  return out
}

function readSimpleSigning(top: JsonValue): SignedClaims {
  const root = exactMembers(top, 'the payload', ['critical'], ['optional'])
  const critical = exactMembers(root.critical, '"critical"', ['type', 'image', 'identity'])
  const type = stringMember(critical, 'type', 'critical')
  if (type !== SIMPLE_SIGNING_TYPE) refuse('payload', `critical.type is "${type}", not "${SIMPLE_SIGNING_TYPE}"`)
  const image = exactMembers(critical.image, 'critical.image', ['docker-manifest-digest'])
  const digest = stringMember(image, 'docker-manifest-digest', 'critical.image')
  if (!isSha256Digest(digest)) {
    const problem = digestProblem(digest)
    refuse(
      'payload',
      problem === 'unsupported'
        ? `critical.image.docker-manifest-digest "${digest}" uses an algorithm other than sha256`
        : `critical.image.docker-manifest-digest "${digest}" is not a valid digest`,
    )
  }
  const identity = exactMembers(critical.identity, 'critical.identity', ['docker-reference'])
  const dockerReference = stringMember(identity, 'docker-reference', 'critical.identity')
  return {format: 'simple-signing', manifestDigest: digest as Digest, dockerReference, ...readOptional(root.optional)}
}

function readLegacy(top: JsonValue): SignedClaims {
  if (!Array.isArray(top) || top.length !== 1) return refuse('payload', 'legacy payload is not a JSON array of one object')
  const root = exactMembers(top[0], 'the legacy payload', ['critical'], ['optional'])
  const critical = exactMembers(root.critical, '"critical"', ['type', 'image', 'identity'])
  const type = stringMember(critical, 'type', 'critical')
  if (type !== LEGACY_STAGEX_TYPE) refuse('payload', `legacy critical.type is "${type}", not "${LEGACY_STAGEX_TYPE}"`)
  const image = exactMembers(critical.image, 'critical.image', ['docker-manifest-digest'])
  const hex = stringMember(image, 'docker-manifest-digest', 'critical.image')
  if (!/^[a-f0-9]{64}$/.test(hex)) refuse('payload', `legacy critical.image.docker-manifest-digest "${hex}" is not 64 hex digits`)
  const identity = exactMembers(critical.identity, 'critical.identity', ['docker-reference'])
  const dockerReference = stringMember(identity, 'docker-reference', 'critical.identity')
  return {format: 'stagex-legacy', manifestDigest: `sha256:${hex}`, dockerReference, ...readOptional(root.optional)}
}

const looksLegacy = (top: JsonValue): boolean =>
  Array.isArray(top) ||
  (isJsonObject(top) && isJsonObject(top.critical) && top.critical.type === LEGACY_STAGEX_TYPE)

/** Reads verified payload bytes into claims; throws a SignatureRefusal ('payload') on anything unexpected. */
export function parseSignaturePayload(payload: Uint8Array, options: PayloadOptions = {}): SignedClaims {
  let top: JsonValue
  try {
    top = parseStrictJson(payload)
  } catch (error) {
    if (error instanceof StrictJsonError) return refuse('payload', `not strict JSON (${error.message})`)
    throw error
  }
  if (looksLegacy(top)) {
    if (!options.legacy)
      refuse('payload', 'legacy StageX payload (made before June 2025); accepted only with trust.legacy: true')
    return readLegacy(top)
  }
  return readSimpleSigning(top)
}

export interface ExpectedImage {
  /** Canonical repository of the image, e.g. docker.io/stagex/core-busybox (stagex/core-busybox is the same). */
  repository: string
  /** The digest of the manifest that was pulled. */
  manifestDigest: Digest
  /**
   * Only when the user named a tag and wants the signature to claim exactly that tag
   * (containers-policy.json's matchRepoDigestOrExact for tagged references). By default, as the
   * pipeline pulls by digest, the signed tag is ignored.
   */
  tag?: string
}

/** Parses the expected repository; a tag or digest in it is not allowed (pass `tag` instead). */
export function parseExpectedRepository(repository: string): RegistryReference {
  const ref = parseRegistryReference(repository, 'repository')
  if (ref.tag !== undefined || ref.digest !== undefined)
    throw usageError(`repository "${repository}": give the repository without a tag or digest`)
  return ref
}

/** Checks the claims against the image, digest first, then identity (as containers/image orders them). */
export function checkSignedClaims(claims: SignedClaims, expected: ExpectedImage): void {
  if (claims.manifestDigest !== expected.manifestDigest)
    refuse('digest', `signed ${claims.manifestDigest}, but the manifest is ${expected.manifestDigest}`)
  let signed: RegistryReference
  if (claims.dockerReference.trim() !== claims.dockerReference)
    refuse('identity', `signed docker-reference "${claims.dockerReference}" has surrounding white space`)
  try {
    signed = parseRegistryReference(claims.dockerReference, 'signed docker-reference')
  } catch {
    return refuse('identity', `signed docker-reference "${claims.dockerReference}" is not a valid reference`)
  }
  const want = parseExpectedRepository(expected.repository)
  if (canonicalRepository(signed) !== canonicalRepository(want))
    refuse('identity', `signed for ${canonicalRepository(signed)}, but the image is ${canonicalRepository(want)}`)
  if (signed.digest !== undefined && signed.digest !== expected.manifestDigest)
    refuse('identity', `signed docker-reference names ${signed.digest}, but the manifest is ${expected.manifestDigest}`)
  if (expected.tag !== undefined && signed.tag !== expected.tag)
    refuse('identity', `signed tag ${signed.tag ?? '(none)'}, but the image was named with tag ${expected.tag}`)
}
