// Flatten: the layers of each image, in order, into one tree. Every layer's compressed digest is
// checked by the source while streaming, and its uncompressed digest against the config's diff_ids.
import {createHash} from 'node:crypto'
import {Transform, type Readable} from 'node:stream'
import {createGunzip} from 'node:zlib'
import {badInputError} from '../errors.js'
import {layerCompression} from '../oci/media-types.js'
import type {ImageSource, ResolvedImage} from '../oci/source.js'
import type {Spool} from '../store/spool.js'
import {applyLayer, type LayerReport} from './layer.js'
import type {Tree} from './tree.js'

export interface ImageToFlatten {
  /** For messages, e.g. "core-busybox". */
  name: string
  source: ImageSource
  image: ResolvedImage
}

export interface FlattenReport {
  layers: {image: string; digest: string; diffId: string; report: LayerReport}[]
}

export async function flattenInto(tree: Tree, images: ImageToFlatten[], spool: Spool): Promise<FlattenReport> {
  const report: FlattenReport = {layers: []}
  for (const {name, source, image} of images) {
    const diffIds = image.config.rootfs?.diff_ids ?? []
    for (const [i, layer] of image.manifest.layers.entries()) {
      const what = `${name} layer ${layer.digest}`
      const compression = layerCompression(layer.mediaType)
      const blob = await source.openBlob(layer)
      const diffHash = createHash('sha256')
      const hasher = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          diffHash.update(chunk)
          callback(null, chunk)
        },
      })
      let tar: Readable = blob
      if (compression === 'gzip') {
        const gunzip = createGunzip()
        blob.on('error', (error) => gunzip.destroy(error))
        gunzip.on('error', (error) => hasher.destroy(isCoded(error) ? error : badInputError(`${what}: corrupt gzip (${error.message})`)))
        tar = blob.pipe(gunzip)
      } else {
        blob.on('error', (error) => hasher.destroy(error))
      }
      const layerReport = await applyLayer(tree, tar.pipe(hasher), {what, spool})
      const diffId = `sha256:${diffHash.digest('hex')}`
      const expected = diffIds[i]
      if (expected !== undefined && expected !== diffId)
        throw badInputError(`${what}: uncompressed content hashes to ${diffId}, the image config says ${expected}`)
      report.layers.push({image: name, digest: layer.digest, diffId, report: layerReport})
    }
  }
  return report
}

const isCoded = (error: unknown) => typeof (error as {exitCode?: unknown}).exitCode === 'number'
