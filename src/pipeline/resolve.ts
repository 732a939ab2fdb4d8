// The resolve stage: every image a profile names -> its linux/amd64 manifest and config (checked
// against the lock with --locked). Only small documents are read here (indexes, manifests, configs);
// registry documents are kept in the store as they are checked. No layer is touched: trust comes next.
import {createHash} from 'node:crypto'
import {isStagexError, StagexError} from '../errors.js'
import {type Credentials, credentialsFor} from '../oci/auth.js'
import type {BlobDeadlinePolicy} from '../oci/blob-deadline.js'
import type {Digest} from '../oci/digest.js'
import type {Descriptor} from '../oci/manifest.js'
import {DEFAULT_RETRY, openRegistry, type RetryPolicy} from '../oci/registry.js'
import {type ImageSource, type ResolvedImage, resolveImage} from '../oci/source.js'
import type {Profile} from '../profile/types.js'
import {type ContentStore, defaultStoreDir, openStore} from '../store/content-store.js'
import {type LockedPackage, lockedEntryFor, lockedTopDigest, lockPathFor, readLock, tagMovedError} from './lock-file.js'
import {type OriginOptions, type PackageOrigin, type PackageRequest, packageRequests, sourceFor} from './packages.js'
import {runLimited} from './run-limited.js'

export interface ResolveOptions extends OriginOptions {
  /** Content store folder; default $XDG_CACHE_HOME/stagex-image. */
  store?: string
  /** Use only the store (and local layouts): no network. */
  offline?: boolean
  /** Build exactly what `<profile>.lock.json` pins; fail when the profile or a tag disagrees. */
  locked?: boolean
  /** Environment for DOCKER_CONFIG, HOME and XDG_CACHE_HOME. */
  env?: NodeJS.ProcessEnv
  /** Parallel downloads in the fetch stage; default 4. */
  jobs?: number
  retry?: RetryPolicy
  /** Overall time each blob download may take (default: 30 s + its size at 256 KiB/s). */
  blobDeadline?: BlobDeadlinePolicy
  onEvent?: (event: FetchEvent) => void
}

export type FetchEvent =
  | {type: 'resolved'; name: string; identity: string; manifestDigest: Digest; bytesToFetch: number}
  | {type: 'bytes'; count: number}
  | {type: 'image-fetched'; name: string}
  | {type: 'tag-moved'; name: string; identity: string; tag: string; from: Digest; to: Digest}
  | {type: 'retry'; what: string; attempt: number; reason: string}
  /** A stored blob whose bytes no longer match its name, about to be downloaded again. */
  | {type: 'store-repair'; digest: Digest; path: string; hashesTo: Digest}

/** One image, resolved to the manifest digest maintainers sign. */
export interface ResolvedPackage {
  request: PackageRequest
  origin: PackageOrigin
  image: ResolvedImage
  /** What the tag (or digest) named: the index, or the manifest itself. */
  top: Descriptor
  /** The tag that was resolved (absent when the profile pins a digest). */
  tag?: string
  /** Set when the tag pointed elsewhere the last time this store resolved it. */
  movedFrom?: Digest
  /** Where the stages after fetch read the image: the store for registry images, the layout otherwise. */
  readFrom: ImageSource
}

/** Where images are read from, shared by resolve and fetch. */
export interface ImageAccess {
  store?: ContentStore
  remoteFor(origin: Extract<PackageOrigin, {kind: 'registry'}>): ImageSource
  options: ResolveOptions
}

export interface Resolved {
  packages: ResolvedPackage[]
  access: ImageAccess
  /** The lock checked with --locked. */
  lockPath?: string
  /** sha256 of every image's identity and digests, in order. */
  sha256: string
}

/** Images resolved at once: each is a chain of small requests that waits on the registry more than it transfers. */
const RESOLVE_JOBS = 8

/** A package that cannot be found is a profile error at the line that names it. */
export function withProfilePosition(error: unknown, request: PackageRequest): unknown {
  if (!isStagexError(error)) return error
  if (error.message.startsWith(request.where)) return error
  const kind = error.kind === 'usage' ? 'profile' : error.kind
  return new StagexError(kind, `${request.where}: package "${request.spec}": ${error.message}`, error.details)
}

/**
 * Reads documents from the store when their bytes still match their names (a digest never changes:
 * no need to ask), else from the registry, keeping a checked copy in the store: an altered copy is
 * replaced, and the run says so.
 */
function documentsThroughStore(remote: ImageSource, store: ContentStore, identity: string, emit: (event: FetchEvent) => void): ImageSource {
  const local = store.source(identity)
  const reported = new Set<Digest>()
  const intact = async (digest: Digest) => {
    const found = await store.inspect(digest)
    if (found.state === 'altered' && !reported.has(digest)) {
      reported.add(digest)
      emit({type: 'store-repair', digest, path: store.blobPath(digest), hashesTo: found.hashesTo})
    }
    return found.state === 'intact'
  }
  return {
    description: remote.description,
    async resolve(target) {
      if (target.digest && (await intact(target.digest))) return local.resolve(target)
      return remote.resolve(target)
    },
    async readBytes(descriptor) {
      if (await intact(descriptor.digest)) return local.readBytes(descriptor)
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

/** The store and registry clients for a set of origins; one client per repository, credentials once per host. */
export async function openImageAccess(origins: readonly PackageOrigin[], options: ResolveOptions): Promise<ImageAccess> {
  const env = options.env ?? process.env
  const retry = options.retry ?? DEFAULT_RETRY
  const store = origins.some((o) => o.kind === 'registry') ? await openStore(options.store ?? defaultStoreDir(env)) : undefined
  const credentials = new Map<string, Promise<Credentials | undefined>>()
  const remotes = new Map<string, ImageSource>()
  return {
    store,
    options,
    remoteFor(origin) {
      const key = `${origin.location.registry}/${origin.location.repository}`
      let remote = remotes.get(key)
      if (!remote) {
        const hostCredentials = credentials.get(origin.location.registry) ?? credentialsFor(origin.location.registry, env)
        credentials.set(origin.location.registry, hostCredentials)
        const lazy = hostCredentials.then((c) => openRegistry(origin.location, {credentials: c, retry, blobDeadline: options.blobDeadline}))
        remote = {
          description: `registry ${key}`,
          resolve: async (target) => (await lazy).resolve(target),
          readBytes: async (descriptor) => (await lazy).readBytes(descriptor),
          openBlob: async (descriptor) => (await lazy).openBlob(descriptor),
        }
        remotes.set(key, remote)
      }
      return remote
    },
  }
}

/** The requests of a profile and where each is read from. */
export function profileRequests(profile: Profile, options: OriginOptions, roles?: readonly PackageRequest['role'][]): {request: PackageRequest; origin: PackageOrigin}[] {
  return packageRequests(profile)
    .filter((request) => !roles || roles.includes(request.role))
    .map((request) => {
      try {
        return {request, origin: sourceFor(profile, request, options)}
      } catch (error) {
        throw withProfilePosition(error, request)
      }
    })
}

/** Resolve: tags -> digests -> the linux/amd64 manifest and its config, for every request. */
export async function resolveStage(
  wanted: readonly {request: PackageRequest; origin: PackageOrigin}[],
  options: ResolveOptions & {profilePath?: string},
): Promise<Resolved> {
  const emit = options.onEvent ?? (() => {})
  const access = await openImageAccess(
    wanted.map((w) => w.origin),
    options,
  )
  const {store} = access
  const requests = wanted.map((w) => w.request)
  let lockPath: string | undefined
  let locked: LockedPackage[] | undefined
  if (options.locked) {
    if (!options.profilePath) throw new Error('--locked needs a profile')
    lockPath = lockPathFor(options.profilePath)
    const lock = await readLock(lockPath)
    locked = requests.map((_, i) => lockedEntryFor(lock, lockPath!, requests, i))
  }

  const packages = await runLimited(wanted, Math.max(options.jobs ?? 4, RESOLVE_JOBS), async ({request, origin}, i) => {
    try {
      return await resolveOne(request, origin, locked?.[i])
    } catch (error) {
      throw withProfilePosition(error, request)
    }
  })

  async function resolveOne(request: PackageRequest, origin: PackageOrigin, entry: LockedPackage | undefined): Promise<ResolvedPackage> {
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
      else source = documentsThroughStore(access.remoteFor(origin), store!, request.identity, emit)
    }

    if (entry) {
      // Locked: the tag must still name what the lock pins; then the lock's digest is what we fetch.
      if (entry.tag !== undefined && !(options.offline && origin.kind === 'registry')) {
        const now = (await source.resolve({tag: entry.tag})).digest
        if (now !== lockedTopDigest(entry)) throw tagMovedError(request, lockPath!, entry, now)
      }
      target = {digest: lockedTopDigest(entry)}
    }

    const recorder = recordingTop(source)
    const image = await resolveImage(recorder.source, target, request.name)
    const top = recorder.top()
    if (entry && image.manifestDigest !== entry.manifestDigest) throw tagMovedError(request, lockPath!, entry, image.manifestDigest)

    let movedFrom: Digest | undefined
    if (origin.kind === 'registry' && tag && !entry && !options.offline) {
      const before = await store!.readTag(request.identity, tag)
      if (before && before.digest !== top.digest) {
        movedFrom = before.digest
        emit({type: 'tag-moved', name: request.name, identity: request.identity, tag, from: before.digest, to: top.digest})
      }
    }
    return {request, origin, image, top, tag: entry?.tag ?? tag, movedFrom, readFrom}
  }

  const hash = createHash('sha256')
  for (const p of packages) hash.update(`${p.request.role} ${p.request.identity} ${p.top.digest} ${p.image.manifestDigest} ${p.image.configDigest}\n`)
  return {packages, access, lockPath, sha256: hash.digest('hex')}
}
