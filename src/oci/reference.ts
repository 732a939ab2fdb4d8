// The one reference parser: docker-style image references and oci: layout references.
import {usageError} from '../errors.js'
import {type Digest, parseDigest} from './digest.js'

export const DOCKER_HUB = 'docker.io'
/** The tag a reference without one names, as docker and skopeo read it. */
export const DEFAULT_TAG = 'latest'

export interface RegistryReference {
  transport: 'docker'
  /** Registry host (and port), normalized: index.docker.io -> docker.io. */
  registry: string
  /** Repository path inside the registry, e.g. "stagex/core-busybox" ("library/x" for Hub's official images). */
  repository: string
  tag?: string
  digest?: Digest
}

export interface LayoutReference {
  transport: 'oci'
  /** Folder of an OCI image layout. */
  path: string
  /** Value of org.opencontainers.image.ref.name in the layout's index.json. */
  tag?: string
  digest?: Digest
}

export type ImageReference = RegistryReference | LayoutReference

const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const repositoryPattern = new RegExp(`^${component}(?:/${component})*$`)
const tagPattern = /^[\w][\w.-]{0,127}$/
const domainPattern = /^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/

function splitDigest(text: string, where: string): {rest: string; digest?: Digest} {
  const at = text.indexOf('@')
  if (at < 0) return {rest: text}
  return {rest: text.slice(0, at), digest: parseDigest(text.slice(at + 1), where)}
}

/** Splits `name:tag` at a colon after the last slash (a colon before it belongs to a registry port). */
function splitTag(text: string): {name: string; tag?: string} {
  const lastColon = text.lastIndexOf(':')
  if (lastColon <= text.lastIndexOf('/')) return {name: text}
  return {name: text.slice(0, lastColon), tag: text.slice(lastColon + 1)}
}

/** Parses `[registry/]repository[:tag][@sha256:...]`, with Docker's rules for what counts as a registry. */
export function parseRegistryReference(text: string, where = 'image reference'): RegistryReference {
  const {rest, digest} = splitDigest(text.trim(), `${where} "${text}"`)
  const {name, tag} = splitTag(rest)
  if (tag !== undefined && !tagPattern.test(tag)) throw usageError(`${where} "${text}": "${tag}" is not a valid tag`)
  const slash = name.indexOf('/')
  const first = slash < 0 ? '' : name.slice(0, slash)
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())
  let registry = hasRegistry ? first : DOCKER_HUB
  let repository = hasRegistry ? name.slice(slash + 1) : name
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`
  if (!domainPattern.test(registry)) throw usageError(`${where} "${text}": "${registry}" is not a valid registry host`)
  if (!repositoryPattern.test(repository))
    throw usageError(`${where} "${text}": "${repository}" is not a valid repository name (lowercase letters, digits, . _ - and /)`)
  return {transport: 'docker', registry, repository, tag, digest}
}

/** Parses `oci:PATH[:TAG][@sha256:...]`; the tag is whatever follows the last colon of the last path element. */
export function parseLayoutReference(text: string, where = 'image reference'): LayoutReference {
  if (!text.startsWith('oci:')) throw usageError(`${where} "${text}": an OCI layout reference starts with "oci:"`)
  const {rest, digest} = splitDigest(text.slice(4), `${where} "${text}"`)
  const {name: path, tag} = splitTag(rest)
  if (path === '') throw usageError(`${where} "${text}": the layout path is empty`)
  return {transport: 'oci', path, tag: tag === '' ? undefined : tag, digest}
}

export function parseImageReference(text: string, where = 'image reference'): ImageReference {
  if (text.startsWith('oci:')) return parseLayoutReference(text, where)
  if (text.startsWith('docker://')) return parseRegistryReference(text.slice('docker://'.length), where)
  return parseRegistryReference(text, where)
}

/** `docker.io/stagex/core-busybox`: the identity signatures name, without tag or digest. */
export function canonicalRepository(ref: RegistryReference): string {
  return `${ref.registry}/${ref.repository}`
}

export function formatReference(ref: ImageReference): string {
  const base = ref.transport === 'oci' ? `oci:${ref.path}` : canonicalRepository(ref)
  return `${base}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`
}
