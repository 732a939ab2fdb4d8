// The record stage and publishing. build.json: what went in (profile hash, every input digest and
// signer), what each stage made (sha256). Its bytes depend only on the inputs: no absolute paths, no
// times, no host facts. Publishing moves the outputs into --out together, build.json last.
import {mkdir, readFile, rename, rm, stat} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'
import {sweepLeftovers} from '../cleanup/leftovers.js'
import {makeOwnedFolder} from '../cleanup/owned-folder.js'
import {usageError} from '../errors.js'
import type {ImageOutputs, ImageStages, OutputFile, RecordedSeed} from '../image/outputs.js'
import type {Profile} from '../profile/types.js'
import {writeFileAtomically} from '../store/atomic.js'
import {DEFAULT_TAG} from '../oci/reference.js'
import {TOOL_VERSION} from '../version.js'
import {type Checks, type RecordedChecks, recordedChecks} from './checks.js'
import type {FetchedImage} from './fetch.js'
import type {PackageRole} from './packages.js'
import type {PreparedRoot} from './pipeline.js'
import type {Removal} from '../rootfs/prune.js'
import type {ShapeReport} from '../rootfs/shape.js'
import {makeRecipe, type Recipe} from './recipe.js'
import {buildSbom, SBOM_FILE, serializeSbom} from './sbom.js'
import type {Trusted} from './trust.js'

export const BUILD_RECORD_SCHEMA = 'stagex-image/build-record/v1'

export interface RecordedInput {
  role: PackageRole
  name: string
  identity: string
  tag?: string
  indexDigest?: string
  manifestDigest: string
  configDigest: string
  layers: {digest: string; diffId: string; size: number}[]
  signers: {fingerprint: string; name?: string}[]
}

export interface RecordedOutput {
  file: string
  size: number
  sha256: string
}

export interface BuildRecord {
  schema: typeof BUILD_RECORD_SCHEMA
  tool: {name: 'stagex-image'; version: string}
  profile: {name: string; sha256: string}
  sourceDateEpoch: number
  /** "none" when the profile has no trust: section (the images were NOT verified); else the threshold each input met. */
  trust: 'none' | {threshold: number}
  inputs: RecordedInput[]
  stages: {
    resolve: {sha256: string; images: number}
    trust: {sha256: string}
    fetch: {sha256: string; layers: number}
    flatten: {sha256: string; entries: number}
    shape: {sha256: string; entries: number} & Omit<ShapeReport, 'pruned'> & {pruned: Removal[]}
    /** Absent for a profile without kernel: (a root tree only). */
    kernel?: {package: string; sha256: string; configSha256: string; fragmentChecked: number; cmdline: string}
  } & ImageStages
  /** What the ELF closure and no-compiler checks saw (checks.ts): the exceptions the profile's keep: and allowMissing: made. */
  checks?: RecordedChecks
  /** The build seed every GUID and volume serial comes from, and what it is a hash of (src/image/seed.ts). */
  seed?: RecordedSeed
  /** The parsed profile and the bytes of the local files it references: enough to rebuild (recipe.ts). */
  recipe?: Recipe
  outputs: Record<string, RecordedOutput>
}

export function serializeRecord(record: BuildRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`
}

/** One image as the record, the lock, the SBOM and `pull` describe it. */
export function describeImage(p: FetchedImage, trusted: Trusted): RecordedInput {
  return {
    role: p.request.role,
    name: p.request.name,
    identity: p.request.identity,
    tag: p.request.digest ? undefined : (p.tag ?? DEFAULT_TAG),
    indexDigest: p.image.indexDigest,
    manifestDigest: p.image.manifestDigest,
    configDigest: p.image.configDigest,
    layers: p.layers.map((l) => ({digest: l.digest, diffId: l.diffId, size: l.size})),
    signers: trusted.signersOf(p.request.identity, p.image.manifestDigest),
  }
}

/** The outputs in the staging folder, with build.json written last. */
export interface Recorded {
  profile: Profile
  record: BuildRecord
  staging: string
  outputs: OutputFile[]
}

/** Stage 8: the SBOM and build.json, beside the outputs in the staging folder. */
export async function recordStage(root: PreparedRoot, image: ImageOutputs, staging: string, checks?: Checks): Promise<Recorded> {
  const {loaded, fetched, flattened, shaped, kernel} = root
  const {profile, sourceDateEpoch} = loaded
  const trusted = fetched.trusted
  const inputs = fetched.images.map((p) => describeImage(p, trusted))
  const outputs: OutputFile[] = [...image.outputs]
  const sbom = buildSbom({profileName: profile.name, profileSha256: profile.sha256, sourceDateEpoch, toolVersion: TOOL_VERSION, inputs})
  const sbomPath = join(staging, SBOM_FILE)
  const sbomWritten = await writeFileAtomically(sbomPath, Buffer.from(serializeSbom(sbom), 'utf8'))
  outputs.push({kind: 'sbom', path: sbomPath, size: sbomWritten.size, sha256: sbomWritten.sha256})
  const record: BuildRecord = {
    schema: BUILD_RECORD_SCHEMA,
    tool: {name: 'stagex-image', version: TOOL_VERSION},
    profile: {name: profile.name, sha256: profile.sha256},
    sourceDateEpoch,
    trust: trusted.result.mode === 'none' ? 'none' : {threshold: trusted.result.threshold},
    inputs,
    stages: {
      resolve: {sha256: trusted.resolved.sha256, images: trusted.resolved.packages.length},
      trust: {sha256: trusted.sha256},
      fetch: {sha256: fetched.sha256, layers: fetched.images.reduce((n, p) => n + p.layers.length, 0)},
      flatten: {sha256: flattened.sha256, entries: flattened.entries},
      shape: {
        sha256: shaped.sha256,
        entries: shaped.entries,
        files: shaped.report.files,
        dirs: shaped.report.dirs,
        symlinks: shaped.report.symlinks,
        users: shaped.report.users,
        groups: shaped.report.groups,
        homes: shaped.report.homes,
        init: shaped.report.init,
        pruned: shaped.report.pruned,
        droppedCapabilities: shaped.report.droppedCapabilities,
      },
      kernel: kernel && {
        package: kernel.package.request.name,
        sha256: kernel.sha256.image,
        configSha256: kernel.sha256.config,
        fragmentChecked: kernel.check.required,
        cmdline: kernel.cmdline,
      },
      ...image.stages,
    },
    checks: checks && recordedChecks(checks),
    seed: image.seed,
    recipe: await makeRecipe(profile),
    outputs: Object.fromEntries(outputs.map((o) => [o.kind, {file: basename(o.path), size: o.size, sha256: o.sha256}])),
  }
  const recordPath = join(staging, RECORD_FILE)
  const written = await writeFileAtomically(recordPath, Buffer.from(serializeRecord(record), 'utf8'))
  outputs.push({kind: 'record', path: recordPath, size: written.size, sha256: written.sha256})
  return {profile, record, staging, outputs}
}

export const RECORD_FILE = 'build.json'

export interface Published {
  profile: {name: string; path: string; cmdline: string; test: Profile['test']}
  outDir: string
  recordPath: string
  record: BuildRecord
  outputs: OutputFile[]
}

export const STAGING_PREFIX = '.stagex-build-'

/**
 * A staging folder inside `outDir` (same file system, so the outputs can be renamed into place);
 * `outDir` is refused before any work when it is not a folder we can write. The staging folder is
 * removed on SIGINT/SIGTERM (the caller removes it with removeOwnedFolder), and staging folders that
 * killed builds left in `outDir` are removed first (cleanup/leftovers.ts).
 */
export async function openStaging(outDir: string): Promise<{outDir: string; staging: string}> {
  const dir = resolve(outDir)
  try {
    await mkdir(dir, {recursive: true})
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), {code: 'ENOTDIR'})
    sweepLeftovers({dir, kind: 'marked-folders', prefixes: [STAGING_PREFIX], what: 'staging folder'})
    return {outDir: dir, staging: await makeOwnedFolder(dir, STAGING_PREFIX, 'staging folder')}
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'it is not a folder' : code === 'EACCES' || code === 'EROFS' ? 'it cannot be written' : (code ?? (error as Error).message)
    throw usageError(`--out ${outDir}: ${why}; give a folder the outputs can be written to`)
  }
}

/**
 * Moves the staged outputs into `outDir`, build.json last, then removes what the previous
 * build.json listed that this build did not write: build.json describes exactly the files beside it.
 */
export async function publish(recorded: Recorded, outDir: string): Promise<Published> {
  const previous = await previousOutputs(join(outDir, RECORD_FILE))
  const outputs = recorded.outputs.map((o) => ({...o}))
  const record = outputs.find((o) => o.kind === 'record')!
  for (const output of [...outputs.filter((o) => o !== record), record]) {
    const final = join(outDir, basename(output.path))
    await rename(output.path, final)
    output.path = final
  }
  const written = new Set(outputs.map((o) => basename(o.path)))
  for (const file of previous) if (!written.has(file)) await rm(join(outDir, file), {force: true})
  const {profile} = recorded
  return {
    profile: {name: profile.name, path: profile.path, cmdline: profile.kernel?.cmdline ?? '', test: profile.test},
    outDir,
    recordPath: record.path,
    record: recorded.record,
    outputs,
  }
}

/** File names the build.json in `outDir` lists (plain names only: a record never names a path elsewhere). */
async function previousOutputs(recordPath: string): Promise<string[]> {
  try {
    const old = JSON.parse(await readFile(recordPath, 'utf8')) as {outputs?: Record<string, {file?: unknown}>}
    return Object.values(old.outputs ?? {})
      .map((o) => o.file)
      .filter((f): f is string => typeof f === 'string' && f === basename(f) && f !== '' && f !== '.' && f !== '..')
  } catch {
    return []
  }
}
