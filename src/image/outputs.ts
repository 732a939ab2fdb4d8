// The outputs stage: one writer per output kind. Each writer declares what it needs; the stage runs
// the writers the profile's `outputs:` asks for and those their needs bring in, in dependency order.
// What was asked for is written into the staging folder (published into --out); what was only needed
// on the way (an initramfs for a UKI, say) goes to the work folder and is removed with it. Every
// writer streams: file content is read from the spool as it is written, and no output is held whole.
import {createReadStream} from 'node:fs'
import {join} from 'node:path'
import {badInputError, internalError, isStagexError} from '../errors.js'
import type {SizedSource} from '../formats/bytes.js'
import type {FatFileInput} from '../formats/fat32.js'
import {buildUkiChunks} from '../formats/pe.js'
import type {KernelFiles} from '../kernel/package.js'
import type {OutputKind, Profile} from '../profile/types.js'
import type {Tree} from '../rootfs/tree.js'
import {writeFileAtomically, type WrittenFile} from '../store/atomic.js'
import type {ContentReader} from '../store/spool.js'
import {buildDisk, parseSize, sha256Hex, sha256Stream} from './disk.js'
import {type EifStage, eifFileName, writeEifOutput} from './eif.js'
import {writeInitramfs} from './initramfs.js'
import {findFile, generatedOsRelease, LDLINUX_PATHS, OS_RELEASE_PATHS, STUB_PATHS, SYSLINUX_EFI_PATHS, syslinuxEspFiles, ukiEspFiles} from './loader.js'
import {ISOHDPFX_PATHS, ISOLINUX_BIN_PATHS, type IsoStage, LDLINUX_C32_PATHS, writeIsoOutput} from './iso.js'
import {writeRootfsTar} from './rootfs-tar.js'
import {type SecureBootSigner, secureBootLocator, secureBootSignerFor, signUki, type UkiSignatureRecord} from './secure-boot.js'
import {type BuildSeed, deriveBuildSeed} from './seed.js'

/** A file the build wrote: an output, the SBOM, or build.json. */
export interface OutputFile {
  kind: string
  path: string
  size: number
  sha256: string
}

export interface LoaderFileRecord {
  role: string
  /** Where it came from: "boot:/usr/share/..." (boot packages), "rootfs:/etc/os-release", or "generated". */
  from: string
  size: number
  sha256: string
}

export interface ImageStages {
  initramfs?: {sha256: string; size: number; uncompressedSha256: string; uncompressedSize: number; compression: string; entries: number}
  loader?: {kind: string; packages: string[]; files: LoaderFileRecord[]}
  uki?: {
    sha256: string
    size: number
    sections: {name: string; virtualAddress: number; virtualSize: number; pointerToRawData: number}[]
    /** boot.secureBoot: the Authenticode signature the UKI carries (secure-boot.ts). */
    signature?: UkiSignatureRecord
  }
  esp?: {sha256: string; size: number; volumeId: string; label: string; files: {path: string; size: number; sha256: string}[]}
  eif?: EifStage
  iso?: IsoStage
  disk?: {
    sha256: string
    size: number
    diskGuid: string
    partitions: {name: string; typeGuid: string; uniqueGuid: string; firstLba: number; lastLba: number; sha256: string}[]
  }
}

export interface RecordedSeed {
  /** 32 hex digits: the 16-byte seed every GUID and volume serial is derived from. */
  value: string
  scheme: string
  /** sha256("<scheme>\n" + JSON of these), first 16 bytes (src/image/seed.ts). */
  inputs: BuildSeed['inputs']
}

export interface ImageOutputsInput {
  profile: Profile
  tree: Tree
  /** The kernel package's files, the image's hex sha256 (the build seed names it) and the command line; absent for a profile without kernel:. */
  kernel?: {files: KernelFiles; sha256: string; cmdline: string}
  /** The boot packages (boot.packages and boot.stub) flattened into one tree of their own. */
  bootTree?: {packages: string[]; tree: Tree}
  /** Where asked-for outputs go (the staging folder that is published into --out). */
  outDir: string
  /** Where outputs only needed on the way go (removed with the work folder). */
  workDir: string
  sourceDateEpoch: number
  reader: ContentReader
  progress?: (message: string) => void
  /** Where boot.secureBoot's passphraseEnv is looked up (default process.env). */
  env?: NodeJS.ProcessEnv
  /** boot.secureBoot's signer, read by the caller already (secureBootSignerFor); else read here. */
  secureBootSigner?: SecureBootSigner
}

export interface ImageOutputs {
  outputs: OutputFile[]
  stages: ImageStages
  seed?: RecordedSeed
}

export const OUTPUT_FILES = {kernel: 'vmlinuz', uki: 'uki.efi', esp: 'esp.img', disk: 'disk.raw', rootfsTar: 'rootfs.tar', iso: 'image.iso'} as const

/** What each output needs before it can be written (the loader's ESP files are the ESP writer's own business). */
const NEEDS: Record<Exclude<OutputKind, 'qcow2'>, readonly OutputKind[]> = {
  kernel: [],
  initramfs: [],
  'rootfs-tar': [],
  uki: ['kernel', 'initramfs'],
  esp: ['kernel', 'initramfs'],
  disk: ['esp'],
  // The EIF carries the kernel and its own uncompressed ramdisks (never the gzip initramfs output).
  eif: ['kernel'],
  // isolinux boots the kernel and initramfs as ISO 9660 files (BIOS); UEFI boots the ESP inside.
  iso: ['kernel', 'initramfs', 'esp'],
}

/** The outputs to produce: those asked for and what they need (an ESP with loader uki needs a UKI). */
export function plannedOutputs(profile: Pick<Profile, 'outputs' | 'boot'> & Partial<Pick<Profile, 'iso'>>): Set<OutputKind> {
  const planned = new Set<OutputKind>()
  const add = (kind: OutputKind) => {
    if (planned.has(kind)) return
    // A BIOS-only ISO (iso.uefi false) has no ESP inside.
    const needs = (NEEDS[kind as keyof typeof NEEDS] ?? []).filter((need) => !(kind === 'iso' && need === 'esp' && profile.iso?.uefi === false))
    if (kind === 'esp' && profile.boot.loader === 'uki') needs.push('uki')
    for (const need of needs) add(need)
    planned.add(kind)
  }
  for (const kind of profile.outputs) add(kind)
  return planned
}

/** The asked-for outputs that cannot be written without a kernel (themselves, or an output they are made of). */
export function kernelNeededBy(profile: Pick<Profile, 'outputs' | 'boot'> & Partial<Pick<Profile, 'iso'>>): OutputKind[] {
  return profile.outputs.filter((kind) => plannedOutputs({outputs: [kind], boot: profile.boot, iso: profile.iso}).has('kernel'))
}

/** The outputs a profile without a kernel can still ask for. */
export function outputsWithoutKernel(profile: Pick<Profile, 'boot'>): OutputKind[] {
  const all = Object.keys(NEEDS) as OutputKind[]
  return all.filter((kind) => kernelNeededBy({outputs: [kind], boot: profile.boot}).length === 0)
}

/** Runs the writers; returns the asked-for outputs (in the staging folder) and every stage's record. */
export async function writeImageOutputs(input: ImageOutputsInput): Promise<ImageOutputs> {
  const {profile, tree, kernel, reader, sourceDateEpoch} = input
  const progress = input.progress ?? (() => {})
  const planned = plannedOutputs(profile)
  const asked = new Set<string>(profile.outputs)
  const outputs: OutputFile[] = []
  const stages: ImageStages = {}
  /** Asked-for outputs go to the staging folder, the rest to the work folder. */
  const place = (kind: string, file: string) => join(asked.has(kind) ? input.outDir : input.workDir, file)
  const keep = (kind: string, path: string, written: WrittenFile) => {
    if (asked.has(kind)) outputs.push({kind, path, size: written.size, sha256: written.sha256})
    return written
  }

  // Loader inputs first, so a missing one fails the build before any output is written.
  const loader = loaderInputs(input, planned)
  // So is the Secure Boot key (build() has read it already, before pulling anything).
  const secureBoot = planned.has('uki') ? profile.boot.secureBoot : undefined
  const secureBootAt = secureBootLocator(profile)
  const signer = input.secureBootSigner ?? (await secureBootSignerFor(profile, planned.has('uki'), input.env ?? process.env))

  // build() refused a profile without kernel whose outputs need one (kernelNeededBy).
  if (planned.has('kernel') && !kernel) throw internalError(`outputs ${[...planned].join(', ')} planned without a kernel`)
  const kernelSource: SizedSource | undefined = kernel && reader.source(kernel.files.image)
  if (kernelSource && planned.has('kernel') && asked.has('kernel')) {
    const path = place('kernel', OUTPUT_FILES.kernel)
    keep('kernel', path, await writeFileAtomically(path, kernelSource.open()))
  }

  let initramfs: {path: string; sha256: string; size: number} | undefined
  if (planned.has('initramfs')) {
    progress('initramfs: writing the newc cpio')
    const path = place('initramfs', profile.initramfs.compression === 'gzip' ? 'initramfs.cpio.gz' : 'initramfs.cpio')
    const written = await writeInitramfs(tree, sourceDateEpoch, profile.initramfs.compression, reader, path)
    keep('initramfs', path, written)
    initramfs = {path, sha256: written.sha256, size: written.size}
    stages.initramfs = {
      sha256: written.sha256,
      size: written.size,
      uncompressedSha256: written.uncompressedSha256,
      uncompressedSize: written.uncompressedSize,
      compression: written.compression,
      entries: written.entries,
    }
  }

  if (planned.has('rootfs-tar')) {
    progress('rootfs-tar: writing the tree as a tar')
    const path = place('rootfs-tar', OUTPUT_FILES.rootfsTar)
    keep('rootfs-tar', path, await writeRootfsTar(tree, sourceDateEpoch, path))
  }

  if (planned.has('eif') && kernel && kernelSource) {
    progress('eif: kernel + cmdline + metadata + uncompressed ramdisks, with PCRs')
    const path = place('eif', eifFileName(profile.name))
    const eif = await writeEifOutput({
      profile,
      tree,
      bootTree: input.bootTree,
      kernel: kernelSource,
      kernelConfig: reader.bytes(kernel.files.config).toString('utf8'),
      sourceDateEpoch,
      reader,
      workDir: input.workDir,
      path,
    })
    keep('eif', path, eif.written)
    stages.eif = eif.stage
  }

  if (loader.files.length > 0)
    stages.loader = {
      kind: profile.boot.loader,
      packages: input.bootTree?.packages ?? [],
      files: loader.files.map((f) => ({role: f.role, from: f.from, size: f.data.length, sha256: sha256Hex(f.data)})),
    }
  // The seed names the kernel: without one there is no boot output, and nothing needs a seed.
  if (!initramfs || !kernel || !kernelSource) return {outputs, stages}
  const espSize = profile.boot.espSize === undefined ? undefined : parseSize(profile.boot.espSize)
  const seed = deriveBuildSeed({
    sourceDateEpoch,
    loader: profile.boot.loader,
    cmdline: kernel.cmdline,
    kernelSha256: kernel.sha256,
    initramfsSha256: initramfs.sha256,
    loaderFiles: Object.fromEntries(loader.files.map((f) => [f.role, sha256Hex(f.data)])),
    espSize: espSize ?? 'auto',
  })
  const recordedSeed: RecordedSeed = {value: seed.hex, scheme: seed.scheme, inputs: seed.inputs}
  if (!planned.has('uki') && !planned.has('esp') && !planned.has('iso')) return {outputs, stages, seed: recordedSeed}
  const initramfsSource = fileSource(initramfs.path, initramfs.size)
  // Sources whose sha256 this stage already has: the ESP's file list takes them as they are rather
  // than reading the kernel, the initramfs and the UKI (hundreds of MB) once more only to hash them.
  const knownSha256 = new Map<SizedSource, string>([
    [kernelSource, kernel.sha256],
    [initramfsSource, initramfs.sha256],
  ])
  /** The ISO, around the ESP image (its UEFI part) or, with iso.uefi false, BIOS only. */
  const writeIso = async (espImage: SizedSource | undefined) => {
    progress(`iso: ISO 9660 with El Torito BIOS (isolinux)${espImage ? ' and UEFI (the ESP)' : ''} entries, isohybrid MBR${espImage ? '' : ' (BIOS only: iso.uefi false)'}`)
    const isoPath = place('iso', OUTPUT_FILES.iso)
    stages.iso = await writeIsoOutput(
      {
        profileName: profile.name,
        seed: seed.bytes,
        sourceDateEpoch,
        cmdline: kernel.cmdline,
        isolinuxBin: loader.isolinuxBin!,
        ldlinuxC32: loader.ldlinuxC32!,
        isohdpfx: loader.isohdpfx!,
        kernel: kernelSource,
        initrd: initramfsSource,
        esp: espImage,
      },
      async (chunks) => keep('iso', isoPath, await writeFileAtomically(isoPath, chunks)),
      async (source) => knownSha256.get(source) ?? (await sha256Stream(source.open())).sha256,
    )
  }

  let uki: SizedSource | undefined
  if (planned.has('uki')) {
    progress('uki: stub + os-release + cmdline + initrd + kernel')
    const pe = buildUkiChunks({
      stub: loader.stub!,
      osRelease: loader.osRelease!,
      cmdline: kernel.cmdline,
      linux: kernelSource,
      initrd: initramfsSource,
      timeDateStamp: sourceDateEpoch,
      checksum: !secureBoot, // signing writes the signed file's checksum
    })
    uki = {size: pe.size, open: () => pe.chunks()}
    let signature: UkiSignatureRecord | undefined
    if (secureBoot) {
      progress('uki: Authenticode signature (boot.secureBoot)')
      const signedUki = await signUki(uki, {settings: secureBoot, signer, sourceDateEpoch, at: secureBootAt})
      uki = signedUki.signed
      signature = signedUki.record
    }
    const ukiSource = uki
    const path = place('uki', OUTPUT_FILES.uki)
    const written = asked.has('uki') ? keep('uki', path, await writeFileAtomically(path, ukiSource.open())) : await sha256Stream(ukiSource.open())
    knownSha256.set(uki, written.sha256)
    stages.uki = {
      sha256: written.sha256,
      size: written.size,
      sections: pe.placed.map((s) => ({name: s.name, virtualAddress: s.virtualAddress, virtualSize: s.virtualSize, pointerToRawData: s.pointerToRawData})),
      ...(signature && {signature}),
    }
  }

  if (planned.has('esp')) {
    progress(`esp: ${profile.boot.loader} loader on FAT32${planned.has('disk') ? ', in a GPT disk' : ''}`)
    const files: FatFileInput[] =
      profile.boot.loader === 'syslinux'
        ? syslinuxEspFiles({syslinuxEfi: loader.syslinuxEfi!, ldlinux: loader.ldlinux!, kernel: kernelSource, initrd: initramfsSource, cmdline: kernel.cmdline})
        : ukiEspFiles(uki!)
    let disk
    try {
      disk = buildDisk({files, seed: seed.bytes, sourceDateEpoch, sizeBytes: espSize})
    } catch (error) {
      if (espSize !== undefined && isStagexError(error))
        throw badInputError(`${profile.locate(['boot', 'espSize'])}: boot.espSize ${profile.boot.espSize}: ${error.message}`, error.details)
      throw error
    }
    const espPath = place('esp', OUTPUT_FILES.esp)
    const esp = asked.has('esp') ? keep('esp', espPath, await writeFileAtomically(espPath, disk.esp())) : await sha256Stream(disk.esp())
    stages.esp = {
      sha256: esp.sha256,
      size: esp.size,
      volumeId: disk.volumeId.toString(16).toUpperCase().padStart(8, '0'),
      label: 'ESP',
      files: await Promise.all(
        files.map(async (f) => ({path: f.path, size: f.source.size, sha256: knownSha256.get(f.source) ?? (await sha256Stream(f.source.open())).sha256})),
      ),
    }
    if (planned.has('iso')) {
      const espSource: SizedSource = {size: disk.espSize, open: disk.esp}
      knownSha256.set(espSource, esp.sha256)
      await writeIso(espSource)
    }
    if (planned.has('disk')) {
      const diskPath = place('disk', OUTPUT_FILES.disk)
      const written = asked.has('disk') ? keep('disk', diskPath, await writeFileAtomically(diskPath, disk.disk())) : await sha256Stream(disk.disk())
      stages.disk = {
        sha256: written.sha256,
        size: written.size,
        diskGuid: disk.layout.diskGuid,
        partitions: disk.layout.partitions.map((p) => ({name: p.name, typeGuid: p.typeGuid, uniqueGuid: p.uniqueGuid, firstLba: p.firstLba, lastLba: p.lastLba, sha256: esp.sha256})),
      }
    }
  }
  if (planned.has('iso') && !planned.has('esp')) await writeIso(undefined)
  return {outputs, stages, seed: recordedSeed}
}

interface LoaderFile {
  role: string
  from: string
  data: Uint8Array
}

/** The loader's files from the signed packages: the boot packages' own tree first, then the root tree. */
function loaderInputs(input: ImageOutputsInput, planned: Set<OutputKind>) {
  const {profile, tree, reader} = input
  const searchIn = [...(input.bootTree ? [{name: 'boot', tree: input.bootTree.tree}] : []), {name: 'rootfs', tree}]
  const files: LoaderFile[] = []
  const take = (role: string, candidates: string[], override: string | undefined, hint: string) => {
    const found = findFile(searchIn, candidates, override, role, hint)
    const from = `${searchIn.find((s) => s.tree.entries.get(found.path)?.content === found.content)?.name ?? 'boot'}:/${found.path}`
    const data = new Uint8Array(reader.bytes(found.content))
    files.push({role, from, data})
    return data
  }
  const where = `${profile.displayName}: boot.packages (${input.bootTree?.packages.join(', ') || 'none'})`
  let syslinuxEfi: Uint8Array | undefined
  let ldlinux: Uint8Array | undefined
  let stub: Uint8Array | undefined
  let osRelease: string | undefined
  let isolinuxBin: Uint8Array | undefined
  let ldlinuxC32: Uint8Array | undefined
  let isohdpfx: Uint8Array | undefined
  if (planned.has('iso')) {
    isolinuxBin = take('isolinux.bin', ISOLINUX_BIN_PATHS, profile.boot.isolinuxBin, `List a package holding it (user-syslinux) in ${where}, or set boot.isolinuxBin.`)
    ldlinuxC32 = take('ldlinux.c32', LDLINUX_C32_PATHS, profile.boot.ldlinuxC32, `List a package holding it (user-syslinux) in ${where}, or set boot.ldlinuxC32.`)
    isohdpfx = take('isohdpfx.bin', ISOHDPFX_PATHS, profile.boot.isohdpfxBin, `List a package holding it (user-syslinux) in ${where}, or set boot.isohdpfxBin.`)
  }
  if (planned.has('esp') && profile.boot.loader === 'syslinux') {
    syslinuxEfi = take('syslinux.efi', SYSLINUX_EFI_PATHS, profile.boot.syslinuxEfi, `List a package holding it in ${where}, or set boot.syslinuxEfi.`)
    ldlinux = take('ldlinux.e64', LDLINUX_PATHS, profile.boot.ldlinux, `List a package holding it in ${where}, or set boot.ldlinux.`)
  }
  if (planned.has('uki')) {
    stub = take('stub', STUB_PATHS, profile.boot.stubPath, `boot.stub (${profile.boot.stub}) must hold an EFI stub there, or set boot.stubPath.`)
    // The os-release of the image itself (rootfs), else a generated one.
    let found
    try {
      found = findFile([{name: 'rootfs', tree}], OS_RELEASE_PATHS, undefined, 'os-release', '')
    } catch {
      found = undefined
    }
    const bytes = found ? new Uint8Array(reader.bytes(found.content)) : new TextEncoder().encode(generatedOsRelease(profile.name))
    files.push({role: 'os-release', from: found ? `rootfs:/${found.path}` : 'generated', data: bytes})
    osRelease = new TextDecoder().decode(bytes)
  }
  return {files, syslinuxEfi, ldlinux, stub, osRelease, isolinuxBin, ldlinuxC32, isohdpfx}
}

/** A file written earlier in this stage, read again when a later writer gets to it. */
function fileSource(path: string, size: number): SizedSource {
  return {
    size,
    open: () => createReadStream(path, {highWaterMark: 1024 * 1024}) as AsyncIterable<Uint8Array>,
  }
}
