// `verify`: the trust stage alone, for one image. The image is read from an OCI layout (oci:DIR[:TAG],
// which carries no identity: --identity names it) or a registry (its reference is its identity, unless
// --identity says it is a mirror's copy of another). Its linux/amd64 manifest digest is what the
// lookaside's signatures must name.
import {readFile} from 'node:fs/promises'
import {usageError} from '../errors.js'
import {credentialsFor} from '../oci/auth.js'
import type {Digest} from '../oci/digest.js'
import {openLayout} from '../oci/layout.js'
import {openRegistry} from '../oci/registry.js'
import {canonicalRepository, parseImageReference, parseRegistryReference} from '../oci/reference.js'
import {resolveImage} from '../oci/source.js'
import {readKeyring} from '../trust/keyring.js'
import {fetchSignatures, resolveLookasideUrl} from '../trust/lookaside.js'
import {verifyImageSignatures} from '../trust/policy.js'
import type {TrustedSigner} from '../trust/threshold.js'
import type {TrustRow} from '../trust/trust-table.js'

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
 * Verifies one image's signatures. Returns the counted signers and the table when at least
 * `threshold` distinct keys of the keyring signed; throws StagexError 'trust' (exit 3) with the table
 * otherwise, 'usage' (exit 2) for bad arguments.
 */
export async function verifyImage(options: VerifyOptions): Promise<VerifyResult> {
  const cwd = options.cwd ?? process.cwd()
  const threshold = options.threshold ?? DEFAULT_THRESHOLD
  if (options.keyrings.length === 0) throw usageError('give the maintainers\' keyring with --keyring FILE')
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

  const source =
    ref.transport === 'oci'
      ? openLayout(ref.path)
      : openRegistry({registry: ref.registry, repository: ref.repository}, {credentials: await credentialsFor(ref.registry, options.env ?? process.env)})
  const target = ref.digest ? {digest: ref.digest} : {tag: ref.tag ?? (ref.transport === 'docker' ? 'latest' : undefined)}
  const image = await resolveImage(source, target, options.reference)

  const keyring = await readKeyring(
    await Promise.all(
      options.keyrings.map((path) =>
        readFile(path).catch((error: NodeJS.ErrnoException) => {
          throw usageError(`--keyring ${path}: cannot read it (${error.code ?? error.message})`)
        }),
      ),
    ),
    options.keyrings.join(', '),
  )
  const lookaside = resolveLookasideUrl(options.lookaside ?? DEFAULT_LOOKASIDE, cwd)
  const signatures = await fetchSignatures({lookaside, repository: identity, manifestDigest: image.manifestDigest})
  const result = await verifyImageSignatures({
    repository: identity,
    manifestDigest: image.manifestDigest,
    signatures,
    keyring,
    threshold,
    legacy: options.legacy,
    now: options.now,
  })
  return {
    reference: options.reference,
    identity,
    manifestDigest: image.manifestDigest,
    indexDigest: image.indexDigest,
    lookaside,
    threshold,
    distinctSigners: result.distinctSigners,
    signers: result.counted,
    table: result.table,
  }
}
