// The pipeline, in DESIGN.md's order. Each stage is a function from the previous stage's named
// output to its own, and each output carries its own sha256 (the build record keeps them, so two
// builds part at the first stage whose hashes differ):
//
//   load -> resolve -> trust -> fetch -> flatten -> shape -> kernel -> outputs -> record
//
// Every command runs a prefix of it: `lock` up to trust, `pull` up to fetch, `check` and `rootfs` up
// to kernel, `build` and `test` all of it; `verify` runs resolve and trust for one image.
import {createHash} from 'node:crypto'
import {mkdir} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {sweepLeftovers} from '../cleanup/leftovers.js'
import {makeOwnedFolder, removeOwnedFolder} from '../cleanup/owned-folder.js'
import {profileError} from '../errors.js'
import {type ImageOutputs, kernelNeededBy, outputsWithoutKernel, plannedOutputs, writeImageOutputs} from '../image/outputs.js'
import {secureBootSignerFor} from '../image/secure-boot.js'
import {type KernelCheck, type KernelFiles, checkKernelConfig, describeMismatches, kernelFilesOf} from '../kernel/package.js'
import {derivedRequirements} from '../kernel/requirements.js'
import type {Digest} from '../oci/digest.js'
import type {RetryPolicy} from '../oci/registry.js'
import {loadProfile} from '../profile/load.js'
import type {Profile} from '../profile/types.js'
import {treeDigest} from '../rootfs/digest.js'
import {type FlattenReport, flattenInto, openLayerPool} from '../rootfs/flatten.js'
import {type ShapeReport, shapeTree} from '../rootfs/shape.js'
import {createTree, type Tree} from '../rootfs/tree.js'
import {type ContentReader, openContentReader, openSpool, type Spool} from '../store/spool.js'
import {profileTrustPolicy} from '../trust/stage.js'
import {checkStage, checksError} from './checks.js'
import {type Fetched, type FetchedImage, fetchStage} from './fetch.js'
import type {PackageRole} from './packages.js'
import {openStaging, publish, type Published, recordStage} from './record.js'
import {type FetchEvent, profileRequests, type Resolved, resolveStage} from './resolve.js'
import {resolveSourceDateEpoch} from './source-date-epoch.js'
import {type Trusted, trustStage} from './trust.js'

export type {FetchEvent} from './resolve.js'

export interface PipelineOptions {
  profilePath: string
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
  /** Parallel downloads. */
  jobs?: number
  /** Retries of broken downloads (tests shorten them). */
  retry?: RetryPolicy
  /** Download progress (bytes and images) of the fetch stage. */
  onFetch?: (event: FetchEvent) => void
  /** Warnings that must reach the user (an unverified build); default: stderr. */
  warn?: (message: string) => void
  /** A profile parsed already (reproduce: the record's recipe); profilePath then only names it. */
  profile?: Profile
  /** Top digests (index, or manifest) by canonical repository: resolve fetches these, not what the tags name now. */
  pins?: ReadonlyMap<string, Digest>
}

export interface BuildOptions extends PipelineOptions {
  outDir: string
}

/** Stage 0: the profile, and the SOURCE_DATE_EPOCH that every later stage clamps to. */
export interface Loaded {
  profile: Profile
  sourceDateEpoch: number
}

export async function loadStage(options: PipelineOptions): Promise<Loaded> {
  const profile = options.profile ?? (await loadProfile(options.profilePath))
  return {profile, sourceDateEpoch: resolveSourceDateEpoch(options.sourceDateEpoch, options.env ?? process.env, profile)}
}

/**
 * A profile without kernel: makes a root tree (rootfs, pull, lock, check); `build` refuses it, before
 * any work, when an output it asks for needs a kernel, naming those outputs.
 */
export function checkKernelForOutputs(profile: Profile): void {
  if (profile.kernel) return
  const needing = kernelNeededBy(profile)
  if (needing.length === 0) return
  const where = profile.locate(['outputs'])
  const asked = where === profile.displayName ? ' (the default outputs, as the profile has no outputs:)' : ''
  throw profileError(
    `${where}: the output${needing.length === 1 ? '' : 's'} ${needing.join(', ')}${asked} need${needing.length === 1 ? 's' : ''} a kernel, ` +
      'and the profile has no kernel: section. Add kernel: {package: NAME} (a kernel package such as user-linux-generic), ' +
      `or ask only for outputs that need none: outputs: [${outputsWithoutKernel(profile).join(', ')}]`,
    {outputs: needing},
  )
}

/** Stages 1-2: resolve every image of the profile (or only those of `roles`), then trust them. */
export async function resolveAndTrust(loaded: Loaded, options: PipelineOptions, roles?: readonly PackageRole[]): Promise<Trusted> {
  const {profile} = loaded
  const progress = options.progress ?? (() => {})
  const wanted = profileRequests(profile, options, roles).map((w) => {
    const pin = options.pins?.get(w.request.identity)
    return pin ? {...w, origin: {...w.origin, digest: pin}} : w
  })
  progress(`resolve: ${wanted.length} images`)
  const resolved: Resolved = await resolveStage(wanted, {...options, profilePath: profile.path, onEvent: fetchEvents(options)})
  return trustStage(resolved, profileTrustPolicy(profile), {progress, warn: options.warn, lockedProfile: options.locked ? profile.path : undefined})
}

function fetchEvents(options: PipelineOptions): (event: FetchEvent) => void {
  return (event) => {
    options.onFetch?.(event)
    if (event.type === 'tag-moved' && !options.onFetch)
      (options.progress ?? (() => {}))(`warning: ${event.identity}:${event.tag} moved from ${event.from} to ${event.to}`)
  }
}

/** Stage 4: the profile's packages, layer by layer, into one tree. */
export interface Flattened {
  tree: Tree
  report: FlattenReport
  entries: number
  sha256: string
}

export async function flattenStage(fetched: Fetched, spool: Spool, sourceDateEpoch: number): Promise<Flattened> {
  const tree = createTree()
  const report = await flattenInto(tree, imagesOf(fetched, 'package'), spool)
  return {tree, report, entries: tree.entries.size, sha256: treeDigest(tree, sourceDateEpoch)}
}

const imagesOf = (fetched: Fetched, role: PackageRole) =>
  fetched.images.filter((p) => p.request.role === role).map((p) => ({name: p.request.name, layers: p.layers}))

/** Stage 5: the profile's files and init, /dev/console, pruning. The tree is changed in place. */
export interface Shaped {
  tree: Tree
  report: ShapeReport
  entries: number
  sha256: string
}

export async function shapeStage(flattened: Flattened, loaded: Loaded, spool: Spool): Promise<Shaped> {
  const report = await shapeTree(flattened.tree, loaded.profile, spool)
  return {tree: flattened.tree, report, entries: flattened.tree.entries.size, sha256: treeDigest(flattened.tree, loaded.sourceDateEpoch)}
}

/** Stage 6: the kernel package's /bzImage and /linux.config, the config checked against the fragment; the boot packages' files. */
export interface KernelStage {
  package: FetchedImage
  files: KernelFiles
  /** Hex sha256 of /bzImage and /linux.config. */
  sha256: {image: string; config: string}
  check: KernelCheck
  /** The boot packages (boot.packages, boot.stub) in a tree of their own: loader files, never in the initramfs. */
  bootTree?: {packages: string[]; tree: Tree}
  /** The profile's kernel.cmdline. */
  cmdline: string
}

/** undefined for a profile without kernel: (a root tree only). */
export async function kernelStage(fetched: Fetched, loaded: Loaded, spool: Spool, reader: ContentReader): Promise<KernelStage | undefined> {
  const {profile} = loaded
  const kernelPackage = fetched.images.find((p) => p.request.role === 'kernel')
  if (!profile.kernel || !kernelPackage) return undefined
  const {config: fragment, cmdline} = profile.kernel
  // One set of layer workers for the kernel and the boot packages.
  const pool = openLayerPool()
  try {
    const kernelTree = createTree()
    await flattenInto(kernelTree, imagesOf(fetched, 'kernel'), spool, {pool})
    const files = kernelFilesOf(kernelTree, kernelPackage.request.name)
    // The fragment, what the profile itself needs (requirements.ts), and the config /bzImage carries.
    const image = reader.bytes(files.image)
    const config = reader.bytes(files.config)
    const check = await checkKernelConfig(config.toString('utf8'), fragment, profile.locate(['kernel', 'config']), {
      derived: derivedRequirements(profile),
      image,
      fragmentName: fragment === undefined ? undefined : profile.relativePath(fragment),
    })
    const boot = imagesOf(fetched, 'boot')
    let bootTree: KernelStage['bootTree']
    if (boot.length > 0) {
      const tree = createTree()
      await flattenInto(tree, boot, spool, {pool})
      bootTree = {packages: boot.map((b) => b.name), tree}
    }
    const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
    return {package: kernelPackage, files, sha256: {image: sha256(image), config: sha256(config)}, check, bootTree, cmdline}
  } finally {
    await pool.close()
  }
}

export function kernelMismatchError(profile: Profile, kernel: KernelStage) {
  // Derived requirements fail without any fragment: then the kernel package is the place to point at.
  const where = profile.locate(profile.kernel?.config === undefined ? ['kernel', 'package'] : ['kernel', 'config'])
  return profileError(
    `${where}: the kernel of ${kernel.package.request.name} does not meet the profile (its kernel.config fragment and what its settings need):\n` +
      describeMismatches(kernel.check),
    {mismatches: kernel.check.mismatches, ikconfig: kernel.check.ikconfig},
  )
}

/** Everything up to the kernel stage, as `check`, `rootfs` and `build` need it. */
export interface PreparedRoot {
  loaded: Loaded
  fetched: Fetched
  flattened: Flattened
  shaped: Shaped
  /** Absent for a profile without kernel:. */
  kernel?: KernelStage
  spool: Spool
  reader: ContentReader
}

/** TMPDIR/stagex-image-*: work folders; TMPDIR/stagex-boot-*: QEMU's run folders (src/qemu/boot.ts). */
export const WORK_FOLDER_PREFIX = 'stagex-image-'

/**
 * Runs `use` with a work folder (spool and staging) that is removed afterwards, whatever happens,
 * also on SIGINT/SIGTERM (cleanup/interrupt.ts). Work folders that killed runs left are removed first.
 */
export async function withWorkFolder<T>(use: (work: string) => Promise<T>): Promise<T> {
  sweepLeftovers({dir: tmpdir(), kind: 'marked-folders', prefixes: [WORK_FOLDER_PREFIX, 'stagex-boot-'], what: 'work folder'})
  const work = await makeOwnedFolder(tmpdir(), WORK_FOLDER_PREFIX, 'work folder')
  try {
    return await use(work)
  } finally {
    await removeOwnedFolder(work)
  }
}

/** load -> resolve -> trust -> fetch -> flatten -> shape -> kernel, in `work` (`loaded`: a profile the caller loaded already). */
export async function prepareRoot(options: PipelineOptions, work: string, loaded?: Loaded): Promise<PreparedRoot> {
  const progress = options.progress ?? (() => {})
  loaded ??= await loadStage(options)
  const trusted = await resolveAndTrust(loaded, options)
  const fetched = await fetchStage(trusted)
  const spool = await openSpool(join(work, 'spool'))
  const reader = openContentReader()
  progress('flatten: applying layers')
  const flattened = await flattenStage(fetched, spool, loaded.sourceDateEpoch)
  progress('shape: files, init, prune')
  const shaped = await shapeStage(flattened, loaded, spool)
  if (loaded.profile.kernel) progress('kernel: reading the kernel package')
  const kernel = await kernelStage(fetched, loaded, spool, reader)
  return {loaded, fetched, flattened, shaped, kernel, spool, reader}
}

/** The whole pipeline: every output the profile asks for, build.json last, published into outDir together. */
export async function build(options: BuildOptions): Promise<Published> {
  const progress = options.progress ?? (() => {})
  // The profile, and whether its outputs need a kernel it lacks, before any other work.
  const preloaded = await loadStage(options)
  checkKernelForOutputs(preloaded.profile)
  // The Secure Boot key must unlock and match its certificate before anything is pulled.
  const secureBootSigner = await secureBootSignerFor(preloaded.profile, plannedOutputs(preloaded.profile).has('uki'), options.env ?? process.env)
  // --out is checked before any work: a file or an unwritable folder there is refused at once.
  const {outDir, staging} = await openStaging(options.outDir)
  try {
    return await withWorkFolder(async (work) => {
      const root = await prepareRoot(options, work, preloaded)
      try {
        const {loaded, kernel} = root
        if (kernel && kernel.check.mismatches.length > 0) throw kernelMismatchError(loaded.profile, kernel)
        // The shaped tree's checks (checks.ts), on every build: no output is written for an image that fails one (exit 4).
        progress('check: ELF closure and no compilers')
        const checks = await checkStage(root)
        if (!checks.passed) throw checksError(loaded.profile, checks)
        const outputs: ImageOutputs = await writeImageOutputs({
          profile: loaded.profile,
          tree: root.shaped.tree,
          kernel: kernel && {files: kernel.files, sha256: kernel.sha256.image, cmdline: kernel.cmdline},
          bootTree: kernel?.bootTree,
          outDir: staging,
          workDir: await mkdir(join(work, 'intermediate'), {recursive: true}).then(() => join(work, 'intermediate')),
          sourceDateEpoch: loaded.sourceDateEpoch,
          reader: root.reader,
          progress,
          env: options.env,
          secureBootSigner,
        })
        const recorded = await recordStage(root, outputs, staging, checks)
        progress('publish: moving the outputs into place')
        return await publish(recorded, outDir)
      } finally {
        root.reader.close()
      }
    })
  } finally {
    await removeOwnedFolder(staging)
  }
}

export type BuildResult = Published
