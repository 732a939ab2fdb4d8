// A registry speaking the OCI distribution API, as an ImageSource: manifests by tag or digest,
// blobs streamed through the digest-checking reader. Requests go through node:http and node:https
// with keep-alive agents (one connection serves many requests); redirects are followed by hand so
// that the Authorization header never reaches another host; retries with backoff on 5xx, 429 and
// broken connections.
import {Agent as HttpAgent, type IncomingMessage, request as httpRequest} from 'node:http'
import {Agent as HttpsAgent, request as httpsRequest} from 'node:https'
import type {Readable} from 'node:stream'
import {badInputError, isStagexError, usageError} from '../errors.js'
import {type Authenticator, type Credentials, createAuthenticator} from './auth.js'
import {type Digest, checkBytes, digestCheckingStream, parseDigest, sha256Of} from './digest.js'
import {type Descriptor, documentMediaType} from './manifest.js'
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
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {attempts: 5, baseDelayMs: 250, maxDelayMs: 4000}

export interface RegistryLocation {
  /** Host and port as in the reference, e.g. "docker.io", "quay.io", "127.0.0.1:5000". */
  registry: string
  repository: string
}

export interface RegistryOptions {
  credentials?: Credentials
  retry?: RetryPolicy
}

const MAX_REDIRECTS = 10

/** A connection that sends nothing for this long is given up (and the request retried). */
const IDLE_TIMEOUT_MS = 300_000

/** An unread answer up to this size is read to its end so that its connection serves the next request. */
const DRAIN_LIMIT_BYTES = 256 * 1024

const isLoopback = (host: string) => /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/.test(host)

/** Where the API lives: Docker Hub's API host is registry-1.docker.io; loopback registries speak plain HTTP. */
export function registryBaseUrl(registry: string): string {
  if (registry === 'docker.io') return 'https://registry-1.docker.io'
  return `${isLoopback(registry) ? 'http' : 'https'}://${registry}`
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  const seconds = retryAfter ? Number(retryAfter) : Number.NaN
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, policy.maxDelayMs)
  const exponential = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs)
  // Jitter keeps parallel downloads from retrying in lockstep.
  return exponential * (0.8 + Math.random() * 0.4)
}

/** The short reason of a network error: its code (ECONNREFUSED, ECONNRESET, ...) when it has one. */
export const describeNetworkError = (error: unknown): string => {
  const cause = (error as {cause?: {code?: string; message?: string}})?.cause
  return (error as {code?: string})?.code ?? cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error)
}

/** One answer of a registry (or of its token service, or of a host a redirect led to). */
export interface HttpResponse {
  status: number
  ok: boolean
  /** A header's value (several of the same name joined with ", "), or undefined. */
  header(name: string): string | undefined
  /** The body, unread; it fails with the connection. */
  body: Readable
  /** Leaves the body unread: a short one is drained so its connection can be reused, a long one is dropped. */
  discard(): Promise<void>
  /** The whole body, at most `limit` bytes (announced or sent); more is bad input. */
  read(limit: number, what: string): Promise<Buffer>
}

// Keep-alive: the manifests, configs and layers of all images share a few connections per host.
const agents = {
  'http:': new HttpAgent({keepAlive: true, scheduling: 'lifo'}),
  'https:': new HttpsAgent({keepAlive: true, scheduling: 'lifo'}),
}

function wrapResponse(message: IncomingMessage): HttpResponse {
  // Whoever reads the body sees its errors; one that nobody reads must not end the process.
  message.on('error', () => {})
  const status = message.statusCode ?? 0
  const header = (name: string) => {
    const value = message.headers[name.toLowerCase()]
    return Array.isArray(value) ? value.join(', ') : value
  }
  return {
    status,
    ok: status >= 200 && status < 300,
    header,
    body: message,
    discard() {
      if (message.destroyed || message.readableEnded) return Promise.resolve()
      const declared = Number(header('content-length') ?? Number.NaN)
      if (Number.isFinite(declared) && declared > DRAIN_LIMIT_BYTES) {
        message.destroy()
        return Promise.resolve()
      }
      return new Promise<void>((resolve) => {
        let size = 0
        message.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > DRAIN_LIMIT_BYTES) message.destroy()
        })
        message.once('end', resolve)
        message.once('close', resolve)
        message.once('error', () => resolve())
        message.resume()
      })
    },
    async read(limit, what) {
      const declared = Number(header('content-length') ?? Number.NaN)
      if (Number.isFinite(declared) && declared > limit) {
        message.destroy()
        throw badInputError(`${what}: the registry announces ${declared} bytes, more than the ${limit} allowed`)
      }
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of message as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > limit) {
          message.destroy()
          throw badInputError(`${what}: the registry sent more than the ${limit} bytes allowed`)
        }
        chunks.push(chunk)
      }
      return Buffer.concat(chunks, size)
    },
  }
}

/** One request, no redirects followed; rejects on a network error (with its code, e.g. ECONNREFUSED). */
function send(url: URL, method: string, headers: Record<string, string>): Promise<HttpResponse> {
  const protocol = url.protocol as keyof typeof agents
  const agent = agents[protocol]
  if (!agent) return Promise.reject(usageError(`${url.href}: only http and https are supported`))
  return new Promise((resolve, reject) => {
    const request = (protocol === 'https:' ? httpsRequest : httpRequest)(url, {method, headers, agent, timeout: IDLE_TIMEOUT_MS}, (message) =>
      resolve(wrapResponse(message)),
    )
    request.on('timeout', () =>
      request.destroy(Object.assign(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`), {code: 'ETIMEDOUT'})),
    )
    request.on('error', reject)
    request.end()
  })
}

/**
 * Sends a request to `url`, following redirects by hand: the Authorization header goes only to
 * `authorizedOrigin` (a blob redirected to a CDN must not carry the registry's token).
 */
export async function requestFollowingRedirects(
  url: URL,
  init: {method?: string; headers: Record<string, string>},
  authorization: string | undefined,
  authorizedOrigin: string,
): Promise<HttpResponse> {
  let current = url
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers = {...init.headers}
    if (authorization && current.origin === authorizedOrigin) headers.authorization = authorization
    const response = await send(current, init.method ?? 'GET', headers)
    const location = response.header('location')
    if (response.status >= 300 && response.status < 400 && location) {
      await response.discard()
      current = new URL(location, current)
      continue
    }
    return response
  }
  throw usageError(`${url.origin}: more than ${MAX_REDIRECTS} redirects for ${url.pathname}`)
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
  ): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse
      try {
        response = await requestFollowingRedirects(url, {headers}, auth.header(), authOrigin)
      } catch (error) {
        if (isStagexError(error)) throw error
        if (attempt >= retry.attempts)
          throw usageError(
            `${what}: ${url.origin} is unreachable (${describeNetworkError(error)}) after ${attempt} attempts; ` +
              'check the address, or build from the store with --offline',
          )
        await sleep(backoffDelay(retry, attempt))
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
        if (attempt >= retry.attempts) throw usageError(`${what}: ${url.origin} answered HTTP ${response.status} ${attempt} times for ${url.pathname}`)
        await sleep(backoffDelay(retry, attempt, response.header('retry-after')))
        continue
      }
      return response
    }
  }

  const auth: Authenticator = createAuthenticator({
    registry,
    credentials: options.credentials,
    // Token requests get the same retries; their Authorization (basic) goes only to the realm's origin.
    fetchToken: (url, headers) => {
      const {authorization, ...rest} = headers
      return request(url, rest, {header: () => authorization}, url.origin)
    },
  })

  const api = (path: string) => new URL(`${base}/v2/${repository}/${path}`)

  async function getManifest(reference: string): Promise<{bytes: Buffer; contentType?: string; headerDigest?: string}> {
    const response = await request(api(`manifests/${reference}`), {accept: MANIFEST_ACCEPT}, auth, origin)
    if (response.status === 404) {
      await response.discard()
      throw usageError(`${what}: no manifest ${reference.startsWith('sha256:') ? reference : `tagged "${reference}"`}`)
    }
    if (!response.ok) {
      await response.discard()
      throw usageError(`${what}: manifest ${reference}: HTTP ${response.status}`)
    }
    const bytes = await response.read(MAX_MANIFEST_BYTES, `${what} manifest ${reference}`)
    return {
      bytes,
      contentType: response.header('content-type')?.split(';')[0]?.trim() || undefined,
      headerDigest: response.header('docker-content-digest'),
    }
  }

  async function getBlob(descriptor: Descriptor): Promise<HttpResponse> {
    const response = await request(api(`blobs/${descriptor.digest}`), {}, auth, origin)
    if (response.status === 404) {
      await response.discard()
      throw badInputError(`${what}: the registry has no blob ${descriptor.digest}, which the image names`)
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

  const isManifestType = (mediaType: string) => indexMediaTypes.includes(mediaType) || manifestMediaTypes.includes(mediaType)

  return {
    description: `registry ${registry}/${repository}`,

    async resolve({tag, digest}) {
      const reference = digest ?? tag ?? 'latest'
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
      if (descriptor.size > MAX_MANIFEST_BYTES) throw badInputError(`${what}: ${descriptor.digest} is too large to be a manifest or config`)
      let bytes = documents.get(descriptor.digest)
      if (!bytes) {
        if (isManifestType(descriptor.mediaType)) bytes = (await getManifest(descriptor.digest)).bytes
        else bytes = await (await getBlob(descriptor)).read(descriptor.size, `${what} ${descriptor.digest}`)
      }
      checkBytes(bytes, descriptor.digest, descriptor.size, what)
      return bytes
    },

    async openBlob(descriptor) {
      const {body} = await getBlob(descriptor)
      const check = digestCheckingStream(descriptor.digest, descriptor.size, what)
      body.on('error', (error) => check.destroy(error))
      return body.pipe(check)
    },
  }
}
