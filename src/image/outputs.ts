// The output stages after the kernel check: initramfs, kernel copy, and (later) loader, ESP and disk.
// Takes the shaped tree and the kernel package's files; writes each output atomically into outDir and
// returns what it wrote plus the stage records for build.json.
import {join} from 'node:path'
import type {KernelFiles} from '../kernel/package.js'
import type {Profile} from '../profile/types.js'
import type {Tree} from '../rootfs/tree.js'
import {copyFileAtomically} from '../store/atomic.js'
import {writeInitramfs} from './initramfs.js'

export interface ImageOutput {
  kind: string
  path: string
  size: number
  sha256: string
}

export interface ImageStages {
  initramfs: {sha256: string; size: number; uncompressedSha256: string; uncompressedSize: number; compression: string; entries: number}
}

export interface ImageOutputsInput {
  profile: Profile
  tree: Tree
  kernel: KernelFiles
  outDir: string
  sourceDateEpoch: number
  progress?: (message: string) => void
}

export interface ImageOutputs {
  outputs: ImageOutput[]
  stages: ImageStages
}

export async function writeImageOutputs(input: ImageOutputsInput): Promise<ImageOutputs> {
  const {profile, tree, kernel, outDir, sourceDateEpoch} = input
  const progress = input.progress ?? (() => {})

  progress('initrd: writing the initramfs')
  const initrdName = profile.initramfs.compression === 'gzip' ? 'initramfs.cpio.gz' : 'initramfs.cpio'
  const initrd = await writeInitramfs(tree, sourceDateEpoch, profile.initramfs.compression, join(outDir, initrdName))
  const kernelOut = await copyFileAtomically(kernel.image.path, join(outDir, 'vmlinuz'))

  const outputs: ImageOutput[] = [
    {kind: 'kernel', path: join(outDir, 'vmlinuz'), size: kernelOut.size, sha256: kernelOut.sha256},
    {kind: 'initramfs', path: initrd.path, size: initrd.size, sha256: initrd.sha256},
  ]
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
  return {outputs, stages}
}
