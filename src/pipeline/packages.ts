// Which image each profile package names, and the source it is read from.
import {join, resolve} from 'node:path'
import {profileError, usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {openLayout} from '../oci/layout.js'
import {type ImageReference, canonicalRepository, DEFAULT_TAG, parseImageReference, parseRegistryReference} from '../oci/reference.js'
import type {RegistryLocation} from '../oci/registry.js'
import type {ImageSource} from '../oci/source.js'
import type {Profile} from '../profile/types.js'

export type PackageRole = 'package' | 'kernel' | 'boot'

export interface PackageRequest {
  role: PackageRole
  /** As written in the profile, e.g. "core-busybox@sha256:...". */
  spec: string
  /** Short name, e.g. "core-busybox". */
  name: string
  /** Canonical identity, e.g. "docker.io/stagex/core-busybox" (what signatures name). */
  identity: string
  tag?: string
  digest?: Digest
  /** Profile position, for messages. */
  where: string
  fieldPath: (string | number)[]
}

/** Every image a profile needs, in order: packages, then the kernel, then boot packages. */
export function packageRequests(profile: Profile): PackageRequest[] {
  const requests: PackageRequest[] = profile.packages.map((spec, i) => request(profile, 'package', spec, ['packages', i]))
  if (profile.kernel) requests.push(request(profile, 'kernel', profile.kernel.package, ['kernel', 'package']))
  profile.boot.packages.forEach((spec, i) => requests.push(request(profile, 'boot', spec, ['boot', 'packages', i])))
  if (profile.boot.stub) requests.push(request(profile, 'boot', profile.boot.stub, ['boot', 'stub']))
  return requests
}

function request(profile: Profile, role: PackageRole, spec: string, fieldPath: (string | number)[]): PackageRequest {
  const where = profile.locate(fieldPath)
  let reference: ImageReference
  try {
    // A short name ("core-busybox", "core-busybox:tag", "core-busybox@sha256:...") lives in the profile's registry.
    reference = spec.includes('/') || spec.startsWith('oci:') ? parseImageReference(spec, where) : parseRegistryReference(`${profile.registry}/${spec}`, where)
  } catch (error) {
    throw profileError(`${where}: ${(error as Error).message.replace(`${where}: `, '')}`)
  }
  if (reference.transport === 'oci') {
    const name = reference.path.split('/').filter(Boolean).at(-1) ?? reference.path
    return {role, spec, name, identity: `oci:${name}`, tag: reference.tag, digest: reference.digest, where, fieldPath}
  }
  const name = reference.repository.split('/').at(-1)!
  return {role, spec, name, identity: canonicalRepository(reference), tag: reference.tag, digest: reference.digest, where, fieldPath}
}

/** Where one package's bytes come from: an OCI layout on disk, or a registry (through the store). */
export type PackageOrigin =
  | {kind: 'layout'; source: ImageSource; tag?: string; digest?: Digest}
  | {kind: 'registry'; identity: string; location: RegistryLocation; tag?: string; digest?: Digest}

export interface OriginOptions {
  /** `oci:DIR` (a folder of OCI layouts, one per package): overrides the profile's `source:`. */
  source?: string
  /** `HOST[/PREFIX]` to pull the profile's registry from: overrides the profile's `mirror:`. */
  mirror?: string
}

/**
 * The origin of one package: an oci: reference, the `source:` folder (one OCI layout per package),
 * or the registry its identity names (or the mirror standing in for the profile's registry).
 */
export function sourceFor(profile: Profile, req: PackageRequest, options: OriginOptions = {}): PackageOrigin {
  if (req.spec.startsWith('oci:')) {
    const ref = parseImageReference(req.spec, req.where)
    if (ref.transport !== 'oci') throw usageError(`${req.where}: not an OCI layout reference`)
    // Relative to the profile's folder; an absolute path stays as it is (as source: does).
    return {kind: 'layout', source: openLayout(resolve(profile.dir, ref.path)), tag: ref.tag, digest: ref.digest}
  }
  const folder = options.source !== undefined ? layoutFolder(options.source) : profile.source
  if (folder) {
    return {kind: 'layout', source: openLayout(join(folder, req.name)), tag: req.digest ? undefined : (req.tag ?? DEFAULT_TAG), digest: req.digest}
  }
  return {
    kind: 'registry',
    identity: req.identity,
    location: pullLocation(profile, req.identity, options.mirror ?? profile.mirror),
    tag: req.digest ? undefined : (req.tag ?? DEFAULT_TAG),
    digest: req.digest,
  }
}

function layoutFolder(text: string): string {
  if (!text.startsWith('oci:') || text.length === 4) throw usageError(`--source "${text}": expected oci:DIR, a folder of OCI layouts (one per package)`)
  return resolve(text.slice(4))
}

/**
 * Where to pull an identity from. A mirror stands in for the profile's registry only: with
 * `registry: docker.io/stagex` and `mirror: 127.0.0.1:5000/stagex`, docker.io/stagex/core-busybox
 * is pulled from 127.0.0.1:5000/stagex/core-busybox and keeps its identity.
 */
export function pullLocation(profile: Profile, identity: string, mirror: string | undefined): RegistryLocation {
  const canonical = parseRegistryReference(identity)
  if (!mirror) return {registry: canonical.registry, repository: canonical.repository}
  const probe = parseRegistryReference(`${profile.registry}/x`, `registry "${profile.registry}"`)
  const prefix = canonicalRepository(probe).slice(0, -2)
  if (!identity.startsWith(`${prefix}/`)) return {registry: canonical.registry, repository: canonical.repository}
  const rest = identity.slice(prefix.length + 1)
  let mirrored
  try {
    mirrored = parseRegistryReference(`${mirror.replace(/^docker:\/\//, '').replace(/\/+$/, '')}/${rest}`, 'mirror')
  } catch (error) {
    throw usageError(`mirror "${mirror}": not a registry location such as 127.0.0.1:5000/stagex (${(error as Error).message})`)
  }
  if (mirrored.tag || mirrored.digest) throw usageError(`mirror "${mirror}": a mirror names a registry and a path, without tag or digest`)
  return {registry: mirrored.registry, repository: mirrored.repository}
}
