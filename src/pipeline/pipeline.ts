// The pipeline driver: profile -> resolve -> fetch/trust -> flatten -> shape -> kernel -> initrd -> record.
// Each step is a function of the previous one's output; commands and tests call `build` alike.
import {mkdir, mkdtemp, rename, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {basename, join, resolve} from 'node:path'
import {profileError} from '../errors.js'
import type {ImageSource, ResolvedImage} from '../oci/source.js'
import {loadProfile} from '../profile/load.js'
import type {Profile} from '../profile/types.js'
import {writeImageOutputs} from '../image/outputs.js'
import {type KernelCheck, type KernelFiles, checkKernelConfig, describeMismatches, kernelFilesOf} from '../kernel/package.js'
import {treeDigest} from '../rootfs/digest.js'
import {type FlattenReport, flattenInto} from '../rootfs/flatten.js'
import {type ShapeReport, shapeTree} from '../rootfs/shape.js'
import {createTree, type Tree} from '../rootfs/tree.js'
import {writeFileAtomically} from '../store/atomic.js'
import {openSpool, type Spool} from '../store/spool.js'
import {TOOL_VERSION} from '../version.js'
import {type FetchEvent, fetchPackages} from './fetch.js'
import {type PackageRequest, packageRequests} from './packages.js'
import {type BuildRecord, BUILD_RECORD_SCHEMA, type RecordedInput, serializeRecord} from './record.js'
import {type TrustGate, trustGate} from './trust-gate.js'
import {buildSbom, SBOM_FILE, serializeSbom} from './sbom.js'
import {resolveSourceDateEpoch} from './source-date-epoch.js'

export interface BuildOptions {
  profilePath: string
  outDir: string
  /** Flag value; falls back to SOURCE_DATE_EPOCH, then the profile, then 1. */
  sourceDateEpoch?: number
  env?: NodeJS.ProcessEnv
  progress?: (message: string) => void
  /** Content store folder; default $XDG_CACHE_HOME/stagex-image. */
  store?: string
  /** Only the store and local layouts: no network. */
  offline?: boolean
  /** Build what `<profile>.lock.json` pins; fail when the profile or a tag disagrees with it. */
  locked?: boolean
  /** Pull the profile's registry from here (HOST[/PREFIX]); images keep their canonical identity. */
  mirror?: string
  /** `oci:DIR`, a folder of OCI layouts (as `pull --to` writes): overrides the profile's `source:`. */
  source?: string
  /** Download progress (bytes and images) of the fetch stage. */
  onFetch?: (event: FetchEvent) => void
  /** Warnings that must reach the user (an unverified build); default: stderr. */
  warn?: (message: string) => void
}

export interface BuildOutput {
  kind: string
  path: string
  size: number
  sha256: string
}

export interface BuildResult {
  profile: {name: string; path: string; cmdline: string; test: Profile['test']}
  outDir: string
  recordPath: string
  record: BuildRecord
  outputs: BuildOutput[]
}

export interface ResolvedPackage {
  request: PackageRequest
  source: ImageSource
  image: ResolvedImage
}

/** What every command that needs the image's root tree shares: resolve, trust, flatten, shape, kernel. */
export interface PreparedRoot {
  profile: Profile
  sourceDateEpoch: number
  packages: ResolvedPackage[]
  trust: TrustGate
  tree: Tree
  flattenReport: FlattenReport
  flattenSha: string
  flattenEntries: number
  shape: ShapeReport
  kernelPackage: ResolvedPackage
  kernel: KernelFiles
  kernelCheck: KernelCheck
  spool: Spool
}

/**
 * The stages up to the shaped tree and the kernel, in a work folder the caller removes.
 * The kernel fragment is checked but not enforced: `build` refuses a mismatch, `check` reports it.
 */
export async function prepareRoot(options: Omit<BuildOptions, 'outDir'>, work: string): Promise<PreparedRoot> {
  const progress = options.progress ?? (() => {})
  const profile = await loadProfile(options.profilePath)
  const sourceDateEpoch = resolveSourceDateEpoch(options.sourceDateEpoch, options.env ?? process.env, profile)
  const spool = await openSpool(join(work, 'spool'))

  progress(`resolve: ${packageRequests(profile).length} images`)
  // The trust stage runs inside resolve/fetch: after every manifest digest is known, before any layer.
  const trust = trustGate(profile, {progress, warn: options.warn, locked: options.locked})
  const packages = await resolvePackages(profile, options, trust)

  progress('flatten: applying layers')
  const roots = packages.filter((p) => p.request.role === 'package')
  const tree = createTree()
  const flattenReport = await flattenInto(tree, roots.map(asFlattenInput), spool)
  const flattenSha = treeDigest(tree, sourceDateEpoch)
  const flattenEntries = tree.entries.size

  progress('shape: files, init, prune')
  const shape = await shapeTree(tree, profile, spool)

  progress('kernel: reading the kernel package')
  const kernelPackage = packages.find((p) => p.request.role === 'kernel')!
  const kernel = await kernelOf(kernelPackage, spool)
  const kernelCheck = await checkKernelConfig(kernel, profile.kernel.config, profile.locate(['kernel', 'config']))
  return {profile, sourceDateEpoch, packages, trust, tree, flattenReport, flattenSha, flattenEntries, shape, kernelPackage, kernel, kernelCheck, spool}
}

export function kernelMismatchError(root: PreparedRoot) {
  const {profile, kernelPackage, kernelCheck} = root
  return profileError(
    `${profile.locate(['kernel', 'config'])}: the kernel of ${kernelPackage.request.name} does not meet the profile's config fragment:\n` +
      describeMismatches(kernelCheck, profile.relativePath(profile.kernel.config!)),
  )
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  const progress = options.progress ?? (() => {})
  const work = await mkdtemp(join(tmpdir(), 'stagex-image-'))
  try {
    const root = await prepareRoot(options, work)
    const {profile, sourceDateEpoch, packages, trust, tree, flattenReport, flattenSha, flattenEntries, shape, kernelPackage, kernel, spool} = root
    const check = root.kernelCheck
    if (check.mismatches.length > 0) throw kernelMismatchError(root)
    const outDir = resolve(options.outDir)
    await mkdir(outDir, {recursive: true})
    // Every output is written into a staging folder beside the outputs and moved into place only when
    // all of them (build.json last) are complete: a failed or interrupted build leaves the previous set.
    const staging = await mkdtemp(join(outDir, '.stagex-build-'))
    try {
      const bootPackages = packages.filter((p) => p.request.role === 'boot')
      const bootTree = bootPackages.length > 0 ? await bootTreeOf(bootPackages, spool) : undefined
      const image = await writeImageOutputs({profile, tree, kernel, bootTree, outDir: staging, sourceDateEpoch, progress})
      const outputs: BuildOutput[] = image.outputs
      const inputs = packages.map((p) => recordedInput(p, flattenReport, trust))
      const sbomPath = join(staging, SBOM_FILE)
      const sbom = buildSbom({profileName: profile.name, profileSha256: profile.sha256, sourceDateEpoch, toolVersion: TOOL_VERSION, inputs})
      const sbomWritten = await writeFileAtomically(sbomPath, Buffer.from(serializeSbom(sbom), 'utf8'))
      outputs.push({kind: 'sbom', path: sbomPath, size: sbomWritten.size, sha256: sbomWritten.sha256})
      const record: BuildRecord = {
        schema: BUILD_RECORD_SCHEMA,
        tool: {name: 'stagex-image', version: TOOL_VERSION},
        profile: {name: profile.name, sha256: profile.sha256},
        sourceDateEpoch,
        trust: trust.result().mode === 'none' ? 'none' : {threshold: profile.trust!.threshold},
        inputs,
        stages: {
          flatten: {sha256: flattenSha, entries: flattenEntries},
          shape: {sha256: treeDigest(tree, sourceDateEpoch), entries: tree.entries.size, files: shape.files, init: shape.init, pruned: shape.pruned, droppedCapabilities: shape.droppedCapabilities},
          kernel: {
            package: kernelPackage.request.name,
            sha256: kernel.image.digest.slice(7),
            configSha256: kernel.config.digest.slice(7),
            fragmentChecked: check.required,
            cmdline: profile.kernel.cmdline,
          },
          ...image.stages,
        },
        seed: image.seed,
        outputs: Object.fromEntries(outputs.map((o) => [o.kind, {file: basename(o.path), size: o.size, sha256: o.sha256}])),
      }
      const written = await writeFileAtomically(join(staging, 'build.json'), Buffer.from(serializeRecord(record), 'utf8'))
      outputs.push({kind: 'record', path: join(staging, 'build.json'), size: written.size, sha256: written.sha256})
      progress('publish: moving the outputs into place')
      for (const output of outputs) {
        const final = join(outDir, basename(output.path))
        await rename(output.path, final)
        output.path = final
      }
      const recordPath = join(outDir, 'build.json')
      return {profile: {name: profile.name, path: profile.path, cmdline: profile.kernel.cmdline, test: profile.test}, outDir, recordPath, record, outputs}
    } finally {
      await rm(staging, {recursive: true, force: true})
    }
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}

/** Resolve and fetch (src/pipeline/fetch.ts): registry images land in the store and are read from there. */
async function resolvePackages(profile: Profile, options: Omit<BuildOptions, 'outDir'>, trust: TrustGate): Promise<ResolvedPackage[]> {
  const {packages} = await fetchPackages(profile, {
    beforeLayers: trust.beforeLayers,
    store: options.store,
    offline: options.offline,
    locked: options.locked,
    mirror: options.mirror,
    source: options.source,
    env: options.env,
    onEvent: (event) => {
      options.onFetch?.(event)
      if (event.type === 'tag-moved' && !options.onFetch)
        (options.progress ?? (() => {}))(`warning: ${event.identity}:${event.tag} moved from ${event.from} to ${event.to}`)
    },
  })
  return packages
}

const asFlattenInput = (p: ResolvedPackage) => ({name: p.request.name, source: p.source, image: p.image})

async function kernelOf(kernelPackage: ResolvedPackage, spool: Spool): Promise<KernelFiles> {
  const tree: Tree = createTree()
  await flattenInto(tree, [asFlattenInput(kernelPackage)], spool)
  return kernelFilesOf(tree, kernelPackage.request.name)
}

/** The boot packages (boot.packages, boot.stub) in a tree of their own: loader files, never in the initramfs. */
async function bootTreeOf(bootPackages: ResolvedPackage[], spool: Spool): Promise<{packages: string[]; tree: Tree}> {
  const tree: Tree = createTree()
  await flattenInto(tree, bootPackages.map(asFlattenInput), spool)
  return {packages: bootPackages.map((p) => p.request.name), tree}
}

function recordedInput(p: ResolvedPackage, flatten: FlattenReport, trust: TrustGate): RecordedInput {
  const diffIds = new Map(flatten.layers.map((l) => [l.digest, l.diffId]))
  return {
    role: p.request.role,
    name: p.request.name,
    identity: p.request.identity,
    tag: p.request.digest ? undefined : (p.request.tag ?? 'latest'),
    indexDigest: p.image.indexDigest,
    manifestDigest: p.image.manifestDigest,
    configDigest: p.image.configDigest,
    layers: p.image.manifest.layers.map((l, i) => ({
      digest: l.digest,
      diffId: diffIds.get(l.digest) ?? p.image.config.rootfs?.diff_ids?.[i] ?? '',
      size: l.size,
    })),
    signers: trust.signersOf(p.request.identity, p.image.manifestDigest),
  }
}
