// The fetch stage: after trust, every layer of every image that a registry serves is downloaded into
// the content store (its digest checked while streaming; nothing enters the store unchecked). The
// result gives each image as Layers read from the store or its layout alike, so the stages after
// this one never ask where an image came from.
import {createHash} from 'node:crypto'
import {isStagexError, unreachableError, usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {type Layer, layersOf} from '../oci/layer.js'
import type {Descriptor} from '../oci/manifest.js'
import {backoffDelay, DEFAULT_RETRY, describeNetworkError} from '../oci/registry.js'
import type {ImageSource} from '../oci/source.js'
import type {PackageOrigin, PackageRequest} from './packages.js'
import {type ResolvedPackage, withProfilePosition} from './resolve.js'
import {runLimited} from './run-limited.js'
import type {Trusted} from './trust.js'
import {alteredBlobError, type StoredBlob} from '../store/stored-blob.js'

export interface FetchedImage extends ResolvedPackage {
  layers: Layer[]
}

export interface Fetched {
  trusted: Trusted
  images: FetchedImage[]
  /** The store used, when any image came from a registry. */
  storeDir?: string
  /** sha256 of every image's layer digests, in order. */
  sha256: string
}

const DEFAULT_JOBS = 4
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Downloads what the store lacks; `documentsOnly` (lock) records tags but fetches no layer. */
export async function fetchStage(trusted: Trusted, options: {documentsOnly?: boolean} = {}): Promise<Fetched> {
  const {resolved} = trusted
  const {access} = resolved
  const {store} = access
  const emit = access.options.onEvent ?? (() => {})
  const retry = access.options.retry ?? DEFAULT_RETRY
  const jobs = access.options.jobs ?? DEFAULT_JOBS
  const packages = resolved.packages

  if (!options.documentsOnly) await fetchLayers()

  // The store remembers what each tag named, so an offline build and a later moved tag both know.
  // One write per tag record, all at once (the last package naming a tag wins, as in profile order).
  if (store && !access.options.offline) {
    const records = new Map<string, ResolvedPackage>()
    for (const p of packages) if (p.origin.kind === 'registry' && p.tag) records.set(`${p.request.identity}:${p.tag}`, p)
    await Promise.all([...records.values()].map((p) => store.writeTag(p.request.identity, p.tag!, p.top)))
  }

  const images = packages.map((p) => {
    try {
      return {...p, layers: layersOf(p.image, p.readFrom, p.request.name)}
    } catch (error) {
      throw withProfilePosition(error, p.request)
    }
  })
  const hash = createHash('sha256')
  for (const image of images) hash.update(`${image.request.identity}@${image.image.manifestDigest} ${image.layers.map((l) => l.digest).join(',')}\n`)
  return {trusted, images, storeDir: store?.dir, sha256: hash.digest('hex')}

  async function fetchLayers(): Promise<void> {
    interface Pending {
      descriptor: Descriptor
      request: PackageRequest
      origin: Extract<PackageOrigin, {kind: 'registry'}>
    }
    const pending = new Map<Digest, Pending>()
    const waiting = new Map<ResolvedPackage, Set<Digest>>()
    const stored = await inspectStoredLayers()
    for (const p of packages) {
      const origin = p.origin
      if (origin.kind !== 'registry') continue
      const missing = new Set<Digest>()
      for (const layer of p.image.manifest.layers) {
        if (pending.has(layer.digest)) missing.add(layer.digest)
        else if (needsDownload(layer.digest, stored.get(layer.digest)!, p.request)) {
          pending.set(layer.digest, {descriptor: layer, request: p.request, origin})
          missing.add(layer.digest)
        }
      }
      let bytesToFetch = 0
      for (const digest of missing) bytesToFetch += pending.get(digest)!.descriptor.size
      emit({type: 'resolved', name: p.request.name, identity: p.request.identity, manifestDigest: p.image.manifestDigest, bytesToFetch})
      if (missing.size === 0) emit({type: 'image-fetched', name: p.request.name})
      else waiting.set(p, missing)
    }
    if (access.options.offline && pending.size > 0) {
      const [digest, first] = pending.entries().next().value as [Digest, Pending]
      throw withProfilePosition(
        usageError(`layer ${digest} of ${first.request.identity} is not in the store ${store!.dir}; pull the profile before building with --offline`),
        first.request,
      )
    }
    await runLimited([...pending.values()], jobs, async (item) => {
      try {
        await downloadLayer(item.descriptor, access.remoteFor(item.origin))
      } catch (error) {
        throw withProfilePosition(error, item.request)
      }
      for (const [p, missing] of waiting) {
        if (missing.delete(item.descriptor.digest) && missing.size === 0) {
          waiting.delete(p)
          emit({type: 'image-fetched', name: p.request.name})
        }
      }
    })
  }

  /** Every registry layer the run uses, re-hashed from the store (a few at once): a name is not proof of content. */
  async function inspectStoredLayers(): Promise<Map<Digest, StoredBlob>> {
    const digests = new Set<Digest>()
    for (const p of packages) if (p.origin.kind === 'registry') for (const layer of p.image.manifest.layers) digests.add(layer.digest)
    const list = [...digests]
    const states = await runLimited(list, jobs, (digest) => store!.inspect(digest))
    return new Map(list.map((digest, i) => [digest, states[i]!]))
  }

  /**
   * Whether a layer must come from the registry: it is missing, or its stored bytes were altered.
   * An altered one is replaced online (the run says so) and refused offline, saying how to mend it.
   */
  function needsDownload(digest: Digest, found: StoredBlob, request: PackageRequest): boolean {
    if (found.state === 'intact') return false
    if (found.state === 'altered') {
      const path = store!.blobPath(digest)
      if (access.options.offline) throw withProfilePosition(alteredBlobError(digest, path, found), request)
      emit({type: 'store-repair', digest, path, hashesTo: found.hashesTo})
    }
    return true
  }

  /** Registry -> store, retrying broken connections; a digest mismatch is final. */
  async function downloadLayer(descriptor: Descriptor, remote: ImageSource): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let received = 0
      try {
        const content = await remote.openBlob(descriptor)
        await store!.ingest(descriptor, content, (count) => {
          received += count
          emit({type: 'bytes', count})
        })
        return
      } catch (error) {
        if (received > 0) emit({type: 'bytes', count: -received})
        if (isStagexError(error)) throw error
        const reason = describeNetworkError(error)
        if (attempt >= retry.attempts)
          throw unreachableError(`${remote.description}: downloading ${descriptor.digest} failed ${attempt} times (${reason}); the store keeps what was complete, pull again to go on`)
        emit({type: 'retry', what: descriptor.digest, attempt, reason})
        await sleep(backoffDelay(retry, attempt))
      }
    }
  }
}
