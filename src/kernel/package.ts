// The kernel package contract (StageX user-linux-*): /bzImage and /linux.config at the image root.
import {readFile} from 'node:fs/promises'
import {badInputError, profileError} from '../errors.js'
import type {ContentRef, Tree} from '../rootfs/tree.js'
import {type KconfigMismatch, checkFragment, describeValue, parseFragment, parseKconfig} from './kconfig.js'

export const KERNEL_PATH = 'bzImage'
export const KERNEL_CONFIG_PATH = 'linux.config'

export interface KernelFiles {
  image: ContentRef
  config: ContentRef
}

export function kernelFilesOf(tree: Tree, packageName: string): KernelFiles {
  const take = (path: string) => {
    const inode = tree.entries.get(path)
    if (inode?.type !== 'file' || !inode.content)
      throw badInputError(`kernel package ${packageName} has no /${path}; a StageX kernel package holds /bzImage and /linux.config`)
    return inode.content
  }
  return {image: take(KERNEL_PATH), config: take(KERNEL_CONFIG_PATH)}
}

export interface KernelCheck {
  fragment?: string
  required: number
  mismatches: KconfigMismatch[]
}

/** Checks the profile's config fragment against the package's /linux.config (its text). */
export async function checkKernelConfig(configText: string, fragmentPath: string | undefined, fragmentWhere: string): Promise<KernelCheck> {
  if (fragmentPath === undefined) return {required: 0, mismatches: []}
  let fragmentText: string
  try {
    fragmentText = await readFile(fragmentPath, 'utf8')
  } catch {
    throw profileError(`${fragmentWhere}: cannot read the kernel config fragment ${fragmentPath}`)
  }
  const requirements = parseFragment(fragmentText)
  if (requirements.length === 0)
    throw profileError(`${fragmentWhere}: the kernel config fragment ${fragmentPath} names no option (no CONFIG_...=... or "# CONFIG_... is not set" line); is it the right file?`)
  const config = parseKconfig(configText)
  return {fragment: fragmentPath, required: requirements.length, mismatches: checkFragment(config, requirements)}
}

export function describeMismatches(check: KernelCheck, fragmentName: string): string {
  return check.mismatches
    .map((m) => `  ${fragmentName}:${m.requirement.line}: ${m.requirement.option} must be ${describeValue(m.requirement.value)}, the kernel has it ${describeValue(m.actual)}`)
    .join('\n')
}
