// `lock`: resolve every package of a profile (indexes, manifests and configs only) and write
// `<profile>.lock.json` next to the profile, atomically.
import {writeFileAtomically} from '../store/atomic.js'
import {fetchStage} from './fetch.js'
import {LOCK_VERSION, type LockFile, lockPathFor, serializeLock} from './lock-file.js'
import {loadStage, type PipelineOptions, resolveAndTrust} from './pipeline.js'

export type LockOptions = Omit<PipelineOptions, 'locked' | 'sourceDateEpoch'>

export interface LockResult {
  lockPath: string
  lock: LockFile
  store?: string
}

/** load -> resolve -> trust (the lock records who signed each image), then the tag records; no layer is fetched. */
export async function lockProfile(options: LockOptions): Promise<LockResult> {
  const {profile} = await loadStage(options)
  const trusted = await resolveAndTrust({profile, sourceDateEpoch: 1}, options)
  const fetched = await fetchStage(trusted, {documentsOnly: true})
  const verified = trusted.result.mode === 'verified'
  const lock: LockFile = {
    lockVersion: LOCK_VERSION,
    profile: profile.name,
    packages: fetched.images.map((p) => ({
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
      signers: verified ? trusted.signersOf(p.request.identity, p.image.manifestDigest) : undefined,
    })),
  }
  const lockPath = lockPathFor(profile.path)
  await writeFileAtomically(lockPath, Buffer.from(serializeLock(lock), 'utf8'))
  return {lockPath, lock, store: fetched.storeDir}
}
