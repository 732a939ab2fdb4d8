// The output stages after the kernel check: initramfs, kernel copy, loader, UKI, ESP and disk.
// Takes the shaped tree, the kernel package's files and the boot packages' tree; writes each output
// the profile asks for atomically into outDir and returns what it wrote plus the stage records for
// build.json. When the profile has a loader, the ESP and disk stages are always computed (their
// sha256 goes in the record) even when only some of them are written.
import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {profileError} from '../errors.js'
import {bytesSource, type SizedSource} from '../formats/bytes.js'
import type {FatFileInput} from '../formats/fat32.js'
import {buildUkiChunks} from '../formats/pe.js'
import type {KernelFiles} from '../kernel/package.js'
import type {Profile} from '../profile/types.js'
import type {Tree} from '../rootfs/tree.js'
import {copyFileAtomically, writeFileAtomically} from '../store/atomic.js'
import {buildDisk, parseSize, sha256Hex, sha256Stream} from './disk.js'
import {writeInitramfs} from './initramfs.js'
import {writeRootfsTar} from './rootfs-tar.js'
import {
  findFile,
  generatedOsRelease,
  LDLINUX_PATHS,
  OS_RELEASE_PATHS,
  STUB_PATHS,
  SYSLINUX_EFI_PATHS,
  syslinuxEspFiles,
  ukiEspFiles,
} from './loader.js'
import {type BuildSeed, deriveBuildSeed} from './seed.js'

export interface ImageOutput {
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
  initramfs: {sha256: string; size: number; uncompressedSha256: string; uncompressedSize: number; compression: string; entries: number}
  loader?: {kind: string; packages: string[]; files: LoaderFileRecord[]}
  uki?: {sha256: string; size: number; sections: {name: string; virtualAddress: number; virtualSize: number; pointerToRawData: number}[]}
  esp?: {sha256: string; size: number; volumeId: string; label: string; files: {path: string; size: number; sha256: string}[]}
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
  kernel: KernelFiles
  /** The boot packages (boot.packages and boot.stub) flattened into one tree of their own. */
  bootTree?: {packages: string[]; tree: Tree}
  outDir: string
  sourceDateEpoch: number
  progress?: (message: string) => void
}

export interface ImageOutputs {
  outputs: ImageOutput[]
  stages: ImageStages
  seed: RecordedSeed
}

export const OUTPUT_FILES = {kernel: 'vmlinuz', uki: 'uki.efi', esp: 'esp.img', disk: 'disk.raw', rootfsTar: 'rootfs.tar'} as const

export async function writeImageOutputs(input: ImageOutputsInput): Promise<ImageOutputs> {
  const {profile, tree, kernel, outDir, sourceDateEpoch} = input
  const progress = input.progress ?? (() => {})
  const wants = (kind: string) => (profile.outputs as string[]).includes(kind)

  // Loader inputs first, so a missing one fails the build before any output is written. From the
  // signed packages: the boot packages' own tree first, then the root tree.
  const loader = profile.boot.loader
  const needUki = loader === 'uki' || wants('uki')
  const searchIn = [...(input.bootTree ? [{name: 'boot', tree: input.bootTree.tree}] : []), {name: 'rootfs', tree}]
  const loaderFiles: {role: string; from: string; data: Uint8Array}[] = []
  const take = async (role: string, candidates: string[], override: string | undefined, hint: string) => {
    const found = findFile(searchIn, candidates, override, role, hint)
    const from = `${searchIn.find((s) => s.tree.entries.get(found.path)?.content === found.content)?.name ?? 'boot'}:/${found.path}`
    const data = new Uint8Array(await readFile(found.content.path))
    loaderFiles.push({role, from, data})
    return data
  }
  const bootPackages = input.bootTree?.packages.join(', ') || 'none'
  let syslinux: {efi: Uint8Array; ldlinux: Uint8Array} | undefined
  if (loader === 'syslinux') {
    const where = `${profile.displayName}: boot.packages (${bootPackages})`
    syslinux = {
      efi: await take('syslinux.efi', SYSLINUX_EFI_PATHS, profile.boot.syslinuxEfi, `List a package holding it in ${where}, or set boot.syslinuxEfi.`),
      ldlinux: await take('ldlinux.e64', LDLINUX_PATHS, profile.boot.ldlinux, `List a package holding it in ${where}, or set boot.ldlinux.`),
    }
  }
  let ukiParts: {stub: Uint8Array; osRelease: string} | undefined
  if (needUki) {
    const stub = await take('stub', STUB_PATHS, profile.boot.stubPath, `boot.stub (${profile.boot.stub}) must hold an EFI stub there, or set boot.stubPath.`)
    // The os-release of the image itself (rootfs), else a generated one.
    let found
    try {
      found = findFile([{name: 'rootfs', tree}], OS_RELEASE_PATHS, undefined, 'os-release', '')
    } catch {
      found = undefined
    }
    const osReleaseBytes = found ? new Uint8Array(await readFile(found.content.path)) : new TextEncoder().encode(generatedOsRelease(profile.name))
    loaderFiles.push({role: 'os-release', from: found ? `rootfs:/${found.path}` : 'generated', data: osReleaseBytes})
    const osRelease = new TextDecoder().decode(osReleaseBytes)
    ukiParts = {stub, osRelease}
  }
  progress('initrd: writing the initramfs')
  const initrdName = profile.initramfs.compression === 'gzip' ? 'initramfs.cpio.gz' : 'initramfs.cpio'
  const initrd = await writeInitramfs(tree, sourceDateEpoch, profile.initramfs.compression, join(outDir, initrdName))
  const kernelOut = await copyFileAtomically(kernel.image.path, join(outDir, OUTPUT_FILES.kernel))

  const outputs: ImageOutput[] = [
    {kind: 'kernel', path: join(outDir, OUTPUT_FILES.kernel), size: kernelOut.size, sha256: kernelOut.sha256},
    {kind: 'initramfs', path: initrd.path, size: initrd.size, sha256: initrd.sha256},
  ]
  if (wants('rootfs-tar')) {
    progress('rootfs: writing the tree as a tar')
    const tar = await writeRootfsTar(tree, sourceDateEpoch, join(outDir, OUTPUT_FILES.rootfsTar))
    outputs.push({kind: 'rootfs-tar', path: join(outDir, OUTPUT_FILES.rootfsTar), size: tar.size, sha256: tar.sha256})
  }
  const stages: ImageStages = {
    initramfs: {
      sha256: initrd.sha256,
      size: initrd.size,
      uncompressedSha256: initrd.uncompressedSha256,
      uncompressedSize: initrd.uncompressedSize,
      compression: initrd.compression,
      entries: initrd.entries,
    },
  }

  if (loader !== 'none' || needUki)
    stages.loader = {
      kind: loader,
      packages: input.bootTree?.packages ?? [],
      files: loaderFiles.map((f) => ({role: f.role, from: f.from, size: f.data.length, sha256: sha256Hex(f.data)})),
    }

  const espSize = profile.boot.espSize === undefined ? undefined : parseSize(profile.boot.espSize)
  const seed = deriveBuildSeed({
    sourceDateEpoch,
    loader,
    cmdline: profile.kernel.cmdline,
    kernelSha256: kernelOut.sha256,
    initramfsSha256: initrd.sha256,
    loaderFiles: Object.fromEntries(loaderFiles.map((f) => [f.role, sha256Hex(f.data)])),
    espSize: espSize ?? 'auto',
  })
  const recordedSeed: RecordedSeed = {value: seed.hex, scheme: seed.scheme, inputs: seed.inputs}
  if (!syslinux && !ukiParts) return {outputs, stages, seed: recordedSeed}

  const kernelBytes = new Uint8Array(await readFile(kernel.image.path))
  const initrdBytes = new Uint8Array(await readFile(initrd.path))
  let uki: SizedSource | undefined
  if (ukiParts) {
    progress('uki: stub + os-release + cmdline + initrd + kernel')
    const built = buildUkiChunks({
      stub: ukiParts.stub,
      osRelease: ukiParts.osRelease,
      cmdline: profile.kernel.cmdline,
      linux: bytesSource(kernelBytes),
      initrd: bytesSource(initrdBytes),
      timeDateStamp: sourceDateEpoch,
    })
    const ukiOut = wants('uki') ? await writeFileAtomically(join(outDir, OUTPUT_FILES.uki), built.chunks()) : await sha256Stream(built.chunks())
    uki = {size: built.size, open: () => built.chunks()}
    stages.uki = {
      sha256: ukiOut.sha256,
      size: ukiOut.size,
      sections: built.placed.map((s) => ({name: s.name, virtualAddress: s.virtualAddress, virtualSize: s.virtualSize, pointerToRawData: s.pointerToRawData})),
    }
    if (wants('uki')) outputs.push({kind: 'uki', path: join(outDir, OUTPUT_FILES.uki), size: ukiOut.size, sha256: ukiOut.sha256})
  }
  if (loader === 'none') return {outputs, stages, seed: recordedSeed}

  progress(`esp: ${loader} loader on FAT32, in a GPT disk`)
  let files: FatFileInput[]
  if (loader === 'syslinux') {
    files = syslinuxEspFiles({syslinuxEfi: syslinux!.efi, ldlinux: syslinux!.ldlinux, kernel: bytesSource(kernelBytes), initrd: bytesSource(initrdBytes), cmdline: profile.kernel.cmdline})
  } else {
    files = ukiEspFiles(uki!)
  }
  let disk
  try {
    disk = buildDisk({files, seed: seed.bytes, sourceDateEpoch, sizeBytes: espSize})
  } catch (error) {
    if (error instanceof RangeError && espSize !== undefined) throw profileError(`${profile.locate(['boot', 'espSize'])}: boot.espSize ${profile.boot.espSize}: ${error.message}`)
    throw error
  }
  const espOut = wants('esp') ? await writeFileAtomically(join(outDir, OUTPUT_FILES.esp), disk.esp()) : await sha256Stream(disk.esp())
  const espSha = espOut.sha256
  const espFiles: {path: string; size: number; sha256: string}[] = []
  for (const f of files) espFiles.push({path: f.path, size: f.source.size, sha256: (await sha256Stream(f.source.open())).sha256})
  stages.esp = {
    sha256: espSha,
    size: espOut.size,
    volumeId: disk.volumeId.toString(16).toUpperCase().padStart(8, '0'),
    label: 'ESP',
    files: espFiles,
  }
  if (wants('esp')) outputs.push({kind: 'esp', path: join(outDir, OUTPUT_FILES.esp), size: espOut.size, sha256: espOut.sha256})

  const diskPath = join(outDir, OUTPUT_FILES.disk)
  let diskSha: string
  let diskSize: number
  if (wants('disk')) {
    const out = await writeFileAtomically(diskPath, disk.disk())
    outputs.push({kind: 'disk', path: diskPath, size: out.size, sha256: out.sha256})
    ;({sha256: diskSha, size: diskSize} = out)
  } else {
    const hash = createHash('sha256')
    diskSize = 0
    for await (const chunk of disk.disk()) {
      hash.update(chunk)
      diskSize += chunk.length
    }
    diskSha = hash.digest('hex')
  }
  stages.disk = {
    sha256: diskSha,
    size: diskSize,
    diskGuid: disk.layout.diskGuid,
    partitions: disk.layout.partitions.map((p) => ({name: p.name, typeGuid: p.typeGuid, uniqueGuid: p.uniqueGuid, firstLba: p.firstLba, lastLba: p.lastLba, sha256: espSha})),
  }
  return {outputs, stages, seed: recordedSeed}
}
