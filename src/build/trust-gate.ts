// The trust stage's place in resolve/fetch: once every image is resolved to its manifest digest and
// before any layer is downloaded or applied (FetchOptions.beforeLayers), every image must pass the
// profile's trust settings. build, pull and lock use it alike.
import type {Digest} from '../oci/digest.js'
import type {Profile} from '../profile/types.js'
import {type ImageTrust, trustStage, type TrustStageResult, UNVERIFIED_WARNING} from '../trust/stage.js'
import type {TrustedSigner} from '../trust/threshold.js'
import type {FetchedPackage} from './fetch.js'

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
        .map((p) => ({name: p.request.name, identity: p.request.identity, manifestDigest: p.image.manifestDigest}))
        .filter((image) => !seen.has(key(image.identity, image.manifestDigest)) && seen.add(key(image.identity, image.manifestDigest)))
      result = await trustStage(profile, images, {
        onImage: (image) =>
          progress(
            `trust: ${image.name}: ${image.signers.length} distinct signers (${image.threshold} needed): ` +
              image.signers.map((s) => s.name ?? s.fingerprint).join(', '),
          ),
      })
      if (result.mode === 'verified') for (const image of result.images) byImage.set(key(image.identity, image.manifestDigest), image)
    },
    result() {
      if (!result) throw new Error('the trust stage has not run')
      return result
    },
    signersOf: (identity, manifestDigest) => byImage.get(key(identity, manifestDigest))?.signers ?? [],
  }
}
