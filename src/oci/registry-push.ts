// Writing to a registry (the OCI distribution API's push side): blobs by monolithic upload (POST
// then PUT ?digest=), skipped when the registry has them (HEAD), and a manifest PUT by tag. The
// registry's Docker-Content-Digest must be the digest we computed. Bodies stream from files.
import {createReadStream} from 'node:fs'
import {Readable} from 'node:stream'
import {badInputError, unreachableError, usageError} from '../errors.js'
import {type Authenticator, type Credentials, createAuthenticator} from './auth.js'
import type {Digest} from './digest.js'
import {describeNetworkError, requestFollowingRedirects} from './http.js'
import {registryBaseUrl, type RegistryLocation} from './registry.js'

type Body = NonNullable<RequestInit['body']>

export interface RegistryWriter {
  /** Uploads a blob unless the registry has it; returns whether bytes were sent. */
  pushBlob(digest: Digest, size: number, body: {file: string} | {bytes: Uint8Array}): Promise<boolean>
  /** PUT of a manifest under a tag (or its digest); returns the digest the registry names it by. */
  putManifest(reference: string, bytes: Uint8Array, mediaType: string): Promise<Digest>
}

export interface WriterOptions {
  /** Token services on another origin that the caller vouches for as this registry's (tests: an issuer on another port). */
  tokenOrigins?: readonly string[]
}

export function openRegistryWriter(location: RegistryLocation, credentials?: Credentials, options: WriterOptions = {}): RegistryWriter {
  const base = registryBaseUrl(location.registry)
  const origin = new URL(base).origin
  const what = `registry ${location.registry} ${location.repository}`
  const scope = `repository:${location.repository}:pull,push`
  const auth: Authenticator = createAuthenticator({
    registry: location.registry,
    credentialOrigins: [origin, ...(options.tokenOrigins ?? [])],
    credentials,
    fetchToken: (url, headers) => {
      const {authorization, ...rest} = headers
      return requestFollowingRedirects(url, {headers: rest}, authorization, url.origin)
    },
  })

  /** One request; a 401 is answered once (a token with push scope) and the request sent again. */
  async function send(method: string, url: string | URL, headers: Record<string, string> = {}, body?: () => Body): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const authorization = auth.header()
      let response: Response
      try {
        response = await fetch(url, {
          method,
          headers: {...headers, ...(authorization ? {authorization} : {})},
          body: body?.(),
          redirect: 'manual',
          ...(body ? {duplex: 'half'} : {}),
        } as RequestInit)
      } catch (error) {
        throw unreachableError(`${what}: ${origin} is unreachable (${describeNetworkError(error)}); check the address and try again`)
      }
      if (response.status === 401 && attempt === 0 && (await auth.answer(response.headers.get('www-authenticate'), scope))) {
        await response.body?.cancel()
        continue
      }
      if (response.status === 401 || response.status === 403) {
        await response.body?.cancel()
        throw usageError(`${what}: push denied (HTTP ${response.status}); add credentials that may push to it to your Docker config`)
      }
      if (response.status >= 500) {
        const text = await response.text().catch(() => '')
        throw unreachableError(`${what}: ${method} ${new URL(url).pathname}: HTTP ${response.status} ${text.slice(0, 200)}; try again later`)
      }
      return response
    }
  }

  const api = (path: string) => `${base}/v2/${location.repository}/${path}`

  async function refuse(response: Response, doing: string): Promise<never> {
    const text = await response.text().catch(() => '')
    throw badInputError(`${what}: ${doing}: HTTP ${response.status} ${text.trim().slice(0, 300)}`)
  }

  return {
    async pushBlob(digest, size, body) {
      const head = await send('HEAD', api(`blobs/${digest}`))
      await head.body?.cancel()
      if (head.ok) return false
      const started = await send('POST', api('blobs/uploads/'), {'content-length': '0'})
      await started.body?.cancel()
      const location = started.headers.get('location')
      if (started.status !== 202 || !location) return refuse(started, `starting the upload of ${digest}`)
      const url = new URL(location, base)
      url.searchParams.set('digest', digest)
      const stream = () =>
        ('file' in body ? Readable.toWeb(createReadStream(body.file)) : new Blob([Buffer.from(body.bytes)]).stream()) as unknown as Body
      const put = await send('PUT', url, {'content-type': 'application/octet-stream', 'content-length': String(size)}, stream)
      if (put.status !== 201) return refuse(put, `uploading ${digest}`)
      await put.body?.cancel()
      return true
    },
    async putManifest(reference, bytes, mediaType) {
      const response = await send('PUT', api(`manifests/${reference}`), {'content-type': mediaType}, () => Buffer.from(bytes) as unknown as Body)
      if (response.status !== 201) return refuse(response, `storing the manifest as ${reference}`)
      await response.body?.cancel()
      return response.headers.get('docker-content-digest') as Digest
    },
  }
}
