// `pull`: resolve and fetch every image of a profile into the store, and optionally export them as
// OCI layouts (one folder per package, as a profile's `source: oci:DIR` reads them) to carry into
// an airgapped room.
import {join, resolve} from 'node:path'
import {Readable} from 'node:stream'
import {usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {writeLayoutImage} from '../oci/layout-writer.js'
import {indexMediaTypes} from '../oci/media-types.js'
import {loadProfile} from '../profile/load.js'
import type {TrustedSigner} from '../trust/threshold.js'
import {type FetchedPackage, type FetchOptions, fetchPackages} from './fetch.js'
import {trustGate} from './trust-gate.js'

export interface PullOptions extends Omit<FetchOptions, 'documentsOnly' | 'beforeLayers'> {
  profilePath: string
  /** Trust progress lines and the unverified-pull warning (default: stderr). */
  progress?: (message: string) => void
  warn?: (message: string) => void
  /** `oci:DIR`: also write every image as an OCI layout DIR/<package>. */
  to?: string
}

export interface PulledImage {
  role: string
  name: string
  identity: string
  tag?: string
  indexDigest?: Digest
  manifestDigest: Digest
  /** Bytes of the manifest's config and layers. */
  size: number
  /** Set when the tag named another image the last time this store resolved it. */
  movedFrom?: Digest
  /** The distinct maintainers whose signatures counted (empty when the profile has no trust:). */
  signers: TrustedSigner[]
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

export function pulledImage(p: FetchedPackage, signers: TrustedSigner[] = []): PulledImage {
  const {manifest} = p.image
  return {
    role: p.request.role,
    name: p.request.name,
    identity: p.request.identity,
    tag: p.tag,
    indexDigest: p.image.indexDigest,
    manifestDigest: p.image.manifestDigest,
    size: manifest.config.size + manifest.layers.reduce((sum, l) => sum + l.size, 0),
    movedFrom: p.movedFrom,
    signers,
  }
}

export async function pull(options: PullOptions): Promise<PullResult> {
  const profile = await loadProfile(options.profilePath)
  let exportDir: string | undefined
  if (options.to !== undefined) {
    if (!options.to.startsWith('oci:') || options.to.length === 4)
      throw usageError(`--to "${options.to}": expected oci:DIR (a folder that receives one OCI layout per package)`)
    exportDir = resolve(options.to.slice(4))
  }
  // Trust runs once every image is resolved, before any layer is downloaded.
  const trust = trustGate(profile, {progress: options.progress, warn: options.warn})
  const {packages, storeDir} = await fetchPackages(profile, {...options, beforeLayers: trust.beforeLayers})
  if (exportDir) await exportLayouts(exportDir, packages)
  return {
    profile: {name: profile.name, path: profile.path},
    store: storeDir,
    trust: trust.result().mode,
    images: packages.map((p) => pulledImage(p, trust.signersOf(p.request.identity, p.image.manifestDigest))),
    exported: exportDir,
  }
}

/** DIR/<name>: one layout per package, tagged as the profile names it ("latest" when it names none). */
async function exportLayouts(dir: string, packages: FetchedPackage[]): Promise<void> {
  const byName = new Map<string, FetchedPackage>()
  for (const p of packages) {
    const other = byName.get(p.request.name)
    if (other && other.request.identity !== p.request.identity)
      throw usageError(`--to: ${other.request.identity} and ${p.request.identity} would both be written to ${join(dir, p.request.name)}`)
    byName.set(p.request.name, p)
  }
  for (const p of packages) {
    const {image, top, source} = p
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
