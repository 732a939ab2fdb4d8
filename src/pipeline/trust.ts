// The trust stage: after resolve (every manifest digest known) and before fetch (no layer read yet),
// every image must pass the trust settings: a profile's `trust:` or `verify`'s flags. One path for
// every command, legacy payloads included (src/trust/stage.ts does the verifying).
import {createHash} from 'node:crypto'
import {profileError, trustError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {type ImageTrust, type TrustPolicy, trustStage as verifyImages, type TrustStageResult, UNVERIFIED_WARNING} from '../trust/stage.js'
import type {TrustedSigner} from '../trust/threshold.js'
import {lockPathFor, readLock} from './lock-file.js'
import type {Resolved} from './resolve.js'

export interface TrustOptions {
  /** Progress lines ("trust: core-busybox: 2 distinct signers ..."). */
  progress?: (message: string) => void
  /** The unverified warning; default: stderr. */
  warn?: (message: string) => void
  /**
   * The profile's lock (a --locked build): the signers it recorded for each image must still count,
   * at least `threshold` of them (a maintainer who signed since the lock does not replace one whose
   * signature no longer counts: run `lock` again to accept the new set).
   */
  lockedProfile?: string
  now?: Date
}

export interface Trusted {
  resolved: Resolved
  result: TrustStageResult
  /** The counted signers of an image that passed; [] without trust settings. */
  signersOf(identity: string, manifestDigest: Digest): TrustedSigner[]
  /** sha256 of every image's counted signer fingerprints, in order. */
  sha256: string
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

const key = (identity: string, digest: string) => `${identity}@${digest}`

/** Verifies every resolved image; `policy` undefined means the build is unverified (and says so). */
export async function trustStage(resolved: Resolved, policy: TrustPolicy | undefined, options: TrustOptions = {}): Promise<Trusted> {
  const progress = options.progress ?? (() => {})
  let result: TrustStageResult
  if (!policy) {
    ;(options.warn ?? ((message: string) => process.stderr.write(`${message}\n`)))(UNVERIFIED_WARNING)
    result = {mode: 'none'}
  } else {
    // One image may appear twice (a package and the kernel): verify it once.
    const seen = new Set<string>()
    const images = resolved.packages
      .map((p) => ({name: p.request.name, identity: p.request.identity, manifestDigest: p.image.manifestDigest, indexDigest: p.image.indexDigest}))
      .filter((image) => !seen.has(key(image.identity, image.manifestDigest)) && seen.add(key(image.identity, image.manifestDigest)))
    // Said before: what is checked. The result only once every image passed (a missing keyring, a
    // lookaside without signatures fails in between, and no line may read like success before it).
    const count = plural(images.length, 'image')
    const each = `${policy.settings.threshold} distinct maintainer signature${policy.settings.threshold === 1 ? '' : 's'}`
    progress(`trust: checking ${count} for ${each} each`)
    result = await verifyImages(policy, images, {
      now: options.now,
      onImage: (image) =>
        progress(
          `trust: ${image.name}: ${image.signers.length} distinct signers (${image.threshold} needed): ` +
            image.signers.map((s) => s.name ?? s.fingerprint).join(', '),
        ),
    })
    if (options.lockedProfile && result.mode === 'verified') await checkLockedSigners(options.lockedProfile, result.images)
    progress(`trust: passed: ${images.length === 1 ? 'the image has' : `each of the ${count} has`} at least ${each}`)
  }
  const byImage = new Map<string, ImageTrust>()
  if (result.mode === 'verified') for (const image of result.images) byImage.set(key(image.identity, image.manifestDigest), image)
  const signersOf = (identity: string, manifestDigest: Digest) => byImage.get(key(identity, manifestDigest))?.signers ?? []
  const hash = createHash('sha256').update(result.mode === 'none' ? 'unverified\n' : `threshold ${result.threshold}\n`)
  for (const p of resolved.packages)
    hash.update(`${p.request.identity}@${p.image.manifestDigest} ${signersOf(p.request.identity, p.image.manifestDigest).map((s) => s.fingerprint).join(',')}\n`)
  return {resolved, result, signersOf, sha256: hash.digest('hex')}
}

/** --locked: each image's signers recorded in the lock must still meet the threshold. */
async function checkLockedSigners(profilePath: string, images: readonly ImageTrust[]): Promise<void> {
  const lockPath = lockPathFor(profilePath)
  const lock = await readLock(lockPath)
  for (const image of images) {
    const entry = lock.packages.find((p) => p.repository === image.identity && p.manifestDigest === image.manifestDigest)
    if (!entry) continue // resolve already refused an image the lock does not pin
    if (entry.signers === undefined)
      throw profileError(
        `${lockPath}: ${image.identity}@${image.manifestDigest} has no signers recorded (the lock was written without trust:); ` +
          'run `stagex-image lock` again to record them',
      )
    const now = new Set(image.signers.map((s) => s.fingerprint))
    const still = entry.signers.filter((s) => now.has(s.fingerprint))
    if (still.length < image.threshold) {
      const lost = entry.signers.filter((s) => !now.has(s.fingerprint)).map((s) => (s.name ? `${s.fingerprint} (${s.name})` : s.fingerprint))
      throw trustError(
        `image ${image.identity}@${image.manifestDigest} is not trusted: ${still.length} of the ${entry.signers.length} signers ` +
          `${lockPath} recorded still count, ${image.threshold} needed; no longer counting: ${lost.join(', ')}. ` +
          'Review the image, then run `stagex-image lock` to accept its current signers',
        {image: `${image.identity}@${image.manifestDigest}`, distinctSigners: still.length, threshold: image.threshold, lockedSigners: entry.signers, signers: image.signers, table: image.table},
      )
    }
  }
}
