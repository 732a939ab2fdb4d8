// The appliance artifact, decided from bytes alone: an OCI image manifest (artifactType ours), the
// build record as its config, one layer per output in the record's order, annotations that depend
// only on the record (created = SOURCE_DATE_EPOCH). The same outputs give the same manifest digest
// on every machine. Pure.
import {badInputError} from '../errors.js'
import {type Digest, isSha256Digest, sha256Of} from '../oci/digest.js'
import type {Descriptor} from '../oci/manifest.js'
import {MediaType} from '../oci/media-types.js'
import type {BuildRecord} from '../pipeline/record.js'
import {APPLIANCE_ARTIFACT_TYPE, BUILD_RECORD_MEDIA_TYPE, CREATED_ANNOTATION, outputKindOf, outputMediaType, TITLE_ANNOTATION} from './media-types.js'

export interface ApplianceLayer extends Descriptor {
  /** The output kind (build.json's outputs key) and its file name. */
  kind: string
  file: string
}

export interface ApplianceManifest {
  bytes: Buffer
  digest: Digest
  config: Descriptor
  layers: ApplianceLayer[]
}

/** SOURCE_DATE_EPOCH as RFC 3339 in UTC, seconds only. */
export const createdOf = (sourceDateEpoch: number) => new Date(sourceDateEpoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')

/** The manifest for a record (its exact bytes) and its outputs as the record lists them. */
export function applianceManifest(recordBytes: Uint8Array, record: BuildRecord): ApplianceManifest {
  const config: Descriptor = {mediaType: BUILD_RECORD_MEDIA_TYPE, digest: sha256Of(recordBytes), size: recordBytes.length}
  const layers: ApplianceLayer[] = Object.entries(record.outputs).map(([kind, o]) => ({
    kind,
    file: o.file,
    mediaType: outputMediaType(kind),
    digest: `sha256:${o.sha256.replace(/^sha256:/, '')}` as Digest,
    size: o.size,
    annotations: {[TITLE_ANNOTATION]: o.file},
  }))
  // Key order is part of the bytes: written out field by field.
  const document = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: APPLIANCE_ARTIFACT_TYPE,
    config: {mediaType: config.mediaType, digest: config.digest, size: config.size},
    layers: layers.map((l) => ({mediaType: l.mediaType, digest: l.digest, size: l.size, annotations: l.annotations})),
    annotations: {[CREATED_ANNOTATION]: createdOf(record.sourceDateEpoch), [TITLE_ANNOTATION]: record.profile.name},
  }
  const bytes = Buffer.from(JSON.stringify(document), 'utf8')
  return {bytes, digest: sha256Of(bytes), config, layers}
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** True when a manifest document is one of our appliances (artifactType ours). */
export function isApplianceManifest(bytes: Uint8Array): boolean {
  try {
    const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown
    return isObject(doc) && doc.artifactType === APPLIANCE_ARTIFACT_TYPE
  } catch {
    return false
  }
}

/** Reads an appliance manifest back, field by field; anything else is bad input (exit 4). */
export function parseApplianceManifest(bytes: Uint8Array, what: string): Omit<ApplianceManifest, 'bytes' | 'digest'> {
  let doc: unknown
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw badInputError(`${what}: the manifest is not JSON`)
  }
  if (!isObject(doc) || doc.schemaVersion !== 2 || doc.artifactType !== APPLIANCE_ARTIFACT_TYPE)
    throw badInputError(`${what}: not a stagex-image appliance (artifactType ${JSON.stringify(isObject(doc) ? doc.artifactType : undefined)}, expected ${APPLIANCE_ARTIFACT_TYPE})`)
  const descriptor = (v: unknown, where: string): Descriptor => {
    if (!isObject(v) || typeof v.mediaType !== 'string' || !isSha256Digest(v.digest) || !Number.isSafeInteger(v.size) || (v.size as number) < 0)
      throw badInputError(`${what}: ${where} is not a descriptor`)
    return {mediaType: v.mediaType, digest: v.digest, size: v.size as number, annotations: isObject(v.annotations) ? (v.annotations as Record<string, string>) : undefined}
  }
  const config = descriptor(doc.config, 'config')
  if (config.mediaType !== BUILD_RECORD_MEDIA_TYPE) throw badInputError(`${what}: config media type ${config.mediaType}, expected ${BUILD_RECORD_MEDIA_TYPE}`)
  if (!Array.isArray(doc.layers)) throw badInputError(`${what}: no layers`)
  const layers = doc.layers.map((l, i): ApplianceLayer => {
    const d = descriptor(l, `layers[${i}]`)
    const kind = outputKindOf(d.mediaType)
    const file = d.annotations?.[TITLE_ANNOTATION]
    if (!kind) throw badInputError(`${what}: layers[${i}] has media type ${d.mediaType}, not an output of ours`)
    // The title becomes a file name in the pull folder: a plain name only.
    if (typeof file !== 'string' || !/^[A-Za-z0-9._-]+$/.test(file) || file === '.' || file === '..')
      throw badInputError(`${what}: layers[${i}] has no safe ${TITLE_ANNOTATION} (${JSON.stringify(file)})`)
    return {...d, kind, file}
  })
  return {config, layers}
}
