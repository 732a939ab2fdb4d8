// Profile loader: YAML -> typed Profile. Every error names the file, line and column, and the field.
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {dirname, relative, resolve} from 'node:path'
import type {ErrorObject, ValidateFunction} from 'ajv'
import {isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode} from 'yaml'
import {didYouMean} from '../did-you-mean.js'
import {EIF_DEFAULT_CPUS, EIF_DEFAULT_MEMORY, NITRO_CMDLINE} from '../formats/eif.js'
import {SYSLINUX_ISO_REASON} from '../image/iso.js'
import {profileError, usageError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {resolveLookasideUrl} from '../trust/lookaside.js'
import {PROFILE_SCHEMA} from './schema.js'
import type {Profile, ProfileDir, ProfileFile, ProfileGroup, ProfileLocator, ProfileUser, RawProfile, RawTestStep} from './types.js'
import {validate as generatedValidate} from './validate.generated.js'
import type {ConsoleStep} from '../qemu/types.js'

/** PROFILE_SCHEMA (schema.ts) compiled ahead of time by ajv (scripts/profile-validator.ts): no ajv at start-up. */
const validate = generatedValidate as ValidateFunction<RawProfile>

export const DEFAULT_REGISTRY = 'docker.io/stagex'

/** Reads and validates a profile file. Throws a 'profile' StagexError (exit 2) on any problem. */
export async function loadProfile(file: string): Promise<Profile> {
  const path = resolve(file)
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw usageError(`${file}: cannot read the profile (${code === 'ENOENT' ? 'no such file' : code})`)
  }
  return parseProfile(bytes, path, file)
}

/** A profile is a page of YAML; anything this large is a mistake (or an attack on the parser). */
export const MAX_PROFILE_BYTES = 1024 * 1024
/** YAML aliases a profile may expand: enough for shared snippets, too few for an alias bomb. */
const MAX_ALIASES = 100

/** Parses profile bytes; `displayName` is how messages name the file (as the user typed it). */
export function parseProfile(bytes: Uint8Array, path: string, displayName = path): Profile {
  if (bytes.length > MAX_PROFILE_BYTES)
    throw profileError(`${displayName}: the profile is ${bytes.length} bytes; a profile is at most ${MAX_PROFILE_BYTES} bytes (files: source: can name large files)`)
  const text = Buffer.from(bytes).toString('utf8')
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})
  const at = (offset: number | undefined) => {
    if (offset === undefined) return `${displayName}`
    const {line, col} = lineCounter.linePos(offset)
    return `${displayName}:${line}:${col}`
  }
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!
    throw profileError(`${at(first.pos[0])}: invalid YAML: ${first.message.split('\n')[0]}`)
  }
  let raw: unknown
  try {
    raw = doc.toJS({maxAliasCount: MAX_ALIASES})
  } catch (error) {
    // The yaml library refuses documents whose aliases expand too far (a "billion laughs").
    throw profileError(`${displayName}: the YAML expands its aliases too far (${(error as Error).message}); write the values out`)
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw profileError(`${displayName}:1:1: a profile is a YAML mapping (name:, packages:, kernel:, ...)`)
  const locate: ProfileLocator = (fieldPath) => at(nodeFor(doc, fieldPath)?.range?.[0])

  if (!validate(raw)) {
    const messages = withoutOneOfBranches(validate.errors ?? []).map((e) => describeSchemaError(e, doc, at))
    throw profileError(messages.join('\n'), {problems: messages})
  }
  checkOutputs(raw, locate)
  const profileDir = dirname(path)
  const relativeTo = (p: string) => resolve(profileDir, p)
  const mode = (m: string | undefined, fallback: number) => (m === undefined ? fallback : Number.parseInt(m, 8))
  const files: ProfileFile[] = (raw.files ?? []).map((f) => {
    const common = {path: f.path, mode: mode(f.mode, 0o644), dirMode: mode(f.dirMode, 0o755), uid: f.uid ?? 0, gid: f.gid ?? 0}
    // The schema's oneOf admitted exactly one of the two.
    return f.source === undefined ? {...common, contents: f.contents!} : {...common, source: relativeTo(f.source)}
  })
  const dirs: ProfileDir[] = (raw.dirs ?? []).map((d) => ({path: d.path, mode: mode(d.mode, 0o755), uid: d.uid ?? 0, gid: d.gid ?? 0}))
  const users: ProfileUser[] = (raw.users ?? []).map((u) => ({
    name: u.name,
    uid: u.uid,
    gid: u.gid ?? u.uid,
    home: u.home ?? (u.uid === 0 ? '/root' : `/home/${u.name}`),
    shell: u.shell ?? '/bin/sh',
  }))
  const groups: ProfileGroup[] = (raw.groups ?? []).map((g) => ({name: g.name, gid: g.gid, members: g.members ?? []}))
  checkAccounts(users, groups, locate)
  return {
    path,
    displayName,
    dir: profileDir,
    sha256: `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest,
    name: raw.name,
    sourceDateEpoch: raw.sourceDateEpoch,
    registry: raw.registry ?? DEFAULT_REGISTRY,
    mirror: raw.mirror,
    source: raw.source === undefined ? undefined : relativeTo(raw.source.slice(4)),
    trust: raw.trust
      ? {
          keyring: raw.trust.keyring === undefined ? undefined : relativeTo(raw.trust.keyring),
          threshold: raw.trust.threshold ?? 2,
          lookaside: raw.trust.lookaside === undefined ? undefined : resolveLookasideUrl(raw.trust.lookaside, profileDir),
          legacy: raw.trust.legacy ?? false,
          policy: raw.trust.policy === undefined ? undefined : relativeTo(raw.trust.policy),
          registriesD: raw.trust.registriesD === undefined ? undefined : relativeTo(raw.trust.registriesD),
        }
      : undefined,
    packages: raw.packages,
    kernel: raw.kernel && {
      package: raw.kernel.package,
      config: raw.kernel.config === undefined ? undefined : relativeTo(raw.kernel.config),
      cmdline: raw.kernel.cmdline ?? 'console=ttyS0 panic=-1',
    },
    boot: {
      loader: raw.boot?.loader ?? 'none',
      isolinuxBin: raw.boot?.isolinuxBin,
      ldlinuxC32: raw.boot?.ldlinuxC32,
      isohdpfxBin: raw.boot?.isohdpfxBin,
      stub: raw.boot?.stub,
      packages: raw.boot?.packages ?? [],
      espSize: raw.boot?.espSize,
      syslinuxEfi: raw.boot?.syslinuxEfi,
      ldlinux: raw.boot?.ldlinux,
      stubPath: raw.boot?.stubPath,
      secureBoot: raw.boot?.secureBoot && {
        key: relativeTo(raw.boot.secureBoot.key),
        cert: relativeTo(raw.boot.secureBoot.cert),
        passphraseFile: raw.boot.secureBoot.passphraseFile === undefined ? undefined : relativeTo(raw.boot.secureBoot.passphraseFile),
        passphraseEnv: raw.boot.secureBoot.passphraseEnv,
      },
    },
    init: raw.init,
    files,
    dirs,
    symlinks: (raw.symlinks ?? []).map((l) => ({path: l.path, target: l.target})),
    users,
    groups,
    keep: raw.keep ?? [],
    allowMissing: raw.allowMissing ?? [],
    prune: raw.prune ?? 'default',
    initramfs: {compression: raw.initramfs?.compression ?? 'gzip', capabilities: raw.initramfs?.capabilities ?? 'refuse'},
    outputs: raw.outputs ?? ['kernel', 'initramfs'],
    iso: {uefi: raw.iso?.uefi ?? true},
    eif: {
      memoryBytes: raw.eif?.memory === undefined ? EIF_DEFAULT_MEMORY : memorySize(raw.eif.memory),
      cpus: raw.eif?.cpus ?? EIF_DEFAULT_CPUS,
      cmdline: raw.eif?.cmdline ?? NITRO_CMDLINE,
      ramdisks: raw.eif?.ramdisks ?? 'single',
      // Where nitro-cli installs them (/usr/share/nitro_enclaves/blobs); a path in boot.packages.
      bootstrap: {
        init: (raw.eif?.bootstrap?.init ?? 'usr/share/nitro_enclaves/blobs/init').replace(/^\/+/, ''),
        nsm: (raw.eif?.bootstrap?.nsm ?? 'usr/share/nitro_enclaves/blobs/nsm.ko').replace(/^\/+/, ''),
      },
      cmd: raw.eif?.cmd ?? [raw.init ?? '/init'],
      env: raw.eif?.env ?? [],
    },
    test: {timeout: raw.test?.timeout ?? 120, steps: (raw.test?.steps ?? []).map(consoleStepOf), failOn: raw.test?.['fail-on']},
    locate,
    relativePath: (p: string) => relative(profileDir, p),
  }
}

function nodeFor(doc: Document, fieldPath: readonly (string | number)[]): YamlNode | undefined {
  const node = fieldPath.length === 0 ? doc.contents : doc.getIn(fieldPath, true)
  return (node ?? undefined) as YamlNode | undefined
}

/** Key node of `name` inside the mapping at `fieldPath`, to point at an unknown field itself. */
function keyNodeFor(doc: Document, fieldPath: readonly (string | number)[], name: string): YamlNode | undefined {
  const parent = nodeFor(doc, fieldPath)
  if (!isMap(parent)) return undefined
  const pair = parent.items.find((p) => (p.key as {value?: unknown})?.value === name)
  return pair?.key as YamlNode | undefined
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return []
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part))
}

const fieldName = (path: (string | number)[]) =>
  path.length === 0 ? '(top level)' : path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')

function describeSchemaError(error: ErrorObject, doc: Document, at: (offset: number | undefined) => string): string {
  const path = pointerToPath(error.instancePath)
  const field = fieldName(path)
  const node = nodeFor(doc, path)
  const where = at(node?.range?.[0])
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = (error.params as {additionalProperty: string}).additionalProperty
      const keyWhere = at(keyNodeFor(doc, path, name)?.range?.[0] ?? node?.range?.[0])
      const full = fieldName([...path, name])
      const allowed = allowedKeys(path)
      const guess = didYouMean(name, allowed)
      return `${keyWhere}: unknown field "${full}"${guess ? `: ${guess}` : ''} (allowed here: ${allowed.join(', ')})`
    }
    case 'required': {
      const name = (error.params as {missingProperty: string}).missingProperty
      return `${where}: missing required field "${fieldName([...path, name])}"`
    }
    case 'type':
      return `${where}: field "${field}" must be ${withArticle((error.params as {type: string}).type)}${describeActual(node)}${unquotedModeHint(path, node)}`
    case 'enum': {
      const allowed = (error.params as {allowedValues: unknown[]}).allowedValues
      const value = isScalar(node) ? node.value : undefined
      const guess = typeof value === 'string' ? didYouMean(value, allowed.map(String)) : undefined
      return `${where}: field "${field}" must be one of: ${allowed.join(', ')}${guess ? `, not ${JSON.stringify(value)}: ${guess}` : ''}`
    }
    case 'pattern':
      return `${where}: field "${field}" has an invalid value (${patternHint(path)})`
    case 'oneOf':
      return `${where}: "${field}" needs exactly one of "contents" (the bytes) or "source" (a host file or folder)`
    case 'uniqueItems':
      return `${where}: field "${field}" lists an item twice`
    case 'maximum':
    case 'minimum':
      return `${where}: field "${field}" ${error.message ?? 'is out of range'}${field.endsWith('uid') || field.endsWith('gid') ? ' (an id is 0..4294967294)' : ''}`
    case 'minItems':
      return `${where}: field "${field}" must list at least ${(error.params as {limit: number}).limit} item(s)`
    default:
      return `${where}: field "${field}" ${error.message ?? 'is invalid'}`
  }
}

/** The keys the schema allows in the mapping at `path` (an item of a list: its items' keys). */
function allowedKeys(path: (string | number)[]): string[] {
  let schema: unknown = PROFILE_SCHEMA
  for (const part of path) {
    const s = schema as {properties?: Record<string, unknown>; items?: unknown}
    schema = typeof part === 'number' ? s.items : s.properties?.[part]
  }
  return Object.keys((schema as {properties?: object})?.properties ?? {})
}

/**
 * An unquoted mode is a YAML number, and YAML versions disagree on it: `0755` is the decimal 755 to
 * YAML 1.2 (our parser) and octal 493 to YAML 1.1 tools. Neither reading is taken: the user is told
 * to quote the digits, so the mode is always the octal one they wrote.
 */
function unquotedModeHint(path: (string | number)[], node: YamlNode | undefined): string {
  const last = path.at(-1)
  if ((last !== 'mode' && last !== 'dirMode') || !isScalar(node) || typeof node.value !== 'number') return ''
  const written = node.source ?? String(node.value)
  const digits = /^(?:0o?)?([0-7]{3,4})$/.exec(written)?.[1]
  const quoted = digits === undefined ? '"0755"' : `"${digits.padStart(4, '0')}"`
  return (
    `: quote it, ${last}: ${quoted}. Unquoted, ${written} is a YAML number, which YAML 1.2 (this tool's parser) and ` +
    'YAML 1.1 tools read differently (0755 is 755 to one and octal 493 to the other), so a mode is an octal string'
  )
}

const withArticle = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`)

function describeActual(node: YamlNode | undefined): string {
  if (node === undefined) return ''
  if (isSeq(node)) return ', not a list'
  if (isMap(node)) return ', not a mapping'
  const value = (node as {value?: unknown}).value
  return value === null ? ', not empty' : `, not ${JSON.stringify(value)}`
}

function patternHint(path: (string | number)[]): string {
  const last = path.filter((p) => typeof p === 'string').at(-1)
  if ((path[0] === 'users' || path[0] === 'groups') && (last === 'name' || last === 'members'))
    return 'a POSIX portable name: letters, digits, ".", "_" and "-", not starting with "-", not all digits, at most 32 characters'
  switch (last) {
    case 'name':
      return 'lowercase letters, digits, ".", "_" and "-", at most 63 characters'
    case 'home':
    case 'shell':
      return 'an absolute path without ":" or a line break'
    case 'target':
      return 'a link target without a NUL byte'
    case 'source':
      return 'oci:DIR'
    case 'keep':
    case 'init':
    case 'path':
      return 'an absolute path starting with "/"'
    case 'mode':
      return 'an octal mode as a string, e.g. "0755"'
    case 'espSize':
      return 'a size such as 64M'
    case 'passphraseEnv':
      return "an environment variable's name: letters, digits and \"_\", not starting with a digit"
    default:
      return 'see the profile schema'
  }
}

/** ajv reports each failed oneOf branch (a missing "contents", a missing "source") besides the oneOf itself: keep the oneOf. */
function withoutOneOfBranches(errors: ErrorObject[]): ErrorObject[] {
  const oneOfs = errors.filter((e) => e.keyword === 'oneOf').map((e) => `${e.schemaPath}/`)
  return errors.filter((e) => !oneOfs.some((prefix) => e.schemaPath.startsWith(prefix)))
}

/** What the schema cannot say about users and groups: each name and id once. */
function checkAccounts(users: ProfileUser[], groups: ProfileGroup[], locate: ProfileLocator): void {
  const once = <T>(items: T[], key: (item: T) => string | number, field: string, what: string) => {
    const first = new Map<string | number, number>()
    for (const [i, item] of items.entries()) {
      const k = key(item)
      const j = first.get(k)
      if (j !== undefined)
        throw profileError(`${locate([field, i])}: ${what} ${JSON.stringify(k)} is given twice (first at ${locate([field, j])})`)
      first.set(k, i)
    }
  }
  once(users, (u) => u.name, 'users', 'user name')
  once(users, (u) => u.uid, 'users', 'uid')
  once(groups, (g) => g.name, 'groups', 'group name')
  once(groups, (g) => g.gid, 'groups', 'gid')
}

/** What the schema cannot say: outputs that need a loader, a stub, or that we do not write. */
function checkOutputs(raw: RawProfile, locate: ProfileLocator): void {
  const outputs = raw.outputs ?? []
  const at = (kind: string) => locate(['outputs', outputs.indexOf(kind as never)])
  const loader = raw.boot?.loader ?? 'none'
  if (outputs.includes('qcow2'))
    throw profileError(
      `${at('qcow2')}: the qcow2 output is not offered: stagex-image writes only bytes it can reproduce, and it has no qcow2 writer of its own ` +
        '(qemu-img\'s output depends on its version). Use the raw disk ("disk"); convert it yourself if you need qcow2: qemu-img convert -O qcow2 disk.raw disk.qcow2',
    )
  for (const kind of ['disk', 'esp'] as const)
    if (outputs.includes(kind) && loader === 'none')
      throw profileError(`${at(kind)}: the "${kind}" output needs a boot loader on the ESP: set boot.loader to syslinux or uki`)
  // The ISO's UEFI entry is the ESP; only an ESP holding a UKI starts from optical media (src/image/iso.ts).
  if (outputs.includes('iso') && raw.iso?.uefi !== false && loader !== 'uki')
    throw profileError(
      `${at('iso')}: the "iso" output boots UEFI from its ESP and needs boot.loader uki (not ${loader}): ` +
        (loader === 'syslinux' ? `${SYSLINUX_ISO_REASON}. ` : '') +
        'Set boot.loader to uki, or iso: {uefi: false} for a BIOS-only ISO (isolinux boots the kernel and initramfs with any loader)',
    )
  if (loader === 'uki' && !raw.boot?.stub)
    throw profileError(`${locate(['boot', 'loader'])}: boot.loader uki needs boot.stub, the package holding the EFI stub (e.g. user-systemd-stub)`)
  if (raw.boot?.secureBoot && loader !== 'uki')
    throw profileError(
      `${locate(['boot', 'secureBoot'])}: boot.secureBoot signs the UKI, and needs boot.loader uki (not ${loader}): ` +
        'only a UKI holds the kernel, the initramfs and the command line inside the one signed file; ' +
        (loader === 'syslinux' ? 'with syslinux, Secure Boot would check syslinux.efi alone, and anyone could change what it loads' : 'without a loader nothing is signed'),
    )
  if (raw.boot?.secureBoot?.passphraseFile !== undefined && raw.boot.secureBoot.passphraseEnv !== undefined)
    throw profileError(`${locate(['boot', 'secureBoot', 'passphraseEnv'])}: give the passphrase one way: boot.secureBoot.passphraseFile or boot.secureBoot.passphraseEnv, not both`)
  if (outputs.includes('uki') && !raw.boot?.stub)
    throw profileError(`${at('uki')}: the "uki" output needs boot.stub, the package holding the EFI stub (e.g. user-systemd-stub)`)
}

/** "512M" as bytes (the schema admits digits and an optional K, M or G). */
function memorySize(text: string): number {
  const unit = {K: 1024, M: 1024 ** 2, G: 1024 ** 3}[text.slice(-1)] ?? 1
  return Number(unit === 1 ? text : text.slice(0, -1)) * unit
}

/** A test step from YAML (`expect-exit`) as the harness takes it (expectExit). */
const consoleStepOf = (step: RawTestStep): ConsoleStep => ('expect-exit' in step ? {expectExit: step['expect-exit']} : step)
