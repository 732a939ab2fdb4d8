// `verify`: the trust stage alone, for one image. The image is read from an OCI layout (oci:DIR[:TAG],
// which carries no identity: --identity names it) or a registry (its reference is its identity, unless
// --identity says it is a mirror's copy of another). Its linux/amd64 manifest digest is what the
// lookaside's signatures must name.
import {usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {openLayout} from '../oci/layout.js'
import {canonicalRepository, DEFAULT_TAG, parseImageReference, parseRegistryReference} from '../oci/reference.js'
import {resolveLookasideUrl} from '../trust/lookaside.js'
import type {TrustedSigner} from '../trust/threshold.js'
import type {TrustRow} from '../trust/trust-table.js'
import type {PackageOrigin, PackageRequest} from './packages.js'
import {resolveStage} from './resolve.js'
import {trustStage} from './trust.js'

/** StageX's own lookaside. */
export const DEFAULT_LOOKASIDE = 'https://sigs.stagex.tools'
export const DEFAULT_THRESHOLD = 2

export interface VerifyOptions {
  /** `oci:DIR[:TAG][@DIGEST]` or `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]` (docker:// optional). */
  reference: string
  /** The canonical repository the signatures must name; required for oci: references. */
  identity?: string
  /** Keyring files (armored or binary), read together. */
  keyrings: string[]
  threshold?: number
  /** file://, http:// or https://; a relative file:// path is relative to `cwd`. */
  lookaside?: string
  legacy?: boolean
  cwd?: string
  env?: NodeJS.ProcessEnv
  now?: Date
}

export interface VerifyResult {
  reference: string
  identity: string
  manifestDigest: Digest
  indexDigest?: Digest
  lookaside: string
  threshold: number
  distinctSigners: number
  signers: TrustedSigner[]
  table: TrustRow[]
}

/**
 * Verifies one image's signatures: the resolve and trust stages of the pipeline, for one reference.
 * Returns the counted signers and the table when at least `threshold` distinct keys of the keyring
 * signed; throws StagexError 'trust' (exit 3) with the table otherwise, 'usage' (exit 2) for bad arguments.
 */
export async function verifyImage(options: VerifyOptions): Promise<VerifyResult> {
  const cwd = options.cwd ?? process.cwd()
  const threshold = options.threshold ?? DEFAULT_THRESHOLD
  if (options.keyrings.length === 0) throw usageError("give the maintainers' keyring with --keyring FILE")
  const ref = parseImageReference(options.reference, 'IMAGE_REF')
  let identity: string
  if (options.identity !== undefined) {
    const named = parseRegistryReference(options.identity, '--identity')
    if (named.digest) throw usageError(`--identity "${options.identity}": name a repository, without a digest`)
    identity = canonicalRepository(named)
  } else if (ref.transport === 'docker') identity = canonicalRepository(ref)
  else
    throw usageError(
      `${options.reference}: an OCI layout does not say which repository it holds; give --identity, e.g. --identity docker.io/stagex/core-busybox`,
    )
  const tag = ref.digest ? undefined : (ref.tag ?? (ref.transport === 'docker' ? DEFAULT_TAG : undefined))
  const origin: PackageOrigin =
    ref.transport === 'oci'
      ? {kind: 'layout', source: openLayout(ref.path), tag, digest: ref.digest}
      : {kind: 'registry', identity, location: {registry: ref.registry, repository: ref.repository}, tag, digest: ref.digest}
  const request: PackageRequest = {
    role: 'package',
    spec: options.reference,
    name: identity.split('/').at(-1)!,
    identity,
    tag,
    digest: ref.digest,
    where: 'IMAGE_REF',
    fieldPath: [],
  }
  const lookaside = resolveLookasideUrl(options.lookaside ?? DEFAULT_LOOKASIDE, cwd)
  const resolved = await resolveStage([{request, origin}], {env: options.env})
  const flags: Record<string, string> = {keyring: '--keyring', lookaside: '--lookaside', threshold: '--threshold'}
  const trusted = await trustStage(
    resolved,
    {
      settings: {threshold, lookaside, legacy: options.legacy ?? false},
      keyrings: options.keyrings,
      locate: (field) => flags[String(field.at(-1))] ?? 'verify',
    },
    {now: options.now},
  )
  if (trusted.result.mode !== 'verified') throw new Error('verify ran without a trust policy')
  const image = trusted.result.images[0]!
  const {image: resolvedImage} = resolved.packages[0]!
  return {
    reference: options.reference,
    identity,
    manifestDigest: resolvedImage.manifestDigest,
    indexDigest: resolvedImage.indexDigest,
    lookaside,
    threshold,
    distinctSigners: image.signers.length,
    signers: image.signers,
    table: image.table,
  }
}
