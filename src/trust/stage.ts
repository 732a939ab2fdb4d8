// The trust stage of the pipeline: for every resolved image, its signatures from the lookaside,
// verified against the profile's keyring, at least `threshold` distinct primary keys. It runs after
// resolve (manifest digests known) and before any layer is downloaded or applied.
//
// Identity: an image is judged as its canonical repository (docker.io/stagex/<name>), wherever it is
// read from (a registry, a mirror, an OCI layout folder), at its linux/amd64 manifest digest.
// Keys and lookaside come from the profile's `trust:` (keyring, lookaside), or from an existing
// containers set-up (policy: policy.json's signedBy keys; registriesD: its lookaside); a keyring or
// lookaside given in the profile wins over the containers set-up's.
import {readFile} from 'node:fs/promises'
import {isStagexError, profileError, StagexError, trustError, usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import type {Profile, TrustSettings} from '../profile/types.js'
import type {Keyring} from './keyring.js'
import {fetchSignatures, signatureLocation} from './lookaside.js'
import {countDistinctSigners, enforceThreshold, type TrustedSigner} from './threshold.js'
import type {TrustRow} from './trust-table.js'

export interface TrustStageImage {
  /** Short name, for messages. */
  name: string
  /** Canonical repository, e.g. docker.io/stagex/core-busybox. */
  identity: string
  /** The platform manifest digest: what maintainers sign. */
  manifestDigest: Digest
  /** The index the tag pointed to: StageX's legacy signatures (before June 2025) signed this one. */
  indexDigest?: Digest
}

export interface ImageTrust {
  name: string
  identity: string
  manifestDigest: Digest
  lookaside: string
  signers: TrustedSigner[]
  table: TrustRow[]
  threshold: number
}

export type TrustStageResult = {mode: 'none'} | {mode: 'verified'; threshold: number; images: ImageTrust[]}

export interface TrustStageOptions {
  /** "Now" for revocation and expiry; defaults to the clock. */
  now?: Date
  /** Per signature file. */
  maxSignatureBytes?: number
  /** Called once per image that passed. */
  onImage?: (image: ImageTrust) => void
}

/** How many images are verified at once. */
const PARALLEL_IMAGES = 4

export const UNVERIFIED_WARNING =
  'warning: the profile has no trust: section, so its images are NOT verified against maintainer signatures. ' +
  'Add trust: {keyring, threshold, lookaside} to refuse images too few maintainers signed.'

/**
 * What the stage judges by: a profile's `trust:` section, or `verify`'s flags. `locate` names a
 * setting in messages (a profile's file:line:col, or a flag).
 */
export interface TrustPolicy {
  settings: TrustSettings
  /** Keyring files, read together (the profile's trust.keyring, or every --keyring). */
  keyrings: string[]
  locate: (fieldPath: readonly (string | number)[]) => string
}

/** The policy of a profile with a trust: section; undefined without one. */
export function profileTrustPolicy(profile: Profile): TrustPolicy | undefined {
  const settings = profile.trust
  if (!settings) return undefined
  return {settings, keyrings: settings.keyring ? [settings.keyring] : [], locate: profile.locate}
}

/** Where one image's keys and signatures come from. */
interface Sources {
  keyring: Keyring
  lookaside: string
}

/**
 * The modules that parse keys and verify signatures. They pull in openpgp.js, which takes longer to
 * load than the rest of a pull: loaded only when a profile has trust:, not at every start of the CLI.
 */
async function loadVerifier() {
  const [{readKeyring}, {verifyImageSignatures}, {containersTrustFor}] = await Promise.all([
    import('./keyring.js'),
    import('./policy.js'),
    import('./containers-config.js'),
  ])
  return {readKeyring, verifyImageSignatures, containersTrustFor}
}

type Verifier = Awaited<ReturnType<typeof loadVerifier>>

/** Reads each set of keyring files once; `where` names the setting in errors. */
function keyringReader({readKeyring}: Verifier): (paths: readonly string[], where: string) => Promise<Keyring> {
  const cache = new Map<string, Promise<Keyring>>()
  return (paths, where) => {
    const cacheKey = paths.join('\0')
    let keyring = cache.get(cacheKey)
    if (!keyring) {
      keyring = Promise.all(
        paths.map((path) =>
          readFile(path).catch((error: NodeJS.ErrnoException) => {
            throw profileError(`${where}: cannot read the keyring ${path} (${error.code ?? error.message})`)
          }),
        ),
      ).then((contents) => readKeyring(contents, paths.join(', ')))
      cache.set(cacheKey, keyring)
    }
    return keyring
  }
}

async function sourcesFor(
  policy: TrustPolicy,
  identity: string,
  readKeys: ReturnType<typeof keyringReader>,
  {containersTrustFor}: Verifier,
): Promise<Sources> {
  const trust = policy.settings
  let keyring: Keyring | undefined
  let lookaside = trust.lookaside
  if (policy.keyrings.length > 0) keyring = await readKeys(policy.keyrings, policy.locate(['trust', 'keyring']))
  if (trust.policy && (!keyring || !lookaside)) {
    const containers = await containersTrustFor({policyPath: trust.policy, registriesDir: trust.registriesD, reference: identity})
    keyring ??= containers.keyring
    lookaside ??= containers.lookaside
  }
  if (!keyring)
    throw profileError(`${policy.locate(['trust'])}: trust needs a keyring (trust.keyring) or a containers policy.json (trust.policy) naming the maintainers' keys`)
  if (!lookaside)
    throw profileError(
      `${policy.locate(['trust'])}: no lookaside for ${identity}: set trust.lookaside (file://, http:// or https://)` +
        (trust.policy ? ', or give trust.registriesD with a lookaside for it' : ''),
    )
  return {keyring, lookaside}
}

/**
 * Verifies every image against the trust policy. Throws StagexError 'trust' (exit 3) for the first image with
 * fewer than `threshold` distinct trusted signers (message: image, found, needed, and the table), or
 * whose lookaside answers anything but a signature or "not found".
 */
export async function trustStage(policy: TrustPolicy, images: readonly TrustStageImage[], options: TrustStageOptions = {}): Promise<TrustStageResult> {
  const trust = policy.settings
  if (trust.registriesD && !trust.policy)
    throw usageError(`${policy.locate(['trust', 'registriesD'])}: registriesD is read together with policy (a containers policy.json)`)
  const verifier = await loadVerifier()
  const {verifyImageSignatures} = verifier
  const readKeys = keyringReader(verifier)
  const verifyImage = async (image: TrustStageImage): Promise<ImageTrust> => {
    const {keyring, lookaside} = await sourcesFor(policy, image.identity, readKeys, verifier)
    const fetchFor = (digest: Digest) =>
      fetchSignatures({lookaside, repository: image.identity, manifestDigest: digest, maxSignatureBytes: options.maxSignatureBytes}).catch(
        (error: unknown) => {
          // Name the image: a lookaside we cannot read fully leaves it untrusted.
          if (!isStagexError(error) || error.kind === 'usage') throw error
          throw new StagexError(error.kind, `image ${image.identity}@${image.manifestDigest} is not trusted: ${error.message}`, {
            image: `${image.identity}@${image.manifestDigest}`,
            ...error.details,
          })
        },
      )
    const verifyAt = async (digest: Digest) =>
      verifyImageSignatures({
        repository: image.identity,
        manifestDigest: digest,
        signatures: await fetchFor(digest),
        keyring,
        threshold: trust.threshold,
        legacy: trust.legacy,
        now: options.now,
        enforce: false,
      })
    // Legacy StageX signatures were filed under (and signed) the index digest the tag pointed to:
    // with trust.legacy, those count too, next to the ones filed under the manifest digest.
    const parts = [{digest: image.manifestDigest, result: await verifyAt(image.manifestDigest)}]
    if (trust.legacy && image.indexDigest && image.indexDigest !== image.manifestDigest)
      parts.push({digest: image.indexDigest, result: await verifyAt(image.indexDigest)})
    const table =
      parts.length === 1 ? parts[0]!.result.table : parts.flatMap((p) => p.result.table.map((row) => ({...row, file: `${p.digest.slice(7, 19)}/${row.file}`})))
    if (table.length === 0) throw noSignaturesError(image, lookaside, parts.map((p) => p.digest), trust.threshold)
    const counted = countDistinctSigners(table)
    const result = enforceThreshold(`${image.identity}@${image.manifestDigest}`, {counted, table, distinctSigners: counted.length, threshold: trust.threshold})
    const done: ImageTrust = {...image, lookaside, signers: result.counted, table: result.table, threshold: trust.threshold}
    return done
  }
  // Images are checked a few at a time; the outcome (and the first refusal reported) follows image order.
  const settled: PromiseSettledResult<ImageTrust>[] = []
  for (let i = 0; i < images.length; i += PARALLEL_IMAGES)
    settled.push(...(await Promise.allSettled(images.slice(i, i + PARALLEL_IMAGES).map(verifyImage))))
  const verified: ImageTrust[] = []
  for (const outcome of settled) {
    if (outcome.status === 'rejected') throw outcome.reason
    options.onImage?.(outcome.value)
    verified.push(outcome.value)
  }
  return {mode: 'verified', threshold: trust.threshold, images: verified}
}

/** An image the lookaside has no signature for: where it looked, so a wrong lookaside or path shows. */
function noSignaturesError(image: TrustStageImage, lookaside: string, digests: Digest[], threshold: number): StagexError {
  const looked = digests.map((digest) => signatureLocation(lookaside, image.identity, digest))
  const what = lookaside.startsWith('file:') ? 'no signature-1 in' : 'not found (HTTP 404):'
  return trustError(
    `image ${image.identity}@${image.manifestDigest} is not trusted: the lookaside ${lookaside} has no signature for it ` +
      `(${what} ${looked.join(', ')}); ${threshold} distinct maintainer signatures are needed. ` +
      'Check trust.lookaside, or whether the image was signed',
    {image: `${image.identity}@${image.manifestDigest}`, lookaside, looked, distinctSigners: 0, threshold, signers: [], table: []},
  )
}
