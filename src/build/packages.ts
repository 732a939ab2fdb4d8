// Which image each profile package names, and the source it is read from.
import {join} from 'node:path'
import {profileError, usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {openLayout} from '../oci/layout.js'
import {type ImageReference, canonicalRepository, parseImageReference, parseRegistryReference} from '../oci/reference.js'
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
  requests.push(request(profile, 'kernel', profile.kernel.package, ['kernel', 'package']))
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

/** The source of one package: the profile's `source:` folder (one OCI layout per package), or an oci: reference. */
export function sourceFor(profile: Profile, req: PackageRequest): {source: ImageSource; tag?: string; digest?: Digest} {
  if (req.spec.startsWith('oci:')) {
    const ref = parseImageReference(req.spec, req.where)
    if (ref.transport !== 'oci') throw usageError(`${req.where}: not an OCI layout reference`)
    return {source: openLayout(join(profile.dir, ref.path)), tag: ref.tag, digest: ref.digest}
  }
  if (profile.source) {
    return {source: openLayout(join(profile.source, req.name)), tag: req.digest ? undefined : (req.tag ?? 'latest'), digest: req.digest}
  }
  throw usageError(
    `${req.where}: ${req.spec} would come from the registry ${req.identity}, and registry pulls are not available in this version; ` +
      'point the profile at OCI layouts with `source: oci:DIR`',
  )
}
