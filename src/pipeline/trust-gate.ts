// The trust stage's place in resolve/fetch: once every image is resolved to its manifest digest and
// before any layer is downloaded or applied (FetchOptions.beforeLayers), every image must pass the
// profile's trust settings. build, pull and lock use it alike.
import {profileError, trustError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import type {Profile} from '../profile/types.js'
import {type ImageTrust, trustStage, type TrustStageResult, UNVERIFIED_WARNING} from '../trust/stage.js'
import type {TrustedSigner} from '../trust/threshold.js'
import type {FetchedPackage} from './fetch.js'
import {lockPathFor, readLock} from './lock-file.js'

export interface TrustGate {
  /** Pass as FetchOptions.beforeLayers. */
  beforeLayers: (packages: readonly FetchedPackage[]) => Promise<void>
  /** What the stage found; {mode: 'none'} for a profile without trust:. */
  result(): TrustStageResult
  /** The counted signers of an image that passed; [] when the profile has no trust:. */
  signersOf(identity: string, manifestDigest: Digest): TrustedSigner[]
}

export interface TrustGateOptions {
  /** Progress lines ("trust: core-busybox: 2 of 3 needed ..."). */
  progress?: (message: string) => void
  /** The unverified-build warning; default: stderr. */
  warn?: (message: string) => void
  /**
   * A --locked build: the signers `<profile>.lock.json` recorded for each image must still count,
   * at least `threshold` of them (a maintainer who signed since the lock does not replace one whose
   * signature no longer counts: run `lock` again to accept the new set).
   */
  locked?: boolean
}

export function trustGate(profile: Profile, options: TrustGateOptions = {}): TrustGate {
  const progress = options.progress ?? (() => {})
  const warn = options.warn ?? ((message: string) => process.stderr.write(`${message}\n`))
  let result: TrustStageResult | undefined
  const key = (identity: string, digest: string) => `${identity}@${digest}`
  const byImage = new Map<string, ImageTrust>()
  return {
    async beforeLayers(packages) {
      if (!profile.trust) {
        warn(UNVERIFIED_WARNING)
        result = {mode: 'none'}
        return
      }
      progress(`trust: ${packages.length} images, ${profile.trust.threshold} distinct maintainer signatures each`)
      // One image may appear twice (a package and the kernel): verify it once.
      const seen = new Set<string>()
      const images = packages
        .map((p) => ({name: p.request.name, identity: p.request.identity, manifestDigest: p.image.manifestDigest, indexDigest: p.image.indexDigest}))
        .filter((image) => !seen.has(key(image.identity, image.manifestDigest)) && seen.add(key(image.identity, image.manifestDigest)))
      result = await trustStage(profile, images, {
        onImage: (image) =>
          progress(
            `trust: ${image.name}: ${image.signers.length} distinct signers (${image.threshold} needed): ` +
              image.signers.map((s) => s.name ?? s.fingerprint).join(', '),
          ),
      })
      if (result.mode === 'verified') for (const image of result.images) byImage.set(key(image.identity, image.manifestDigest), image)
      if (options.locked && result.mode === 'verified') await checkLockedSigners(profile, result.images)
    },
    result() {
      if (!result) throw new Error('the trust stage has not run')
      return result
    },
    signersOf: (identity, manifestDigest) => byImage.get(key(identity, manifestDigest))?.signers ?? [],
  }
}

/** --locked: each image's signers recorded in the lock must still meet the threshold. */
async function checkLockedSigners(profile: Profile, images: readonly ImageTrust[]): Promise<void> {
  const lockPath = lockPathFor(profile.path)
  const lock = await readLock(lockPath)
  for (const image of images) {
    const entry = lock.packages.find((p) => p.repository === image.identity && p.manifestDigest === image.manifestDigest)
    if (!entry) continue // fetch already refused an image the lock does not pin
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
