// Reading an existing containers/image set-up: policy.json (containers-policy.json(5)) for the keys
// a repository's `signedBy` requirement names, and registries.d (containers-registries.d(5)) for
// its lookaside. The threshold is ours: containers/image accepts one good signature.
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {parse as parseYaml} from 'yaml'
import {trustError, usageError} from '../errors.js'
import {canonicalRepository, parseRegistryReference} from '../oci/reference.js'
import {type Keyring, readKeyring} from './keyring.js'

export type PolicyRequirement =
  | {type: 'reject'}
  | {type: 'insecureAcceptAnything'}
  | {type: 'signedBy'; keyType: string; keyPath?: string; keyPaths?: string[]; keyData?: string; signedIdentity?: Record<string, unknown>}
  | {type: 'sigstoreSigned' | 'signedBaseLayer'; [key: string]: unknown}

export interface ContainersPolicy {
  default: PolicyRequirement[]
  transports: Record<string, Record<string, PolicyRequirement[]>>
}

type Json = Record<string, unknown>
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

function onlyKeys(value: Json, allowed: string[], where: string): void {
  for (const key of Object.keys(value)) if (!allowed.includes(key)) throw usageError(`${where}: unknown field "${key}"`)
}

const SIGNED_BY_KEY_TYPES = ['GPGKeys', 'signedByGPGKeys', 'X509Certificates', 'signedByX509CAs']

function readRequirement(value: unknown, where: string): PolicyRequirement {
  if (!isObject(value) || typeof value.type !== 'string') throw usageError(`${where}: a requirement is an object with a "type"`)
  switch (value.type) {
    case 'reject':
    case 'insecureAcceptAnything':
      onlyKeys(value, ['type'], where)
      return {type: value.type}
    case 'signedBy': {
      onlyKeys(value, ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity'], where)
      if (typeof value.keyType !== 'string' || !SIGNED_BY_KEY_TYPES.includes(value.keyType))
        throw usageError(`${where}: signedBy keyType must be one of ${SIGNED_BY_KEY_TYPES.join(', ')}`)
      const sources = ['keyPath', 'keyPaths', 'keyData'].filter((key) => key in value)
      if (sources.length !== 1) throw usageError(`${where}: signedBy needs exactly one of keyPath, keyPaths, keyData`)
      if ('keyPath' in value && typeof value.keyPath !== 'string') throw usageError(`${where}: keyPath is not a string`)
      if ('keyData' in value && typeof value.keyData !== 'string') throw usageError(`${where}: keyData is not a string`)
      if ('keyPaths' in value && (!Array.isArray(value.keyPaths) || value.keyPaths.length === 0 || !value.keyPaths.every((p) => typeof p === 'string')))
        throw usageError(`${where}: keyPaths is not a list of paths`)
      if ('signedIdentity' in value && (!isObject(value.signedIdentity) || typeof value.signedIdentity.type !== 'string'))
        throw usageError(`${where}: signedIdentity is not an object with a "type"`)
      return value as PolicyRequirement
    }
    case 'sigstoreSigned':
    case 'signedBaseLayer':
      return value as PolicyRequirement
    default:
      throw usageError(`${where}: unknown requirement type "${value.type}"`)
  }
}

function readRequirements(value: unknown, where: string): PolicyRequirement[] {
  if (!Array.isArray(value) || value.length === 0) throw usageError(`${where}: a non-empty list of requirements is needed`)
  return value.map((item, index) => readRequirement(item, `${where}[${index}]`))
}

/** Parses policy.json strictly: unknown fields and unknown requirement types are errors (usage). */
export function parseContainersPolicy(text: string, where = 'policy.json'): ContainersPolicy {
  let top: unknown
  try {
    top = JSON.parse(text)
  } catch (error) {
    throw usageError(`${where}: not JSON (${(error as Error).message})`)
  }
  if (!isObject(top)) throw usageError(`${where}: not a JSON object`)
  onlyKeys(top, ['default', 'transports'], where)
  const policy: ContainersPolicy = {default: readRequirements(top.default, `${where}: default`), transports: {}}
  if (top.transports !== undefined) {
    if (!isObject(top.transports)) throw usageError(`${where}: transports is not an object`)
    for (const [transport, scopes] of Object.entries(top.transports)) {
      if (!isObject(scopes)) throw usageError(`${where}: transports.${transport} is not an object`)
      policy.transports[transport] = {}
      for (const [scope, requirements] of Object.entries(scopes))
        policy.transports[transport]![scope] = readRequirements(requirements, `${where}: transports.${transport}["${scope}"]`)
    }
  }
  return policy
}

/**
 * The docker: scopes that can match an image, most specific first, as containers/image forms them:
 * the full reference (when it has a tag or digest), the repository, each parent namespace, the
 * host[:port], then `*.` wildcards of the host's parent domains (port dropped).
 */
export function dockerScopes(reference: string): string[] {
  const ref = parseRegistryReference(reference, 'image reference')
  const repository = canonicalRepository(ref)
  const scopes: string[] = []
  if (ref.digest) scopes.push(`${repository}@${ref.digest}`)
  else if (ref.tag) scopes.push(`${repository}:${ref.tag}`)
  for (let name = repository; ; ) {
    scopes.push(name)
    const slash = name.lastIndexOf('/')
    if (slash < 0) break
    name = name.slice(0, slash)
  }
  let host = ref.registry.replace(/:\d+$/, '')
  for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.')) {
    host = host.slice(dot + 1)
    scopes.push(`*.${host}`)
  }
  return scopes
}

/** The requirements that apply to a docker: image, and the scope they came from ("" = transport default, "default"). */
export function dockerRequirements(policy: ContainersPolicy, reference: string): {scope: string; requirements: PolicyRequirement[]} {
  const docker = policy.transports.docker ?? {}
  for (const scope of dockerScopes(reference)) {
    const found = docker[scope]
    if (found) return {scope, requirements: found}
  }
  if (docker['']) return {scope: '', requirements: docker['']}
  return {scope: 'default', requirements: policy.default}
}

// ---------------------------------------------------------------------------------------------
// registries.d

export interface RegistriesSection {
  lookaside?: string
}

export interface RegistriesD {
  defaultDocker?: RegistriesSection
  docker: Record<string, RegistriesSection>
}

function readSection(value: unknown, where: string): RegistriesSection {
  if (value === null || value === undefined) return {}
  if (!isObject(value)) throw usageError(`${where}: not a mapping`)
  // "sigstore" is the old name of "lookaside"; the newer name wins when both are there.
  const url = value.lookaside ?? value.sigstore
  if (url !== undefined && typeof url !== 'string') throw usageError(`${where}: lookaside is not a string`)
  return url === undefined ? {} : {lookaside: url}
}

/**
 * Merges registries.d files ({name, text}, e.g. every *.yaml of the folder). As the man page
 * requires, one scope (or default-docker) may be configured in one file only.
 */
export function parseRegistriesD(files: ReadonlyArray<{name: string; text: string}>): RegistriesD {
  const config: RegistriesD = {docker: {}}
  const owner = new Map<string, string>()
  for (const file of files) {
    let top: unknown
    try {
      top = parseYaml(file.text)
    } catch (error) {
      throw usageError(`${file.name}: not YAML (${(error as Error).message})`)
    }
    if (top === null || top === undefined) continue
    if (!isObject(top)) throw usageError(`${file.name}: not a YAML mapping`)
    if (top['default-docker'] !== undefined) {
      if (owner.has('default-docker')) throw usageError(`${file.name}: default-docker is already configured in ${owner.get('default-docker')}`)
      owner.set('default-docker', file.name)
      config.defaultDocker = readSection(top['default-docker'], `${file.name}: default-docker`)
    }
    if (top.docker !== undefined && top.docker !== null) {
      if (!isObject(top.docker)) throw usageError(`${file.name}: docker is not a mapping`)
      for (const [scope, section] of Object.entries(top.docker)) {
        if (owner.has(scope)) throw usageError(`${file.name}: docker scope ${scope} is already configured in ${owner.get(scope)}`)
        owner.set(scope, file.name)
        config.docker[scope] = readSection(section, `${file.name}: docker["${scope}"]`)
      }
    }
  }
  return config
}

const LOOKASIDE_SCHEMES = /^(file|https?):\/\/./

/** The lookaside for an image: the most specific docker scope, else default-docker; undefined when none. */
export function lookasideFor(config: RegistriesD, reference: string): string | undefined {
  let section: RegistriesSection | undefined
  let where = 'default-docker'
  for (const scope of dockerScopes(reference)) {
    if (config.docker[scope]) {
      section = config.docker[scope]
      where = scope
      break
    }
  }
  section ??= config.defaultDocker
  const url = section?.lookaside
  if (url === undefined) return undefined
  if (!LOOKASIDE_SCHEMES.test(url)) throw usageError(`registries.d ${where}: lookaside "${url}" is not a file://, http:// or https:// URL`)
  return url
}

export async function readRegistriesDir(folder: string): Promise<RegistriesD> {
  const names = (await readdir(folder)).filter((name) => name.endsWith('.yaml')).sort()
  return parseRegistriesD(await Promise.all(names.map(async (name) => ({name: join(folder, name), text: await readFile(join(folder, name), 'utf8')}))))
}

// ---------------------------------------------------------------------------------------------

export interface ContainersTrust {
  keyring: Keyring
  lookaside?: string
  /** The policy.json scope that supplied the keys. */
  scope: string
}

/**
 * The keyring (every signedBy GPGKeys requirement's keys, together) and lookaside that an existing
 * containers/image set-up gives a repository. Fails (trust) when the policy rejects the image, or
 * asks for no GPG signatures: we do not build from images nobody signed.
 */
export async function containersTrustFor(options: {
  policyPath: string
  registriesDir?: string
  /** e.g. docker.io/stagex/core-busybox (a tag or digest makes more specific scopes apply). */
  reference: string
}): Promise<ContainersTrust> {
  const policy = parseContainersPolicy(await readFile(options.policyPath, 'utf8'), options.policyPath)
  const {scope, requirements} = dockerRequirements(policy, options.reference)
  const name = canonicalRepository(parseRegistryReference(options.reference))
  const label = scope === 'default' ? 'the default policy' : scope === '' ? 'the docker transport default' : `scope "${scope}"`
  if (requirements.some((requirement) => requirement.type === 'reject'))
    throw trustError(`${options.policyPath}: ${label} rejects ${name}`)
  const signedBy = requirements.filter((requirement) => requirement.type === 'signedBy') as Extract<PolicyRequirement, {type: 'signedBy'}>[]
  if (signedBy.length === 0)
    throw trustError(`${options.policyPath}: ${label} requires no GPG signatures for ${name}; stagex-image needs maintainer keys`)
  const chunks: Uint8Array[] = []
  for (const requirement of signedBy) {
    if (requirement.keyType !== 'GPGKeys')
      throw trustError(`${options.policyPath}: ${label}: keyType ${requirement.keyType} is not supported (only GPGKeys)`)
    const paths = requirement.keyPath !== undefined ? [requirement.keyPath] : (requirement.keyPaths ?? [])
    for (const path of paths) {
      try {
        chunks.push(await readFile(path))
      } catch (error) {
        throw usageError(`${options.policyPath}: cannot read key file ${path}: ${(error as Error).message}`)
      }
    }
    if (requirement.keyData !== undefined) chunks.push(Buffer.from(requirement.keyData, 'base64'))
  }
  const keyring = await readKeyring(chunks, `${options.policyPath} (${label})`)
  const lookaside = options.registriesDir ? lookasideFor(await readRegistriesDir(options.registriesDir), options.reference) : undefined
  return {keyring, lookaside, scope}
}
