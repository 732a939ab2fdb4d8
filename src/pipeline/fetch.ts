// The resolve and fetch stages: every package of a profile -> its linux/amd64 manifest (checked
// against the lock with --locked) -> [trust] -> its layers in the content store. Registry images
// are read back from the store afterwards, so the stages after this one never ask where an image
// came from. OCI layouts are read in place.
import {isStagexError, StagexError, usageError} from '../errors.js'
import {type Credentials, credentialsFor} from '../oci/auth.js'
import type {Digest} from '../oci/digest.js'
import type {Descriptor} from '../oci/manifest.js'
import {backoffDelay, DEFAULT_RETRY, describeNetworkError, openRegistry, type RetryPolicy} from '../oci/registry.js'
import {type ImageSource, type ResolvedImage, resolveImage} from '../oci/source.js'
import type {Profile} from '../profile/types.js'
import {type ContentStore, defaultStoreDir, openStore} from '../store/content-store.js'
import {type LockedPackage, type LockFile, lockedEntryFor, lockedTopDigest, lockPathFor, readLock, tagMovedError} from './lock-file.js'
import {type OriginOptions, type PackageOrigin, type PackageRequest, packageRequests, sourceFor} from './packages.js'

export interface FetchOptions extends OriginOptions {
  /** Content store folder; default $XDG_CACHE_HOME/stagex-image. */
  store?: string
  /** Use only the store (and local layouts): no network. */
  offline?: boolean
  /** Build exactly what `<profile>.lock.json` pins; fail when the profile or a tag disagrees. */
  locked?: boolean
  /** Environment for DOCKER_CONFIG, HOME and XDG_CACHE_HOME. */
  env?: NodeJS.ProcessEnv
  /** Parallel downloads; default 4. */
  jobs?: number
  retry?: RetryPolicy
  /** Resolve only (indexes, manifests, configs), as `lock` does: layers are not downloaded. */
  documentsOnly?: boolean
  /**
   * The trust stage's place: called once every image is resolved to its manifest digest and before
   * any layer is downloaded or applied. Throwing here stops the build.
   */
  beforeLayers?: (packages: readonly FetchedPackage[]) => Promise<void>
  onEvent?: (event: FetchEvent) => void
}

export type FetchEvent =
  | {type: 'resolved'; name: string; identity: string; manifestDigest: Digest; bytesToFetch: number}
  | {type: 'bytes'; count: number}
  | {type: 'image-fetched'; name: string}
  | {type: 'tag-moved'; name: string; identity: string; tag: string; from: Digest; to: Digest}
  | {type: 'retry'; what: string; attempt: number; reason: string}

export interface FetchedPackage {
  request: PackageRequest
  /** Where later stages read the image: the store for registry images, the layout otherwise. */
  source: ImageSource
  image: ResolvedImage
  /** What the tag (or digest) named: the index, or the manifest itself. */
  top: Descriptor
  origin: PackageOrigin['kind']
  /** The tag that was resolved (absent when the profile pins a digest). */
  tag?: string
  /** Set when the tag pointed elsewhere the last time this store resolved it. */
  movedFrom?: Digest
}

export interface FetchResult {
  packages: FetchedPackage[]
  /** The store used, when any package came from a registry. */
  storeDir?: string
  /** The lock checked with --locked. */
  lockPath?: string
}

const DEFAULT_JOBS = 4

/**
 * Images resolved at once, at least: each is a chain of small requests (tag, index, manifest,
 * config) that waits on the registry more than it transfers, so more of them overlap than layers do.
 */
const RESOLVE_JOBS = 8

/** Runs `work` over `items`, at most `limit` at once; the first failure stops new work and is thrown once the rest settled. */
export async function runLimited<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  let failure: {error: unknown} | undefined
  async function worker() {
    while (!failure && next < items.length) {
      const index = next++
      try {
        results[index] = await work(items[index]!, index)
      } catch (error) {
        failure ??= {error}
      }
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  if (failure) throw failure.error
  return results
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Reads documents from the registry and keeps a checked copy of each in the store. */
function documentsThroughStore(remote: ImageSource, store: ContentStore, identity: string): ImageSource {
  const local = store.source(identity)
  return {
    description: remote.description,
    resolve: (target) => remote.resolve(target),
    async readBytes(descriptor) {
      if (await store.has(descriptor.digest)) return local.readBytes(descriptor)
      const bytes = await remote.readBytes(descriptor)
      await store.putBytes(descriptor, bytes)
      return bytes
    },
    openBlob: (descriptor) => local.openBlob(descriptor),
  }
}

/** Remembers the descriptor the last resolve returned: the top of the image, for the lock and for layouts. */
function recordingTop(source: ImageSource): {source: ImageSource; top: () => Descriptor} {
  let top: Descriptor | undefined
  return {
    source: {...source, resolve: async (target) => (top = await source.resolve(target))},
    top: () => {
      if (!top) throw new Error('resolve was not called')
      return top
    },
  }
}

/** A package that cannot be found is a profile error at the line that names it. */
export function withProfilePosition(error: unknown, request: PackageRequest): unknown {
  if (!isStagexError(error)) return error
  if (error.message.startsWith(request.where)) return error
  const kind = error.kind === 'usage' ? 'profile' : error.kind
  return new StagexError(kind, `${request.where}: package "${request.spec}": ${error.message}`, error.details)
}

export async function fetchPackages(profile: Profile, options: FetchOptions = {}): Promise<FetchResult> {
  const env = options.env ?? process.env
  const emit = options.onEvent ?? (() => {})
  const retry = options.retry ?? DEFAULT_RETRY
  const jobs = options.jobs ?? DEFAULT_JOBS
  const requests = packageRequests(profile)
  const origins = requests.map((request) => {
    try {
      return sourceFor(profile, request, options)
    } catch (error) {
      throw withProfilePosition(error, request)
    }
  })

  let lock: LockFile | undefined
  let lockPath: string | undefined
  if (options.locked) {
    lockPath = lockPathFor(profile.path)
    lock = await readLock(lockPath)
  }
  const locked = lock ? requests.map((_, i) => lockedEntryFor(lock!, lockPath!, requests, i)) : undefined

  const needsStore = origins.some((o) => o.kind === 'registry')
  const store = needsStore ? await openStore(options.store ?? defaultStoreDir(env)) : undefined

  // One client per pulled repository; credentials looked up once per registry host.
  const credentials = new Map<string, Promise<Credentials | undefined>>()
  const remotes = new Map<string, ImageSource>()
  const remoteFor = (origin: Extract<PackageOrigin, {kind: 'registry'}>): ImageSource => {
    const key = `${origin.location.registry}/${origin.location.repository}`
    let remote = remotes.get(key)
    if (!remote) {
      const hostCredentials = credentials.get(origin.location.registry) ?? credentialsFor(origin.location.registry, env)
      credentials.set(origin.location.registry, hostCredentials)
      const lazy = hostCredentials.then((c) => openRegistry(origin.location, {credentials: c, retry}))
      remote = {
        description: `registry ${key}`,
        resolve: async (target) => (await lazy).resolve(target),
        readBytes: async (descriptor) => (await lazy).readBytes(descriptor),
        openBlob: async (descriptor) => (await lazy).openBlob(descriptor),
      }
      remotes.set(key, remote)
    }
    return remote
  }

  // Resolve: tags -> digests -> the linux/amd64 manifest and its config.
  const packages = await runLimited(requests, Math.max(jobs, RESOLVE_JOBS), async (request, i) => {
    try {
      return await resolveOne(request, origins[i]!, locked?.[i])
    } catch (error) {
      throw withProfilePosition(error, request)
    }
  })

  async function resolveOne(request: PackageRequest, origin: PackageOrigin, entry: LockedPackage | undefined): Promise<FetchedPackage> {
    const tag = origin.tag
    let target: {tag?: string; digest?: Digest} = origin.digest ? {digest: origin.digest} : {tag}
    let source: ImageSource
    let readFrom: ImageSource
    if (origin.kind === 'layout') {
      source = origin.source
      readFrom = origin.source
    } else {
      const local = store!.source(request.identity)
      readFrom = local
      if (options.offline) source = local
      else if (origin.digest && (await store!.has(origin.digest))) source = local // a digest never changes: no need to ask
      else source = documentsThroughStore(remoteFor(origin), store!, request.identity)
    }

    if (entry) {
      // Locked: the tag must still name what the lock pins; then the lock's digest is what we fetch.
      if (entry.tag !== undefined && !(options.offline && origin.kind === 'registry')) {
        const now = (await source.resolve({tag: entry.tag})).digest
        if (now !== lockedTopDigest(entry)) throw tagMovedError(request, lockPathOf(), entry, now)
      }
      target = {digest: lockedTopDigest(entry)}
      if (origin.kind === 'registry' && !options.offline && (await store!.has(target.digest!))) source = store!.source(request.identity)
    }

    const recorder = recordingTop(source)
    const image = await resolveImage(recorder.source, target, request.name)
    const top = recorder.top()
    if (entry && image.manifestDigest !== entry.manifestDigest)
      throw tagMovedError(request, lockPathOf(), entry, image.manifestDigest)

    let movedFrom: Digest | undefined
    if (origin.kind === 'registry' && tag && !entry && !options.offline) {
      const before = await store!.readTag(request.identity, tag)
      if (before && before.digest !== top.digest) {
        movedFrom = before.digest
        emit({type: 'tag-moved', name: request.name, identity: request.identity, tag, from: before.digest, to: top.digest})
      }
    }
    return {request, source: readFrom, image, top, origin: origin.kind, tag: entry?.tag ?? tag, movedFrom}
  }

  function lockPathOf(): string {
    return lockPath!
  }

  // The trust stage goes here: every image is resolved to the manifest digest maintainers sign,
  // and no layer has been downloaded or applied yet.
  if (options.beforeLayers) await options.beforeLayers(packages)

  if (!options.documentsOnly) await fetchLayers(packages)

  // The store remembers what each tag named, so an offline build and a later moved tag both know.
  // One write per tag record, all at once (the last package naming a tag wins, as in profile order).
  if (store && !options.offline) {
    const records = new Map<string, FetchedPackage>()
    for (const p of packages) if (p.origin === 'registry' && p.tag) records.set(`${p.request.identity}:${p.tag}`, p)
    await Promise.all([...records.values()].map((p) => store.writeTag(p.request.identity, p.tag!, p.top)))
  }

  return {packages, storeDir: store?.dir, lockPath}

  async function fetchLayers(all: FetchedPackage[]): Promise<void> {
    interface Pending {
      descriptor: Descriptor
      request: PackageRequest
      origin: Extract<PackageOrigin, {kind: 'registry'}>
    }
    const pending = new Map<Digest, Pending>()
    const waiting = new Map<FetchedPackage, Set<Digest>>()
    for (const [i, p] of all.entries()) {
      const origin = origins[i]!
      if (origin.kind !== 'registry') continue
      const missing = new Set<Digest>()
      for (const layer of p.image.manifest.layers) {
        if (pending.has(layer.digest)) missing.add(layer.digest)
        else if (!(await store!.has(layer.digest))) {
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
    if (options.offline && pending.size > 0) {
      const [digest, first] = pending.entries().next().value as [Digest, Pending]
      throw withProfilePosition(
        usageError(`layer ${digest} of ${first.request.identity} is not in the store ${store!.dir}; pull the profile before building with --offline`),
        first.request,
      )
    }
    await runLimited([...pending.values()], jobs, async (item) => {
      try {
        await downloadLayer(item.descriptor, remoteFor(item.origin))
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
          throw usageError(`${remote.description}: downloading ${descriptor.digest} failed ${attempt} times (${reason}); the store keeps what was complete, pull again to go on`)
        emit({type: 'retry', what: descriptor.digest, attempt, reason})
        await sleep(backoffDelay(retry, attempt))
      }
    }
  }
}
