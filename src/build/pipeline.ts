// The pipeline driver: profile -> resolve -> fetch/trust -> flatten -> shape -> kernel -> initrd -> record.
// Each step is a function of the previous one's output; commands and tests call `build` alike.
import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {isStagexError, profileError, StagexError} from '../errors.js'
import {type ResolvedImage, resolveImage} from '../oci/source.js'
import {loadProfile} from '../profile/load.js'
import type {Profile} from '../profile/types.js'
import {writeInitramfs} from '../image/initramfs.js'
import {type KernelFiles, checkKernelConfig, describeMismatches, kernelFilesOf} from '../kernel/package.js'
import {treeDigest} from '../rootfs/digest.js'
import {type FlattenReport, flattenInto} from '../rootfs/flatten.js'
import {shapeTree} from '../rootfs/shape.js'
import {createTree, type Tree} from '../rootfs/tree.js'
import {copyFileAtomically, writeFileAtomically} from '../store/atomic.js'
import {openSpool, type Spool} from '../store/spool.js'
import {TOOL_VERSION} from '../version.js'
import {type PackageRequest, packageRequests, sourceFor} from './packages.js'
import {type BuildRecord, BUILD_RECORD_SCHEMA, type RecordedInput, serializeRecord} from './record.js'
import {resolveSourceDateEpoch} from './source-date-epoch.js'

export interface BuildOptions {
  profilePath: string
  outDir: string
  /** Flag value; falls back to SOURCE_DATE_EPOCH, then the profile, then 1. */
  sourceDateEpoch?: number
  env?: NodeJS.ProcessEnv
  progress?: (message: string) => void
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

interface ResolvedPackage {
  request: PackageRequest
  source: ReturnType<typeof sourceFor>['source']
  image: ResolvedImage
}

export async function build(options: BuildOptions): Promise<BuildResult> {
  const progress = options.progress ?? (() => {})
  const profile = await loadProfile(options.profilePath)
  const sourceDateEpoch = resolveSourceDateEpoch(options.sourceDateEpoch, options.env ?? process.env, profile)
  const outDir = resolve(options.outDir)
  await mkdir(outDir, {recursive: true})
  const work = await mkdtemp(join(tmpdir(), 'stagex-image-'))
  try {
    const spool = await openSpool(join(work, 'spool'))

    progress(`resolve: ${packageRequests(profile).length} images`)
    const packages = await resolvePackages(profile)

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
    const check = await checkKernelConfig(kernel, profile.kernel.config, profile.locate(['kernel', 'config']))
    if (check.mismatches.length > 0)
      throw profileError(
        `${profile.locate(['kernel', 'config'])}: the kernel of ${kernelPackage.request.name} does not meet the profile's config fragment:\n` +
          describeMismatches(check, profile.relativePath(profile.kernel.config!)),
      )

    progress('initrd: writing the initramfs')
    const initrdName = profile.initramfs.compression === 'gzip' ? 'initramfs.cpio.gz' : 'initramfs.cpio'
    const initrd = await writeInitramfs(tree, sourceDateEpoch, profile.initramfs.compression, join(outDir, initrdName))
    const kernelOut = await copyFileAtomically(kernel.image.path, join(outDir, 'vmlinuz'))

    const outputs: BuildOutput[] = [
      {kind: 'kernel', path: join(outDir, 'vmlinuz'), size: kernelOut.size, sha256: kernelOut.sha256},
      {kind: 'initramfs', path: initrd.path, size: initrd.size, sha256: initrd.sha256},
    ]
    const record: BuildRecord = {
      schema: BUILD_RECORD_SCHEMA,
      tool: {name: 'stagex-image', version: TOOL_VERSION},
      profile: {name: profile.name, sha256: profile.sha256},
      sourceDateEpoch,
      inputs: packages.map((p) => recordedInput(p, flattenReport)),
      stages: {
        flatten: {sha256: flattenSha, entries: flattenEntries},
        shape: {sha256: treeDigest(tree, sourceDateEpoch), entries: tree.entries.size, files: shape.files, init: shape.init, pruned: shape.pruned},
        kernel: {
          package: kernelPackage.request.name,
          sha256: kernel.image.digest.slice(7),
          configSha256: kernel.config.digest.slice(7),
          fragmentChecked: check.required,
          cmdline: profile.kernel.cmdline,
        },
        initramfs: {
          sha256: initrd.sha256,
          size: initrd.size,
          uncompressedSha256: initrd.uncompressedSha256,
          uncompressedSize: initrd.uncompressedSize,
          compression: initrd.compression,
          entries: initrd.entries,
        },
      },
      outputs: Object.fromEntries(outputs.map((o) => [o.kind, {file: o.path.slice(outDir.length + 1), size: o.size, sha256: o.sha256}])),
    }
    const recordPath = join(outDir, 'build.json')
    const written = await writeFileAtomically(recordPath, Buffer.from(serializeRecord(record), 'utf8'))
    outputs.push({kind: 'record', path: recordPath, size: written.size, sha256: written.sha256})
    return {profile: {name: profile.name, path: profile.path, cmdline: profile.kernel.cmdline, test: profile.test}, outDir, recordPath, record, outputs}
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}

async function resolvePackages(profile: Profile): Promise<ResolvedPackage[]> {
  const resolved: ResolvedPackage[] = []
  for (const request of packageRequests(profile)) {
    try {
      const {source, tag, digest} = sourceFor(profile, request)
      const image = await resolveImage(source, {tag, digest}, request.name)
      resolved.push({request, source, image})
    } catch (error) {
      throw withProfilePosition(error, request)
    }
  }
  return resolved
}

/** A package that cannot be found is a profile error at the line that names it. */
function withProfilePosition(error: unknown, request: PackageRequest): unknown {
  if (!isStagexError(error)) return error
  if (error.message.startsWith(request.where)) return error
  if (error.kind === 'usage')
    return new StagexError('profile', `${request.where}: package "${request.spec}": ${error.message}`, error.details)
  return new StagexError(error.kind, `${request.where}: package "${request.spec}": ${error.message}`, error.details)
}

const asFlattenInput = (p: ResolvedPackage) => ({name: p.request.name, source: p.source, image: p.image})

async function kernelOf(kernelPackage: ResolvedPackage, spool: Spool): Promise<KernelFiles> {
  const tree: Tree = createTree()
  await flattenInto(tree, [asFlattenInput(kernelPackage)], spool)
  return kernelFilesOf(tree, kernelPackage.request.name)
}

function recordedInput(p: ResolvedPackage, flatten: FlattenReport): RecordedInput {
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
    signers: [],
  }
}
