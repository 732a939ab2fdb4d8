// `lock`: resolve every package of a profile (indexes, manifests and configs only) and write
// `<profile>.lock.json` next to the profile, atomically.
import {loadProfile} from '../profile/load.js'
import {writeFileAtomically} from '../store/atomic.js'
import {type FetchOptions, fetchPackages} from './fetch.js'
import {LOCK_VERSION, type LockFile, lockPathFor, serializeLock} from './lock-file.js'
import {trustGate} from './trust-gate.js'

export interface LockOptions extends Omit<FetchOptions, 'documentsOnly' | 'locked' | 'beforeLayers'> {
  profilePath: string
  /** Trust progress lines and the unverified warning (default: stderr). */
  progress?: (message: string) => void
  warn?: (message: string) => void
}

export interface LockResult {
  lockPath: string
  lock: LockFile
  store?: string
}

export async function lockProfile(options: LockOptions): Promise<LockResult> {
  const profile = await loadProfile(options.profilePath)
  // The lock records who signed each image: the trust stage runs as for a build.
  const trust = trustGate(profile, {progress: options.progress, warn: options.warn})
  const {packages, storeDir} = await fetchPackages(profile, {...options, documentsOnly: true, beforeLayers: trust.beforeLayers})
  const verified = trust.result().mode === 'verified'
  const lock: LockFile = {
    lockVersion: LOCK_VERSION,
    profile: profile.name,
    packages: packages.map((p) => ({
      role: p.request.role,
      name: p.request.name,
      spec: p.request.spec,
      repository: p.request.identity,
      tag: p.request.digest ? undefined : p.tag,
      indexDigest: p.image.indexDigest,
      manifestDigest: p.image.manifestDigest,
      mediaType: p.image.manifestDescriptor.mediaType,
      platform: `${p.image.config.os ?? 'linux'}/${p.image.config.architecture ?? 'amd64'}`,
      size: p.image.manifestDescriptor.size,
      signers: verified ? trust.signersOf(p.request.identity, p.image.manifestDigest) : undefined,
    })),
  }
  const lockPath = lockPathFor(profile.path)
  await writeFileAtomically(lockPath, Buffer.from(serializeLock(lock), 'utf8'))
  return {lockPath, lock, store: storeDir}
}
