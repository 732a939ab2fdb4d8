// Loader files: where the EFI binaries are found in the profile's signed boot packages, and what each
// loader puts on the ESP. syslinux: syslinux.efi as EFI/BOOT/BOOTX64.EFI, ldlinux.e64 beside it, a
// generated syslinux.cfg, and the kernel and initramfs at the ESP root. uki: one UKI as BOOTX64.EFI.
import {badInputError} from '../errors.js'
import {bytesSource, type SizedSource} from '../formats/bytes.js'
import type {FatFileInput} from '../formats/fat32.js'
import type {ContentRef, Tree} from '../rootfs/tree.js'
import {resolveFully} from '../rootfs/paths.js'

/** Search order for syslinux's EFI loader (StageX installs with LIBDIR=/usr/lib; Debian uses /usr/share). */
export const SYSLINUX_EFI_PATHS = ['usr/share/syslinux/efi64/syslinux.efi', 'usr/lib/syslinux/efi64/syslinux.efi']
export const LDLINUX_PATHS = ['usr/share/syslinux/efi64/ldlinux.e64', 'usr/lib/syslinux/efi64/ldlinux.e64']
export const STUB_PATHS = ['usr/lib/systemd/boot/efi/linuxx64.efi.stub']
export const OS_RELEASE_PATHS = ['etc/os-release', 'usr/lib/os-release']

/** Where the ESP's files go. Upper-case 8.3 names: firmware and syslinux read them without long names. */
export const ESP_PATHS = {
  bootloader: 'EFI/BOOT/BOOTX64.EFI',
  ldlinux: 'EFI/BOOT/LDLINUX.E64',
  syslinuxCfg: 'EFI/BOOT/SYSLINUX.CFG',
  kernel: 'LINUX',
  initrd: 'INITRD',
} as const

export interface FoundFile {
  /** Root-relative path in the tree where it was found (after symlinks). */
  path: string
  content: ContentRef
}

/**
 * The first of `candidates` (or `override` alone, when given) that is a regular file in one of the
 * trees, symlinks followed inside the tree. Throws a bad-input error naming every place it looked.
 */
export function findFile(trees: readonly {name: string; tree: Tree}[], candidates: readonly string[], override: string | undefined, what: string, hint: string): FoundFile {
  const wanted = override !== undefined ? [override.replace(/^\/+/, '')] : candidates
  const looked: string[] = []
  for (const {name, tree} of trees) {
    for (const candidate of wanted) {
      looked.push(`${name}:/${candidate}`)
      const path = resolveFully(tree, candidate, `${name}:/${candidate}`)
      const inode = tree.entries.get(path)
      if (inode?.type === 'file' && inode.content) return {path, content: inode.content}
    }
  }
  throw badInputError(`no ${what} found; looked at ${looked.join(', ') || '(no boot packages)'}. ${hint}`)
}

/**
 * A syslinux-family configuration (syslinux.cfg on the ESP, isolinux.cfg on an ISO): boot the one
 * kernel at once, no prompt, no menu. `paths` are where that medium holds the kernel and initramfs.
 */
export function syslinuxConfig(cmdline: string, paths: {kernel: string; initrd: string} = ESP_PATHS, file = 'syslinux.cfg'): string {
  if (/[\r\n]/.test(cmdline)) throw badInputError(`the kernel command line holds a line break; ${file} cannot carry it`)
  return [
    'DEFAULT appliance',
    'PROMPT 0',
    'TIMEOUT 0',
    'NOESCAPE 1',
    'LABEL appliance',
    `  LINUX /${paths.kernel}`,
    `  INITRD /${paths.initrd}`,
    `  APPEND ${cmdline}`,
    '',
  ].join('\n')
}

export interface SyslinuxEspInput {
  /** The loader's own files are small: in memory. */
  syslinuxEfi: Uint8Array
  ldlinux: Uint8Array
  /** Kernel and initramfs are read from their sources when the ESP is written. */
  kernel: SizedSource
  initrd: SizedSource
  cmdline: string
}

export function syslinuxEspFiles(input: SyslinuxEspInput): FatFileInput[] {
  return [
    {path: ESP_PATHS.bootloader, source: bytesSource(input.syslinuxEfi)},
    {path: ESP_PATHS.ldlinux, source: bytesSource(input.ldlinux)},
    {path: ESP_PATHS.syslinuxCfg, source: bytesSource(new TextEncoder().encode(syslinuxConfig(input.cmdline)))},
    {path: ESP_PATHS.kernel, source: input.kernel},
    {path: ESP_PATHS.initrd, source: input.initrd},
  ]
}

/** The UKI as the one file of the ESP, read from its source (e.g. the PE stream) when the ESP is written. */
export function ukiEspFiles(uki: SizedSource): FatFileInput[] {
  return [{path: ESP_PATHS.bootloader, source: uki}]
}

/** An os-release for the UKI's .osrel when the tree has none. */
export function generatedOsRelease(name: string): string {
  return `NAME="${name}"\nID=${name}\nPRETTY_NAME="${name} (stagex-image)"\n`
}
