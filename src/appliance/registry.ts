// An appliance in a registry: its reference parsed once, its manifest resolved and read back
// (digests checked by the registry client, as for packages).
import {credentialsFor} from '../oci/auth.js'
import type {Digest} from '../oci/digest.js'
import {canonicalRepository, DEFAULT_TAG, parseRegistryReference, type RegistryReference} from '../oci/reference.js'
import {openRegistry} from '../oci/registry.js'
import type {ImageSource} from '../oci/source.js'
import {type ApplianceLayer, isApplianceManifest, parseApplianceManifest} from './artifact.js'
import type {Descriptor} from '../oci/manifest.js'
import {usageError} from '../errors.js'

export interface ResolvedAppliance {
  ref: RegistryReference
  /** Canonical repository: what signatures name. */
  identity: string
  source: ImageSource
  manifestDigest: Digest
  manifestBytes: Uint8Array
  config: Descriptor
  layers: ApplianceLayer[]
}

/** A registry reference (docker:// optional); an oci: layout or other transport is refused. */
export function parseApplianceReference(text: string, where = 'REF'): RegistryReference {
  if (text.startsWith('oci:')) throw usageError(`${where} "${text}": appliances live in a registry; give REGISTRY/REPOSITORY[:TAG]`)
  return parseRegistryReference(text.replace(/^docker:\/\//, ''), where)
}

/** True when REF names an appliance (our artifactType), false for anything else the registry holds. */
export async function isAppliance(text: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const ref = parseApplianceReference(text)
  const source = openRegistry({registry: ref.registry, repository: ref.repository}, {credentials: await credentialsFor(ref.registry, env)})
  const top = await source.resolve({tag: ref.digest ? undefined : (ref.tag ?? DEFAULT_TAG), digest: ref.digest})
  return isApplianceManifest(await source.readBytes(top))
}

export async function resolveAppliance(text: string, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedAppliance> {
  const ref = parseApplianceReference(text)
  const source = openRegistry({registry: ref.registry, repository: ref.repository}, {credentials: await credentialsFor(ref.registry, env)})
  const top = await source.resolve({tag: ref.digest ? undefined : (ref.tag ?? DEFAULT_TAG), digest: ref.digest})
  const manifestBytes = await source.readBytes(top)
  const {config, layers} = parseApplianceManifest(manifestBytes, `${text} (${top.digest})`)
  return {ref, identity: canonicalRepository(ref), source, manifestDigest: top.digest, manifestBytes, config, layers}
}
