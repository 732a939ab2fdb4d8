// One shape for a layer wherever it is read from (an OCI layout, the content store, a registry):
// the stages after fetch ask a Layer for its bytes and never where it came from.
import type {Readable} from 'node:stream'
import {badInputError} from '../errors.js'
import type {Digest} from './digest.js'
import type {Descriptor} from './manifest.js'
import {type LayerCompression, layerCompression} from './media-types.js'
import type {ImageSource, ResolvedImage} from './source.js'

export interface Layer {
  digest: Digest
  /** The uncompressed digest the image config lists (its rootfs.diff_ids): flatten checks it. */
  diffId: Digest
  size: number
  mediaType: string
  compression: LayerCompression
  /** The compressed bytes, failing before their end when they do not match `digest` and `size`. */
  open(): Promise<Readable>
  /** The blob's file on this machine (store or layout): a worker thread reads it from there, checking the digest itself. */
  file: string
}

/** The layers of a resolved image, read through `source`; refuses a config whose diff_ids do not match the layers. */
export function layersOf(image: ResolvedImage, source: ImageSource, what: string): Layer[] {
  const diffIds = image.config.rootfs?.diff_ids
  const layers = image.manifest.layers
  if (!Array.isArray(diffIds) || diffIds.length !== layers.length)
    throw badInputError(
      `${what}: config ${image.configDigest} lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} rootfs.diff_ids for ${layers.length} layers`,
    )
  return layers.map((descriptor: Descriptor, i) => ({
    file: localFile(source, descriptor, what),
    digest: descriptor.digest,
    diffId: diffIds[i] as Digest,
    size: descriptor.size,
    mediaType: descriptor.mediaType,
    compression: layerCompression(descriptor.mediaType)!,
    open: () => source.openBlob(descriptor),
  }))
}

function localFile(source: ImageSource, descriptor: Descriptor, what: string): string {
  if (!source.blobFile) throw new Error(`${what}: layer ${descriptor.digest} is read from ${source.description}, not from a file here (the fetch stage stores it first)`)
  return source.blobFile(descriptor)
}
