// HTTP for everything the tool fetches (registries, their token services, lookasides): node:http and
// node:https with keep-alive agents (one connection serves many requests), redirects followed by
// hand so that an Authorization header never reaches another host, bodies read with a size limit.
import {Agent as HttpAgent, type IncomingMessage, request as httpRequest} from 'node:http'
import {Agent as HttpsAgent, request as httpsRequest} from 'node:https'
import type {Readable} from 'node:stream'
import {badInputError, usageError} from '../errors.js'

const MAX_REDIRECTS = 10

/** A connection that sends nothing for this long is given up (and the request retried). */
const IDLE_TIMEOUT_MS = 300_000

/** An unread answer up to this size is read to its end so that its connection serves the next request. */
const DRAIN_LIMIT_BYTES = 256 * 1024

/** The short reason of a network error: its code (ECONNREFUSED, ECONNRESET, ...) when it has one. */
export const describeNetworkError = (error: unknown): string => {
  const cause = (error as {cause?: {code?: string; message?: string}})?.cause
  return (error as {code?: string})?.code ?? cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error)
}

/** One answer of a registry, its token service, a host a redirect led to, or a lookaside. */
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
        throw badInputError(`${what}: the server announces ${declared} bytes, more than the ${limit} allowed`)
      }
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of message as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > limit) {
          message.destroy()
          throw badInputError(`${what}: the server sent more than the ${limit} bytes allowed`)
        }
        chunks.push(chunk)
      }
      return Buffer.concat(chunks, size)
    },
  }
}

/**
 * One request, no redirects followed; rejects on a network error (with its code, e.g. ECONNREFUSED).
 * When `signal` aborts, the request (or the body being read) fails with the signal's reason.
 */
function send(url: URL, method: string, headers: Record<string, string>, idleTimeoutMs = IDLE_TIMEOUT_MS, signal?: AbortSignal): Promise<HttpResponse> {
  const protocol = url.protocol as keyof typeof agents
  const agent = agents[protocol]
  if (!agent) return Promise.reject(usageError(`${url.href}: only http and https are supported`))
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    let answer: IncomingMessage | undefined
    const request = (protocol === 'https:' ? httpsRequest : httpRequest)(url, {method, headers, agent, timeout: idleTimeoutMs}, (message) => {
      answer = message
      message.once('close', () => signal?.removeEventListener('abort', abort))
      resolve(wrapResponse(message))
    })
    // The body first, so that its reader sees the reason rather than a reset connection.
    const abort = () => {
      answer?.destroy(signal!.reason)
      request.destroy(signal!.reason)
    }
    signal?.addEventListener('abort', abort, {once: true})
    request.on('timeout', () =>
      request.destroy(Object.assign(new Error(`no data for ${idleTimeoutMs / 1000} s`), {code: 'ETIMEDOUT'})),
    )
    request.on('error', (error) => {
      if (!answer) signal?.removeEventListener('abort', abort)
      reject(error)
    })
    request.end()
  })
}

/**
 * Sends a request to `url`, following redirects by hand: the Authorization header goes only to
 * `authorizedOrigin` (a blob redirected to a CDN must not carry the registry's token).
 */
export async function requestFollowingRedirects(
  url: URL,
  init: {method?: string; headers: Record<string, string>; idleTimeoutMs?: number; signal?: AbortSignal},
  authorization: string | undefined,
  authorizedOrigin: string,
): Promise<HttpResponse> {
  let current = url
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers = {...init.headers}
    if (authorization && current.origin === authorizedOrigin) headers.authorization = authorization
    const response = await send(current, init.method ?? 'GET', headers, init.idleTimeoutMs, init.signal)
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

