// One shape for every place images come from (OCI layout, registry, store), as go-containerregistry
// does: the pipeline asks for descriptors and verified bytes, never where they came from.
import type {Readable} from 'node:stream'
import {badInputError} from '../errors.js'
import {type Digest} from './digest.js'
import {
  AMD64,
  type Descriptor,
  type ImageManifest,
  type ImageConfig,
  type Platform,
  documentMediaType,
  matchesPlatform,
  parseConfig,
  parseIndex,
  parseManifest,
} from './manifest.js'
import {indexMediaTypes, manifestMediaTypes} from './media-types.js'

export interface ImageSource {
  /** For messages: where the images come from. */
  readonly description: string
  /** Resolves a tag (or a digest) to the descriptor of the top-level index or manifest. */
  resolve(target: {tag?: string; digest?: Digest}): Promise<Descriptor>
  /** Small documents (indexes, manifests, configs), already checked against the descriptor. */
  readBytes(descriptor: Descriptor): Promise<Uint8Array>
  /** A blob's bytes as a stream that fails when the bytes do not match the descriptor. */
  openBlob(descriptor: Descriptor): Promise<Readable>
  /** The file holding a blob, for sources on this machine (a layout, the store); undefined for a registry. */
  blobFile?(descriptor: Descriptor): string
}

/** An image resolved to the platform manifest, the digest maintainers sign. */
export interface ResolvedImage {
  /** Digest the tag pointed to (an index, or the manifest itself). */
  topDigest: Digest
  indexDigest?: Digest
  manifestDigest: Digest
  manifestDescriptor: Descriptor
  manifest: ImageManifest
  config: ImageConfig
  configDigest: Digest
}

const MAX_INDEX_DEPTH = 4

/** Walks (possibly nested) indexes down to the manifest for the platform, then reads its config. */
export async function resolveImage(
  source: ImageSource,
  target: {tag?: string; digest?: Digest},
  what: string,
  platform: Platform = AMD64,
): Promise<ResolvedImage> {
  const top = await source.resolve(target)
  let descriptor = top
  let indexDigest: Digest | undefined
  for (let depth = 0; ; depth++) {
    const bytes = await source.readBytes(descriptor)
    const mediaType = documentMediaType(bytes, descriptor.mediaType, `${what} ${descriptor.digest}`)
    if (manifestMediaTypes.includes(mediaType)) {
      const manifest = parseManifest(bytes, `${what} manifest ${descriptor.digest}`)
      const configBytes = await source.readBytes(manifest.config)
      const config = parseConfig(configBytes, `${what} config ${manifest.config.digest}`)
      if (config.architecture && config.os && (config.architecture !== platform.architecture || config.os !== platform.os))
        throw badInputError(
          `${what}: image ${descriptor.digest} is ${config.os}/${config.architecture}, not ${platform.os}/${platform.architecture}`,
        )
      return {
        topDigest: top.digest,
        indexDigest,
        manifestDigest: descriptor.digest,
        manifestDescriptor: {...descriptor, mediaType},
        manifest,
        config,
        configDigest: manifest.config.digest,
      }
    }
    if (!indexMediaTypes.includes(mediaType)) throw badInputError(`${what}: ${descriptor.digest} has unsupported media type ${mediaType}`)
    if (depth >= MAX_INDEX_DEPTH) throw badInputError(`${what}: indexes nested more than ${MAX_INDEX_DEPTH} deep`)
    const index = parseIndex(bytes, `${what} index ${descriptor.digest}`)
    indexDigest ??= descriptor.digest
    const forPlatform = index.manifests.filter((m) => matchesPlatform(m, platform))
    const nested = index.manifests.filter((m) => !m.platform && indexMediaTypes.includes(m.mediaType))
    const next = forPlatform[0] ?? (nested.length === 1 ? nested[0] : undefined)
    if (!next) {
      const listed = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : m.mediaType)).join(', ')
      throw badInputError(`${what}: index ${descriptor.digest} has no ${platform.os}/${platform.architecture} manifest (it lists: ${listed || 'nothing'})`)
    }
    descriptor = next
  }
}
