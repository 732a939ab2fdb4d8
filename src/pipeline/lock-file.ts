// The lock file format: what every package of a profile resolved to. `lock` writes it; `build --locked`
// refuses to build when the profile and the lock disagree, or when a tag has moved since.
import {readFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {profileError, trustError, usageError} from '../errors.js'
import {type Digest, isSha256Digest} from '../oci/digest.js'
import type {PackageRequest, PackageRole} from './packages.js'

export const LOCK_VERSION = 1

export interface LockedPackage {
  role: PackageRole
  /** Short name, e.g. "core-busybox". */
  name: string
  /** As written in the profile; the lock matches the profile by this, in order. */
  spec: string
  /** Canonical repository, e.g. "docker.io/stagex/core-busybox" (a mirror does not change it). */
  repository: string
  /** The tag that was resolved; absent when the profile pins a digest. */
  tag?: string
  /** The image index the tag pointed to; absent when it pointed straight at a manifest. */
  indexDigest?: Digest
  /** The linux/amd64 manifest: the digest maintainers sign. */
  manifestDigest: Digest
  mediaType: string
  platform: string
  /** Size of the manifest in bytes (with mediaType and manifestDigest, its full descriptor). */
  size: number
  /**
   * The distinct maintainers whose signatures counted when the lock was written (absent when the
   * profile had no trust: section). `build --locked` fails when fewer than the threshold of them still count.
   */
  signers?: {fingerprint: string; name?: string}[]
}

export interface LockFile {
  lockVersion: number
  profile: string
  packages: LockedPackage[]
}

/** `profiles/minimal.yaml` -> `profiles/minimal.lock.json`. */
export function lockPathFor(profilePath: string): string {
  return join(dirname(profilePath), `${basename(profilePath).replace(/\.ya?ml$/i, '')}.lock.json`)
}

export function serializeLock(lock: LockFile): string {
  const packages = lock.packages.map((p) => ({
    role: p.role,
    name: p.name,
    spec: p.spec,
    repository: p.repository,
    ...(p.tag === undefined ? {} : {tag: p.tag}),
    ...(p.indexDigest === undefined ? {} : {indexDigest: p.indexDigest}),
    manifestDigest: p.manifestDigest,
    mediaType: p.mediaType,
    platform: p.platform,
    size: p.size,
    ...(p.signers === undefined ? {} : {signers: p.signers.map((s) => (s.name === undefined ? {fingerprint: s.fingerprint} : {fingerprint: s.fingerprint, name: s.name}))}),
  }))
  return `${JSON.stringify({lockVersion: lock.lockVersion, profile: lock.profile, packages}, null, 2)}\n`
}

/** Reads and checks a lock file field by field; a damaged lock is a usage error (exit 2). */
export async function readLock(path: string): Promise<LockFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw usageError(
      code === 'ENOENT'
        ? `${path}: no lock file; write it with \`stagex-image lock PROFILE\` before building with --locked`
        : `${path}: cannot read the lock file (${code})`,
    )
  }
  const bad = (why: string) => usageError(`${path}: not a valid lock file: ${why}; write it again with \`stagex-image lock PROFILE\``)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw bad((error as Error).message)
  }
  const lock = value as Partial<LockFile>
  if (typeof lock !== 'object' || lock === null) throw bad('not a JSON object')
  if (lock.lockVersion !== LOCK_VERSION) throw bad(`lockVersion ${JSON.stringify(lock.lockVersion)} (this tool writes ${LOCK_VERSION})`)
  if (typeof lock.profile !== 'string') throw bad('no profile name')
  if (!Array.isArray(lock.packages)) throw bad('no packages list')
  for (const [i, p] of lock.packages.entries()) {
    const at = `packages[${i}]`
    if (typeof p !== 'object' || p === null) throw bad(`${at} is not an object`)
    for (const key of ['role', 'name', 'spec', 'repository', 'mediaType', 'platform'] as const)
      if (typeof p[key] !== 'string') throw bad(`${at}.${key} is missing`)
    if (!isSha256Digest(p.manifestDigest)) throw bad(`${at}.manifestDigest is not a sha256 digest`)
    if (p.indexDigest !== undefined && !isSha256Digest(p.indexDigest)) throw bad(`${at}.indexDigest is not a sha256 digest`)
    if (p.tag !== undefined && typeof p.tag !== 'string') throw bad(`${at}.tag is not a string`)
    if (!Number.isSafeInteger(p.size) || p.size < 0) throw bad(`${at}.size is not a size`)
    if (p.signers !== undefined) {
      if (!Array.isArray(p.signers)) throw bad(`${at}.signers is not a list`)
      for (const [j, s] of p.signers.entries()) {
        if (typeof s !== 'object' || s === null || typeof s.fingerprint !== 'string' || !/^[0-9A-F]{40,64}$/.test(s.fingerprint))
          throw bad(`${at}.signers[${j}] has no upper-case hex fingerprint`)
        if (s.name !== undefined && typeof s.name !== 'string') throw bad(`${at}.signers[${j}].name is not a string`)
      }
    }
  }
  return lock as LockFile
}

/** The lock's entry for a request; the profile and the lock must list the same packages in the same order. */
export function lockedEntryFor(lock: LockFile, lockPath: string, requests: PackageRequest[], index: number): LockedPackage {
  const request = requests[index]!
  const entry = lock.packages[index]
  const relock = `run \`stagex-image lock\` to write the lock again`
  if (lock.packages.length !== requests.length)
    throw profileError(
      `${request.where}: the profile and ${lockPath} disagree: the profile names ${requests.length} images, the lock ${lock.packages.length}; ${relock}`,
    )
  if (!entry || entry.spec !== request.spec || entry.role !== request.role || entry.repository !== request.identity)
    throw profileError(
      `${request.where}: the profile and ${lockPath} disagree: the profile names "${request.spec}" here, the lock ${entry ? `"${entry.spec}" (${entry.repository})` : 'nothing'}; ${relock}`,
    )
  if (request.digest && request.digest !== entry.manifestDigest && request.digest !== entry.indexDigest)
    throw profileError(`${request.where}: the profile pins ${request.digest}, ${lockPath} pins ${entry.manifestDigest}; ${relock}`)
  return entry
}

/** The digest to fetch a locked package by: the index the tag pointed to, or the manifest. */
export const lockedTopDigest = (entry: LockedPackage): Digest => entry.indexDigest ?? entry.manifestDigest

/** A tag that no longer points where the lock says: refused, never followed. Exit 3. */
export function tagMovedError(request: PackageRequest, lockPath: string, entry: LockedPackage, now: Digest) {
  return trustError(
    `${request.where}: package "${request.name}": the tag ${entry.repository}:${entry.tag} has moved: ${lockPath} pins ${lockedTopDigest(entry)}, ` +
      `the source now says ${now}. Review the new image, then run \`stagex-image lock\` to accept it`,
    {package: request.name, repository: entry.repository, tag: entry.tag, locked: lockedTopDigest(entry), now},
  )
}
