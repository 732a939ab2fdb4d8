// Signature files from a lookaside ("sigstore" in older containers/image configurations):
//   <lookaside>/<repository path>@sha256=<hex>/signature-N,  N = 1, 2, ... until the first missing one
// as containers/image reads them (signature-protocols.md). The repository path is the fully
// expanded repository without the registry host: docker.io/stagex/core-busybox -> stagex/core-busybox,
// busybox -> library/busybox, example.com/ns/repo -> ns/repo.
//
// Only "not found" (HTTP 404, or a missing file) ends the list. Any other answer, a network error,
// or a file over the size limit fails the whole fetch: a signature we could not read might be one
// we needed, so it is never treated as "no more signatures".
import {open} from 'node:fs/promises'
import {resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {badInputError, isStagexError, trustError, unreachableError, usageError} from '../errors.js'
import {type Digest, digestHex, parseDigest} from '../oci/digest.js'
import {describeNetworkError, requestFollowingRedirects} from '../oci/http.js'
import {parseRegistryReference} from '../oci/reference.js'

export const DEFAULT_MAX_SIGNATURE_BYTES = 64 * 1024
export const MAX_LOOKASIDE_SIGNATURES = 128
export const DEFAULT_LOOKASIDE_TIMEOUT_MS = 30_000

export interface SignatureFile {
  /** "signature-N": the name the trust table shows. */
  name: string
  bytes: Uint8Array
  /** Where it was read from. */
  url?: string
}

export interface FetchSignaturesOptions {
  /** Base URL: file:///..., http://... or https://... */
  lookaside: string
  /** The image's canonical repository, e.g. docker.io/stagex/core-busybox. */
  repository: string
  manifestDigest: Digest | string
  /** Per signature file; larger files fail the fetch (bad-input). */
  maxSignatureBytes?: number
  /** Per HTTP request. */
  timeoutMs?: number
}

/**
 * A profile's lookaside as an absolute URL. `file://` followed by a path that does not start with "/"
 * (`file://../sigs`, `file://sigs`) and `file:../sigs` name a folder relative to `baseDir` (the
 * profile's folder); `file:///abs/path`, http:// and https:// are kept as they are.
 */
export function resolveLookasideUrl(value: string, baseDir: string): string {
  const relativeFile = /^file:(?:\/\/)?(?!\/)(.+)$/.exec(value)
  if (!relativeFile) return value
  const url = pathToFileURL(resolve(baseDir, decodeURIComponent(relativeFile[1]!))).href
  return value.endsWith('/') && !url.endsWith('/') ? `${url}/` : url
}

/** `stagex/core-busybox` for docker.io/stagex/core-busybox: the path under the lookaside. */
export function lookasideRepositoryPath(repository: string): string {
  const ref = parseRegistryReference(repository, 'repository')
  if (ref.tag !== undefined || ref.digest !== undefined)
    throw usageError(`repository "${repository}": give the repository without a tag or digest`)
  return ref.repository
}

function lookasideBase(lookaside: string): URL {
  let base: URL
  try {
    base = new URL(lookaside)
  } catch {
    throw usageError(`lookaside "${lookaside}" is not a URL (use file:///..., http://... or https://...)`)
  }
  if (!['file:', 'http:', 'https:'].includes(base.protocol))
    throw usageError(`lookaside "${lookaside}": scheme ${base.protocol} is not supported (use file, http or https)`)
  if (base.search || base.hash) throw usageError(`lookaside "${lookaside}" must not have a query or fragment`)
  return base
}

/** The URL of signature-`index` (1-based) of an image. */
export function signatureUrl(lookaside: string, repository: string, manifestDigest: Digest | string, index: number): URL {
  if (!Number.isSafeInteger(index) || index < 1) throw new RangeError(`signature index ${index} must be 1 or more`)
  const digest = parseDigest(manifestDigest, 'manifest digest')
  const url = lookasideBase(lookaside)
  const basePath = url.pathname.replace(/\/+$/, '')
  url.pathname = `${basePath}/${lookasideRepositoryPath(repository)}@sha256=${digestHex(digest)}/signature-${index}`
  return url
}

/**
 * Where an image's signatures were looked for, for a person: the folder of a file:// lookaside, or
 * the URL of signature-1 of an http(s) one (which answered 404).
 */
export function signatureLocation(lookaside: string, repository: string, manifestDigest: Digest | string): string {
  const first = signatureUrl(lookaside, repository, manifestDigest, 1)
  if (first.protocol !== 'file:') return first.href
  return `${fileURLToPath(new URL('.', first))}`
}

const tooLarge = (url: URL, limit: number) =>
  badInputError(`signature ${url.href} is larger than ${limit} bytes; refusing it (a signature is a few hundred bytes)`, {
    url: url.href,
    limit,
  })

/** undefined when the file does not exist. */
async function readFileSignature(url: URL, limit: number): Promise<Uint8Array | undefined> {
  let handle
  try {
    handle = await open(fileURLToPath(url), 'r')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw trustError(`cannot read signature ${url.href}: ${(error as Error).message}`, {url: url.href})
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw trustError(`signature ${url.href} is not a regular file`, {url: url.href})
    const buffer = Buffer.alloc(limit + 1)
    let length = 0
    for (;;) {
      const {bytesRead} = await handle.read(buffer, length, buffer.length - length, null)
      if (bytesRead === 0) break
      length += bytesRead
      if (length > limit) throw tooLarge(url, limit)
    }
    return new Uint8Array(buffer.subarray(0, length))
  } catch (error) {
    if (isStagexError(error)) throw error
    throw trustError(`cannot read signature ${url.href}: ${(error as Error).message}`, {url: url.href})
  } finally {
    await handle.close()
  }
}

async function readHttpSignature(url: URL, limit: number, timeoutMs: number): Promise<Uint8Array | undefined> {
  // A lookaside that cannot be reached is exit 7 (CI may retry), not a verdict on the image.
  const failed = (error: unknown): never => {
    if (isStagexError(error)) throw error
    throw unreachableError(
      `cannot fetch signature ${url.href}: ${describeNetworkError(error)}; without it the image cannot be trusted (try again later)`,
      {url: url.href},
    )
  }
  // A lookaside is public: no credentials go with it, to its host or to one a redirect names.
  const response = await requestFollowingRedirects(url, {headers: {}, idleTimeoutMs: timeoutMs}, undefined, url.origin).catch(failed)
  if (response.status === 404) {
    await response.discard()
    return undefined
  }
  if (response.status >= 500 || response.status === 429) {
    await response.discard()
    throw unreachableError(`lookaside answered HTTP ${response.status} for ${url.href}; try again later`, {url: url.href, status: response.status})
  }
  if (response.status !== 200) {
    await response.discard()
    throw trustError(
      `lookaside answered HTTP ${response.status} for ${url.href}; only 200 (a signature) or 404 (no more signatures) are understood`,
      {url: url.href, status: response.status},
    )
  }
  const declared = Number(response.header('content-length') ?? Number.NaN)
  if (declared > limit) {
    response.body.destroy()
    throw tooLarge(url, limit)
  }
  const chunks: Buffer[] = []
  let length = 0
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      length += chunk.length
      if (length > limit) {
        response.body.destroy()
        throw tooLarge(url, limit)
      }
      chunks.push(chunk)
    }
  } catch (error) {
    if (isStagexError(error)) throw error
    throw trustError(`reading signature ${url.href} failed: ${describeNetworkError(error)}`, {url: url.href})
  }
  return new Uint8Array(Buffer.concat(chunks, length))
}

/**
 * Reads every signature of an image from a lookaside, in order. Returns an empty list when
 * signature-1 does not exist; throws StagexError otherwise:
 *  - 'trust'     (exit 3): an HTTP status other than 200/404, a network or file-system error, or more
 *                than 128 signatures: we cannot know the full set of signatures, so no trust.
 *  - 'bad-input' (exit 4): a signature file over the size limit (unsafe input).
 *  - 'usage'     (exit 2): a lookaside that is not a file/http/https URL, a bad repository.
 */
export async function fetchSignatures(options: FetchSignaturesOptions): Promise<SignatureFile[]> {
  const limit = options.maxSignatureBytes ?? DEFAULT_MAX_SIGNATURE_BYTES
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOOKASIDE_TIMEOUT_MS
  const signatures: SignatureFile[] = []
  for (let index = 1; index <= MAX_LOOKASIDE_SIGNATURES + 1; index++) {
    const url = signatureUrl(options.lookaside, options.repository, options.manifestDigest, index)
    const bytes =
      url.protocol === 'file:' ? await readFileSignature(url, limit) : await readHttpSignature(url, limit, timeoutMs)
    if (bytes === undefined) return signatures
    if (index > MAX_LOOKASIDE_SIGNATURES)
      throw trustError(
        `lookaside has more than ${MAX_LOOKASIDE_SIGNATURES} signatures for ${options.repository}@${options.manifestDigest}; ` +
          'assuming a server error',
        {url: url.href},
      )
    signatures.push({name: `signature-${index}`, bytes, url: url.href})
  }
  return signatures // not reached: the loop returns or throws
}
