// Parsing of image indexes, manifests and configs (OCI and Docker v2s2), checked field by field.
import {badInputError} from '../errors.js'
import {type Digest, isSha256Digest} from './digest.js'
import {configMediaTypes, indexMediaTypes, layerCompression, manifestMediaTypes} from './media-types.js'

/** Indexes, manifests and configs are small; anything larger is refused before it is read. */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

export interface Platform {
  architecture: string
  os: string
  variant?: string
}

export interface Descriptor {
  mediaType: string
  digest: Digest
  size: number
  platform?: Platform
  annotations?: Record<string, string>
}

export interface ImageIndex {
  mediaType: string
  manifests: Descriptor[]
}

export interface ImageManifest {
  mediaType: string
  config: Descriptor
  layers: Descriptor[]
}

export interface ImageConfig {
  architecture?: string
  os?: string
  rootfs?: {type: string; diff_ids: string[]}
  config?: Record<string, unknown>
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (error) {
    throw badInputError(`${what}: not valid JSON (${(error as Error).message})`)
  }
  if (!isObject(value)) throw badInputError(`${what}: expected a JSON object`)
  return value
}

export function parseDescriptor(value: unknown, what: string): Descriptor {
  if (!isObject(value)) throw badInputError(`${what}: a descriptor must be an object`)
  const {mediaType, digest, size, platform, annotations} = value
  if (typeof mediaType !== 'string' || mediaType === '') throw badInputError(`${what}: descriptor has no mediaType`)
  if (!isSha256Digest(digest)) throw badInputError(`${what}: descriptor digest ${JSON.stringify(digest)} is not a sha256 digest`)
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw badInputError(`${what}: descriptor size ${JSON.stringify(size)} is not a non-negative integer`)
  const descriptor: Descriptor = {mediaType, digest, size}
  if (platform !== undefined) {
    if (!isObject(platform) || typeof platform.architecture !== 'string' || typeof platform.os !== 'string')
      throw badInputError(`${what}: descriptor platform must name architecture and os`)
    descriptor.platform = {architecture: platform.architecture, os: platform.os}
    if (typeof platform.variant === 'string') descriptor.platform.variant = platform.variant
  }
  if (isObject(annotations)) descriptor.annotations = annotations as Record<string, string>
  return descriptor
}

/** Media type of a manifest document: the declared one, or the header's when the document has none. */
export function documentMediaType(bytes: Uint8Array, headerMediaType: string | undefined, what: string): string {
  const document = parseJson(bytes, what)
  const declared = typeof document.mediaType === 'string' ? document.mediaType : undefined
  if (declared) return declared
  if (headerMediaType) return headerMediaType
  if (Array.isArray(document.manifests)) return indexMediaTypes[0]!
  if (isObject(document.config) && Array.isArray(document.layers)) return manifestMediaTypes[0]!
  throw badInputError(`${what}: cannot tell whether this is an index or a manifest`)
}

export function parseIndex(bytes: Uint8Array, what: string): ImageIndex {
  const document = parseJson(bytes, what)
  if (document.schemaVersion !== 2) throw badInputError(`${what}: schemaVersion must be 2`)
  const mediaType = typeof document.mediaType === 'string' ? document.mediaType : indexMediaTypes[0]!
  if (!indexMediaTypes.includes(mediaType)) throw badInputError(`${what}: media type ${mediaType} is not an image index`)
  if (!Array.isArray(document.manifests)) throw badInputError(`${what}: an index needs a manifests array`)
  return {mediaType, manifests: document.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`))}
}

export function parseManifest(bytes: Uint8Array, what: string): ImageManifest {
  const document = parseJson(bytes, what)
  if (document.schemaVersion !== 2) throw badInputError(`${what}: schemaVersion must be 2`)
  const mediaType = typeof document.mediaType === 'string' ? document.mediaType : manifestMediaTypes[0]!
  if (!manifestMediaTypes.includes(mediaType)) throw badInputError(`${what}: media type ${mediaType} is not an image manifest`)
  if (!Array.isArray(document.layers)) throw badInputError(`${what}: a manifest needs a layers array`)
  const config = parseDescriptor(document.config, `${what} config`)
  if (!configMediaTypes.includes(config.mediaType))
    throw badInputError(`${what} config: media type ${config.mediaType} is not an image config (${configMediaTypes.join(' or ')})`)
  const layers = document.layers.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`))
  for (const [i, layer] of layers.entries())
    if (layerCompression(layer.mediaType) === null)
      throw badInputError(`${what} layers[${i}]: layer media type ${layer.mediaType} is not supported (gzip or uncompressed tar)`)
  return {mediaType, config, layers}
}

export function parseConfig(bytes: Uint8Array, what: string): ImageConfig {
  const document = parseJson(bytes, what)
  return document as ImageConfig
}

export const AMD64: Platform = {architecture: 'amd64', os: 'linux'}

export function matchesPlatform(descriptor: Descriptor, platform: Platform): boolean {
  return descriptor.platform?.architecture === platform.architecture && descriptor.platform?.os === platform.os
}
