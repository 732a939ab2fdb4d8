// Flatten: the layers of each image, in order, into one tree. Every layer's compressed digest is
// checked while it is read, and its uncompressed digest against the config's diff_ids.
// Layers are read on worker threads (both cores): while one layer is applied to the tree on the main
// thread, the next ones are decompressed, hashed and parsed into the spool. The order in which they
// are applied is always the layer order, so reading ahead never changes the tree.
import {createReadStream} from 'node:fs'
import {createGunzip} from 'node:zlib'
import {badInputError} from '../errors.js'
import {type Digest, sizeCheckingStream} from '../oci/digest.js'
import type {Layer} from '../oci/layer.js'
import type {LayerCompression} from '../oci/media-types.js'
import {openSpoolFile, type Spool} from '../store/spool.js'
import {WorkerPool, workerUrl} from '../threads.js'
import {applyLayer, type LayerReport, readLayer, type ReadLayer} from './layer.js'
import type {Origin, Tree} from './tree.js'

export interface ImageToFlatten {
  /** For messages, e.g. "core-busybox". */
  name: string
  layers: readonly Layer[]
}

export interface FlattenReport {
  layers: {image: string; digest: string; diffId: string; report: LayerReport}[]
}

/** One layer for a worker to read: everything it needs is a path or a plain value. */
export interface LayerJob {
  what: string
  file: string
  digest: Digest
  size: number
  diffId: Digest
  compression: LayerCompression
  spoolPath: string
}

/** Layers read ahead of the one being applied. */
const READ_AHEAD = 1
/**
 * Layer-reading threads. One: it reads the next layer while this thread applies the current one, so
 * both cores work. A second reader lets two layers decompress at once: on the benchmark's image
 * `rootfs` took 6.6-7.2 s with two and 6.7-7.9 s with one, for 45 MB more peak RSS (a V8 heap and a
 * layer's buffers: 225-243 MB against 179-191 MB). The memory bound decides.
 */
const LAYER_THREADS = 1
/** zlib's output chunk: large, so each chunk's hashing, spooling and parsing is amortized. */
const INFLATE_CHUNK = 1024 * 1024
const READ_CHUNK = 1024 * 1024

let spoolFiles = 0

export type LayerPool = WorkerPool<LayerJob, ReadLayer>

/**
 * Layer readers that several flattenInto calls can share, so that starting the worker threads is paid
 * once (a test that flattens hundreds of small images; the caller closes it).
 */
export function openLayerPool(threads = LAYER_THREADS): LayerPool {
  return new WorkerPool<LayerJob, ReadLayer>(workerUrl(import.meta.url, 'layer-worker'), 'flatten', threads)
}

export async function flattenInto(tree: Tree, images: readonly ImageToFlatten[], spool: Spool, options: {pool?: LayerPool} = {}): Promise<FlattenReport> {
  const report: FlattenReport = {layers: []}
  const all = images.flatMap((image) => image.layers.map((layer) => ({image: image.name, layer})))
  if (all.length === 0) return report
  const pool = options.pool ?? openLayerPool()
  const reads: Promise<ReadLayer>[] = []
  const start = (i: number) => {
    if (i >= all.length || reads[i] !== undefined) return
    const {image, layer} = all[i]!
    const job: LayerJob = {
      what: `${image} layer ${layer.digest}`,
      file: layer.file,
      digest: layer.digest,
      size: layer.size,
      diffId: layer.diffId,
      compression: layer.compression,
      spoolPath: spool.path(`layer-${++spoolFiles}-${layer.digest.slice(7, 19)}.tar`),
    }
    reads[i] = pool.run(job)
    // A read that fails while an earlier layer is applied is reported when its turn comes.
    reads[i]!.catch(() => {})
  }
  try {
    for (let i = 0; i < all.length; i++) {
      for (let ahead = i; ahead <= i + READ_AHEAD; ahead++) start(ahead)
      const read = await reads[i]!
      const {image, layer} = all[i]!
      // One origin per applied layer, shared by every inode it puts in the tree.
      const origin: Origin = {package: image, layer: layer.digest}
      report.layers.push({image, digest: layer.digest, diffId: read.diffId, report: applyLayer(tree, read, origin)})
    }
  } finally {
    // Reads still running end (or fail) before the caller may remove the spool.
    await Promise.allSettled(reads)
    if (!options.pool) await pool.close()
  }
  return report
}

/**
 * What a layer worker does with one job: read the blob file, parse it into the spool, and check its
 * uncompressed digest against the config's diff_id. The compressed digest is not hashed again here:
 * the blob was checked when it entered the store (or is checked by `pull`), and what is applied is
 * fixed by the diff_id, which the signed manifest's config names. Only the size is checked.
 */
export async function readLayerJob(job: LayerJob): Promise<ReadLayer> {
  const {what} = job
  const file = createReadStream(job.file, {highWaterMark: READ_CHUNK})
  const blob = file.pipe(sizeCheckingStream(job.size, what))
  file.on('error', (error) => blob.destroy(error))
  let tar: AsyncIterable<Uint8Array> = blob
  if (job.compression === 'gzip') {
    const gunzip = createGunzip({chunkSize: INFLATE_CHUNK})
    blob.on('error', (error) => gunzip.destroy(error))
    gunzip.on('error', () => {})
    tar = blob.pipe(gunzip)
  }
  let read: ReadLayer
  try {
    read = await readLayer(tar, openSpoolFile(job.spoolPath), what)
  } catch (error) {
    blob.destroy()
    if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) throw badInputError(`${what}: corrupt gzip (${(error as Error).message})`)
    throw error
  }
  if (read.diffId !== job.diffId) throw badInputError(`${what}: uncompressed content hashes to ${read.diffId}, the image config says ${job.diffId}`)
  return read
}
