// `pull`: resolve and fetch every image of a profile into the store, and optionally export them as
// OCI layouts (one folder per package, as a profile's `source: oci:DIR` reads them) to carry into
// an airgapped room.
import {join, resolve} from 'node:path'
import {Readable} from 'node:stream'
import {usageError} from '../errors.js'
import {writeLayoutImage} from '../oci/layout-writer.js'
import {indexMediaTypes} from '../oci/media-types.js'
import {type FetchedImage, fetchStage} from './fetch.js'
import {loadStage, type PipelineOptions, resolveAndTrust} from './pipeline.js'
import {describeImage, type RecordedInput} from './record.js'

export interface PullOptions extends Omit<PipelineOptions, 'locked' | 'sourceDateEpoch'> {
  /** `oci:DIR`: also write every image as an OCI layout DIR/<package>. */
  to?: string
}

export interface PulledImage extends RecordedInput {
  /** Bytes of the manifest's config and layers. */
  size: number
  /** Set when the tag named another image the last time this store resolved it. */
  movedFrom?: string
}

export interface PullResult {
  profile: {name: string; path: string}
  store?: string
  /** "none": the profile has no trust: section and nothing was verified. */
  trust: 'none' | 'verified'
  images: PulledImage[]
  /** The folder written by --to. */
  exported?: string
}

/** load -> resolve -> trust -> fetch, then optionally the images as OCI layouts to carry elsewhere. */
export async function pull(options: PullOptions): Promise<PullResult> {
  let exportDir: string | undefined
  if (options.to !== undefined) {
    if (!options.to.startsWith('oci:') || options.to.length === 4)
      throw usageError(`--to "${options.to}": expected oci:DIR (a folder that receives one OCI layout per package)`)
    exportDir = resolve(options.to.slice(4))
  }
  const loaded = await loadStage(options)
  const fetched = await fetchStage(await resolveAndTrust(loaded, options))
  if (exportDir) await exportLayouts(exportDir, fetched.images)
  return {
    profile: {name: loaded.profile.name, path: loaded.profile.path},
    store: fetched.storeDir,
    trust: fetched.trusted.result.mode,
    images: fetched.images.map((p) => ({
      ...describeImage(p, fetched.trusted),
      size: p.image.manifest.config.size + p.layers.reduce((sum, l) => sum + l.size, 0),
      movedFrom: p.movedFrom,
    })),
    exported: exportDir,
  }
}

/** DIR/<name>: one layout per package, tagged as the profile names it ("latest" when it names none). */
async function exportLayouts(dir: string, packages: FetchedImage[]): Promise<void> {
  const byName = new Map<string, FetchedImage>()
  for (const p of packages) {
    const other = byName.get(p.request.name)
    if (other && other.request.identity !== p.request.identity)
      throw usageError(`--to: ${other.request.identity} and ${p.request.identity} would both be written to ${join(dir, p.request.name)}`)
    byName.set(p.request.name, p)
  }
  for (const p of packages) {
    const {image, top, readFrom: source} = p
    const documents = [image.manifestDescriptor, image.manifest.config]
    if (indexMediaTypes.includes(top.mediaType)) documents.unshift(top)
    await writeLayoutImage(join(dir, p.request.name), {
      top,
      tag: p.request.digest ? undefined : p.tag,
      blobs: [...documents, ...image.manifest.layers],
      async open(descriptor) {
        if (image.manifest.layers.some((l) => l.digest === descriptor.digest)) return source.openBlob(descriptor)
        return Readable.from([Buffer.from(await source.readBytes(descriptor))])
      },
    })
  }
}
