// Registry authentication: credentials from the Docker config, the bearer-token flow that Docker
// Hub and quay use (401 + WWW-Authenticate: Bearer realm=...,service=...,scope=...), and basic auth.
import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {isStagexError, unreachableError, usageError} from '../errors.js'
import type {HttpResponse} from './http.js'

export interface Credentials {
  username: string
  password: string
}

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** The keys `docker login` may have written for a registry host (Docker Hub has a legacy URL). */
function configKeysFor(registry: string): string[] {
  if (registry === 'docker.io')
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io', 'https://registry-1.docker.io']
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v2/`, `http://${registry}/v2/`, `https://${registry}/v1/`]
}

/**
 * Credentials for `registry` from `$DOCKER_CONFIG/config.json` (default ~/.docker/config.json),
 * `auths` entries only. Credential helpers (`credsStore`, `credHelpers`) are not run: a tool that
 * builds signed images should not execute programs named in a config file.
 */
export async function credentialsFor(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const dir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker')
  const path = join(dir, 'config.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return undefined
  }
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch (error) {
    throw usageError(`${path}: not valid JSON (${(error as Error).message})`)
  }
  const auths = (config as {auths?: Record<string, {auth?: string; username?: string; password?: string}>})?.auths
  if (!auths || typeof auths !== 'object') return undefined
  for (const key of configKeysFor(registry)) {
    const entry = auths[key]
    if (!entry || typeof entry !== 'object') continue
    if (typeof entry.username === 'string' && typeof entry.password === 'string')
      return {username: entry.username, password: entry.password}
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon < 0) throw usageError(`${path}: auths["${key}"].auth is not base64 of "user:password"`)
      return {username: decoded.slice(0, colon), password: decoded.slice(colon + 1)}
    }
  }
  return undefined
}

/** Parses a WWW-Authenticate header: `Bearer realm="...",service="...",scope="..."` (several challenges allowed). */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = []
  // auth-param values are tokens or quoted strings; a new challenge starts with a bare scheme word.
  const tokenPattern = /\s*([A-Za-z][A-Za-z0-9._~+/-]*)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?\s*,?/y
  let current: Challenge | undefined
  let position = 0
  while (position < header.length) {
    tokenPattern.lastIndex = position
    const match = tokenPattern.exec(header)
    if (!match || match[0] === '') break
    position = tokenPattern.lastIndex
    const [, name, quoted, bare] = match
    if (quoted === undefined && bare === undefined) {
      // A bare word: a new scheme. (token68 credentials after a scheme are not used by registries.)
      current = {scheme: name!.toLowerCase(), params: {}}
      challenges.push(current)
      continue
    }
    if (current) current.params[name!.toLowerCase()] = quoted === undefined ? bare! : quoted.replace(/\\(.)/g, '$1')
  }
  return challenges
}

export const basicAuthorization = (credentials: Credentials) =>
  `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`

/** What the registry client needs from authentication: a header, and a way to earn one after a 401. */
export interface Authenticator {
  /** The Authorization header to send to the registry itself (never to a redirect target elsewhere). */
  header(): string | undefined
  /**
   * Called with a 401 response's WWW-Authenticate header; returns true when it obtained something
   * new to try (a token, or basic credentials), false when another attempt would get the same 401.
   */
  answer(challengeHeader: string | null, scope: string): Promise<boolean>
}

export interface AuthenticatorOptions {
  registry: string
  /**
   * The origins (scheme, host, port) that may see basic credentials: the registry's own, and a token
   * service known to be the registry's. Any other realm gets an anonymous token request.
   */
  credentialOrigins: readonly string[]
  credentials?: Credentials
  /** Sends a token request (the registry client's fetch with its retries). */
  fetchToken: (url: URL, headers: Record<string, string>) => Promise<HttpResponse>
}

/** A token answer is a small JSON document; a larger one is refused. */
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024

/** Why a token service refused, and what to do; it names the user, never a secret. */
function tokenRefusedMessage(registry: string, realmOrigin: string, status: number, sent: Credentials | undefined, configured: boolean): string {
  const service = `registry ${registry}: the token service ${realmOrigin}`
  if (sent) return `${service} refused the credentials of "${sent.username}" (HTTP ${status}); check the password in your Docker config (DOCKER_CONFIG or ~/.docker/config.json)`
  if (configured)
    return `${service} requires credentials (HTTP ${status}), but it is not the registry's own origin, so your credentials were not sent to it`
  return `${service} requires credentials (HTTP ${status}); add them to your Docker config (DOCKER_CONFIG or ~/.docker/config.json)`
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const {registry, credentials} = options
  let authorization: string | undefined
  const answered = new Set<string>()

  async function requestToken(params: Record<string, string>, scope: string): Promise<string> {
    let realm: URL
    try {
      realm = new URL(params.realm ?? '')
    } catch {
      throw usageError(`registry ${registry}: its token realm ${JSON.stringify(params.realm)} is not a URL`)
    }
    if (params.service) realm.searchParams.set('service', params.service)
    for (const s of (params.scope ?? scope).split(' ').filter(Boolean)) realm.searchParams.append('scope', s)
    const headers: Record<string, string> = {accept: 'application/json'}
    // A registry names its token realm itself: one that points elsewhere (another host, port, or
    // plain http) must not learn the password, so that request goes anonymous.
    const sendsCredentials = credentials !== undefined && options.credentialOrigins.includes(realm.origin)
    if (sendsCredentials) headers.authorization = basicAuthorization(credentials)
    const response = await options.fetchToken(realm, headers)
    if (response.status === 401 || response.status === 403) {
      await response.discard()
      throw usageError(tokenRefusedMessage(registry, realm.origin, response.status, sendsCredentials ? credentials : undefined, credentials !== undefined))
    }
    if (!response.ok) {
      await response.discard()
      const problem = `registry ${registry}: the token service ${realm.origin} answered HTTP ${response.status}`
      throw response.status >= 500 || response.status === 429 ? unreachableError(`${problem}; try again later`) : usageError(problem)
    }
    let body: {token?: unknown; access_token?: unknown}
    try {
      body = JSON.parse((await response.read(MAX_TOKEN_RESPONSE_BYTES, `registry ${registry}: the token service ${realm.origin}`)).toString('utf8'))
    } catch (error) {
      if (isStagexError(error)) throw error
      throw usageError(`registry ${registry}: the token service ${realm.origin} did not answer JSON`)
    }
    if (body === null || typeof body !== 'object') throw usageError(`registry ${registry}: the token service ${realm.origin} answered no token`)
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : body.access_token
    if (typeof token !== 'string' || token === '') throw usageError(`registry ${registry}: the token service ${realm.origin} answered no token`)
    return token
  }

  return {
    header: () => authorization,
    async answer(challengeHeader, scope) {
      const challenges = parseChallenges(challengeHeader ?? '')
      const bearer = challenges.find((c) => c.scheme === 'bearer')
      if (bearer) {
        // One token request per distinct challenge: a second 401 for the same one means "denied".
        const key = `bearer ${bearer.params.realm} ${bearer.params.service} ${bearer.params.scope ?? scope}`
        if (answered.has(key)) return false
        answered.add(key)
        authorization = `Bearer ${await requestToken(bearer.params, scope)}`
        return true
      }
      if (challenges.some((c) => c.scheme === 'basic') && credentials) {
        if (answered.has('basic')) return false
        answered.add('basic')
        authorization = basicAuthorization(credentials)
        return true
      }
      return false
    },
  }
}
