// A registry speaking the OCI distribution API, as an ImageSource: manifests by tag or digest,
// blobs streamed through the digest-checking reader. Requests go through node:http and node:https
// with keep-alive agents (one connection serves many requests); redirects are followed by hand so
// that the Authorization header never reaches another host; retries with backoff on 5xx, 429 and
// broken connections.
import type {Readable} from 'node:stream'
import {badInputError, isStagexError, unreachableError, usageError} from '../errors.js'
import {type Authenticator, type Credentials, createAuthenticator} from './auth.js'
import {DEFAULT_TAG} from './reference.js'
import {describeNetworkError, type HttpResponse, requestFollowingRedirects} from './http.js'
import {type Digest, checkBytes, digestCheckingStream, isSha256Digest, parseDigest, sha256Of} from './digest.js'
import {MissingBlobError} from './missing-blob.js'
import {type BlobDeadline, type BlobDeadlinePolicy, DEFAULT_BLOB_DEADLINE, startBlobDeadline} from './blob-deadline.js'
import {type Descriptor, documentMediaType, MAX_DOCUMENT_BYTES} from './manifest.js'
import {MediaType, indexMediaTypes, manifestMediaTypes} from './media-types.js'
import type {ImageSource} from './source.js'

/** Both families, indexes first: a registry then answers with the index when it has one. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
].join(', ')

/** Manifests and indexes are small; a larger answer is refused before it is read. */

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
}

export {describeNetworkError}

export const DEFAULT_RETRY: RetryPolicy = {attempts: 5, baseDelayMs: 250, maxDelayMs: 4000}

export interface RegistryLocation {
  /** Host and port as in the reference, e.g. "docker.io", "quay.io", "127.0.0.1:5000". */
  registry: string
  repository: string
}

export interface RegistryOptions {
  credentials?: Credentials
  /** Overall time a blob or manifest download may take (default: 30 s + its size at 256 KiB/s; a manifest's size is taken as 4 MiB). */
  blobDeadline?: BlobDeadlinePolicy
  /** Token services on another origin that the caller vouches for as this registry's (tests: an issuer on another port). */
  tokenOrigins?: readonly string[]
  retry?: RetryPolicy
}

/** Token services known to be their registry's own: Docker Hub's API and token service live on two hosts. */
const KNOWN_TOKEN_ORIGINS: Record<string, string[]> = {'docker.io': ['https://auth.docker.io']}

const isLoopback = (host: string) => /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/.test(host)

/** Where the API lives: Docker Hub's API host is registry-1.docker.io; loopback registries speak plain HTTP. */
export function registryBaseUrl(registry: string): string {
  if (registry === 'docker.io') return 'https://registry-1.docker.io'
  return `${isLoopback(registry) ? 'http' : 'https'}://${registry}`
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits between retries; a deadline that passed meanwhile ends the wait with its error. */
async function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  await sleep(ms)
  if (signal?.aborted) throw signal.reason
}

export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  const seconds = retryAfter ? Number(retryAfter) : Number.NaN
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, policy.maxDelayMs)
  const exponential = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs)
  // Jitter keeps parallel downloads from retrying in lockstep.
  return exponential * (0.8 + Math.random() * 0.4)
}

export function openRegistry(location: RegistryLocation, options: RegistryOptions = {}): ImageSource {
  const {registry, repository} = location
  const base = registryBaseUrl(registry)
  const origin = new URL(base).origin
  const retry = options.retry ?? DEFAULT_RETRY
  const scope = `repository:${repository}:pull`
  const what = `registry ${registry} ${repository}`
  /** Manifests already read (by tag): resolveImage asks for them again by digest. */
  const documents = new Map<Digest, Buffer>()

  /** Sends a request with retries (network errors, 5xx, 429) and answers 401 challenges once each. */
  async function request(
    url: URL,
    headers: Record<string, string>,
    auth: Pick<Authenticator, 'header'> & Partial<Pick<Authenticator, 'answer'>>,
    authOrigin: string,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse
      try {
        response = await requestFollowingRedirects(url, {headers, signal}, auth.header(), authOrigin)
      } catch (error) {
        if (isStagexError(error)) throw error
        if (attempt >= retry.attempts)
          throw unreachableError(
            `${what}: ${url.origin} is unreachable (${describeNetworkError(error)}) after ${attempt} attempts; ` +
              'check the address, or build from the store with --offline',
          )
        await sleepUnlessAborted(backoffDelay(retry, attempt), signal)
        continue
      }
      // Without a way to answer (a token request), the caller reads the 401 itself.
      if (response.status === 401 && auth.answer) {
        const challenge = response.header('www-authenticate') ?? null
        await response.discard()
        if (await auth.answer(challenge, scope)) {
          attempt--
          continue
        }
        throw usageError(
          `${what}: access denied (HTTP 401${challenge?.includes('insufficient_scope') ? ', insufficient scope' : ''}); ` +
            (options.credentials ? `the credentials of "${options.credentials.username}" do not allow pulling it` : 'add credentials to your Docker config'),
        )
      }
      if (response.status === 429 || response.status >= 500) {
        await response.discard()
        if (attempt >= retry.attempts) throw unreachableError(`${what}: ${url.origin} answered HTTP ${response.status} ${attempt} times for ${url.pathname}; try again later`)
        await sleepUnlessAborted(backoffDelay(retry, attempt, response.header('retry-after')), signal)
        continue
      }
      return response
    }
  }

  const auth: Authenticator = createAuthenticator({
    registry,
    credentialOrigins: [origin, ...(KNOWN_TOKEN_ORIGINS[registry] ?? []), ...(options.tokenOrigins ?? [])],
    credentials: options.credentials,
    // Token requests get the same retries; their Authorization (basic) goes only to the realm's origin.
    fetchToken: (url, headers) => {
      const {authorization, ...rest} = headers
      return request(url, rest, {header: () => authorization}, url.origin)
    },
  })

  const deadlinePolicy = options.blobDeadline ?? DEFAULT_BLOB_DEADLINE
  const api = (path: string) => new URL(`${base}/v2/${repository}/${path}`)

  async function getManifest(reference: string): Promise<{bytes: Buffer; contentType?: string; headerDigest?: string}> {
    const url = api(`manifests/${reference}`)
    const deadline = startBlobDeadline(`${what} (${origin})`, `manifest ${reference}`, undefined, deadlinePolicy, MAX_DOCUMENT_BYTES)
    try {
      return await readManifest(url, reference, deadline)
    } finally {
      deadline.stop()
    }
  }

  async function readManifest(url: URL, reference: string, deadline: BlobDeadline): Promise<{bytes: Buffer; contentType?: string; headerDigest?: string}> {
    const response = await request(url, {accept: MANIFEST_ACCEPT}, auth, origin, deadline.signal)
    if (response.status === 404) {
      await response.discard()
      // A digest names content (as in a layout's blobs/); a tag that is not there is the caller's mistake.
      if (isSha256Digest(reference)) throw new MissingBlobError(what, reference, url.href)
      throw usageError(`${what}: no manifest tagged "${reference}"`)
    }
    if (!response.ok) {
      await response.discard()
      throw usageError(`${what}: manifest ${reference}: HTTP ${response.status}`)
    }
    response.body.on('data', (chunk: Buffer) => deadline.received(chunk.length))
    const bytes = await response.read(MAX_DOCUMENT_BYTES, `${what} manifest ${reference}`)
    return {
      bytes,
      contentType: response.header('content-type')?.split(';')[0]?.trim() || undefined,
      headerDigest: response.header('docker-content-digest'),
    }
  }

  /** A blob's answer, its body still to read; `deadline` covers the request, its retries and the body. */
  async function getBlob(descriptor: Descriptor, deadline: BlobDeadline): Promise<HttpResponse> {
    const url = api(`blobs/${descriptor.digest}`)
    const response = await request(url, {}, auth, origin, deadline.signal)
    if (response.status === 404) {
      await response.discard()
      throw new MissingBlobError(what, descriptor.digest, url.href)
    }
    if (!response.ok) {
      await response.discard()
      throw usageError(`${what}: blob ${descriptor.digest}: HTTP ${response.status}`)
    }
    const declared = Number(response.header('content-length') ?? Number.NaN)
    if (Number.isFinite(declared) && declared !== descriptor.size) {
      await response.discard()
      throw badInputError(`${what}: blob ${descriptor.digest} is announced as ${declared} bytes, its descriptor declares ${descriptor.size}`)
    }
    return response
  }

  const startDeadline = (descriptor: Descriptor) => startBlobDeadline(`${what} (${origin})`, `blob ${descriptor.digest}`, descriptor.size, deadlinePolicy)

  /** A small blob (a config) read whole through openBlob: checked, and within its deadline. */
  async function readBlob(descriptor: Descriptor): Promise<Buffer> {
    const chunks: Buffer[] = []
    for await (const chunk of await openBlob(descriptor)) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }

  /** A blob's bytes through the digest-checking reader, the request and body within the blob's deadline. */
  async function openBlob(descriptor: Descriptor): Promise<Readable> {
    const deadline = startDeadline(descriptor)
    try {
      const {body} = await getBlob(descriptor, deadline)
      const check = digestCheckingStream(descriptor.digest, descriptor.size, what)
      body.on('error', (error) => check.destroy(error))
      body.pipe(check)
      body.on('data', (chunk: Buffer) => deadline.received(chunk.length))
      check.once('close', () => deadline.stop())
      return check
    } catch (error) {
      deadline.stop()
      throw error
    }
  }

  const isManifestType = (mediaType: string) => indexMediaTypes.includes(mediaType) || manifestMediaTypes.includes(mediaType)

  return {
    description: `registry ${registry}/${repository}`,

    async resolve({tag, digest}) {
      const reference = digest ?? tag ?? DEFAULT_TAG
      const known = digest ? documents.get(digest) : undefined
      if (known) return {mediaType: documentMediaType(known, undefined, `${what} ${digest}`), digest: digest!, size: known.length}
      const {bytes, contentType, headerDigest} = await getManifest(reference)
      const actual = sha256Of(bytes)
      if (digest && actual !== digest) throw badInputError(`${what}: digest mismatch: asked for ${digest}, the manifest hashes to ${actual}`)
      if (headerDigest && headerDigest !== actual) {
        parseDigest(headerDigest, `${what} Docker-Content-Digest`)
        throw badInputError(`${what}: digest mismatch: the registry says ${headerDigest} for "${reference}", the manifest hashes to ${actual}`)
      }
      const mediaType = documentMediaType(bytes, contentType, `${what} ${actual}`)
      documents.set(actual, bytes)
      return {mediaType, digest: actual, size: bytes.length}
    },

    async readBytes(descriptor) {
      if (descriptor.size > MAX_DOCUMENT_BYTES) throw badInputError(`${what}: ${descriptor.digest} is too large to be a manifest or config`)
      let bytes = documents.get(descriptor.digest)
      if (!bytes) {
        if (isManifestType(descriptor.mediaType)) bytes = (await getManifest(descriptor.digest)).bytes
        else bytes = await readBlob(descriptor)
      }
      checkBytes(bytes, descriptor.digest, descriptor.size, what)
      return bytes
    },

    openBlob,
  }
}
