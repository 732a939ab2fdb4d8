// Finding OVMF (UEFI for QEMU) and giving each run its own copy of the variable store.
import {copyFile, access, constants} from 'node:fs/promises'
import {join} from 'node:path'
import {StagexError} from '../errors.js'

export interface OvmfFiles {
  /** The firmware code; mapped read-only. */
  code: string
  /** The pristine variable store template; never handed to QEMU itself (see copyVarsTemplate). */
  vars: string
}

/**
 * Code and vars must come from the same build and have the same flash size, so they are listed
 * as pairs. Secure Boot builds are listed apart (SECURE_BOOT_OVMF_CANDIDATES): they need SMM and
 * enrolled keys, and a plain boot test wants the plain firmware.
 */
export const OVMF_CANDIDATES: readonly OvmfFiles[] = [
  // Debian and Ubuntu (package ovmf): 4 MiB flash first, the 2 MiB one for older installs.
  {code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd'},
  {code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd'},
  // Fedora (edk2-ovmf).
  {code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', vars: '/usr/share/edk2/ovmf/OVMF_VARS.fd'},
  // Arch (edk2-ovmf).
  {code: '/usr/share/edk2/x64/OVMF_CODE.4m.fd', vars: '/usr/share/edk2/x64/OVMF_VARS.4m.fd'},
  // QEMU's own bundled build.
  {code: '/usr/share/qemu/edk2-x86_64-code.fd', vars: '/usr/share/qemu/edk2-i386-vars.fd'},
]

/**
 * OVMF with Secure Boot enforced: the secboot code (SMM required) and a variable store whose PK, KEK
 * and db are enrolled. Debian's snakeoil store enrolls the test key pair in /usr/share/ovmf
 * (PkKek-1-snakeoil.key and .pem), so what that key signs boots and nothing else does; a store with
 * your own db certificate is given with --firmware-vars (Debian does not ship a tool that enrolls one).
 */
export const SECURE_BOOT_OVMF_CANDIDATES: readonly OvmfFiles[] = [
  {code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd'},
  // Fedora (edk2-ovmf): its secboot store enrolls Microsoft's keys and Red Hat's test key.
  {code: '/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd', vars: '/usr/share/edk2/ovmf/OVMF_VARS.secboot.fd'},
]

/** The certificate in Debian's snakeoil store's db (and its key), for signing test images. */
export const SNAKEOIL_DB = {cert: '/usr/share/ovmf/PkKek-1-snakeoil.pem', key: '/usr/share/ovmf/PkKek-1-snakeoil.key'} as const

const readable = async (path: string): Promise<boolean> =>
  access(path, constants.R_OK).then(
    () => true,
    () => false,
  )

/**
 * The firmware to use: the caller's files when given (both must exist), otherwise the first
 * installed pair among the candidates.
 */
export async function findOvmf(
  override: {code?: string; vars?: string} = {},
  candidates: readonly OvmfFiles[] = OVMF_CANDIDATES,
): Promise<OvmfFiles> {
  if (override.code || override.vars) {
    if (!override.code || !override.vars)
      throw new StagexError('usage', 'give both --firmware-code and --firmware-vars (they come from the same OVMF build)')
    for (const path of [override.code, override.vars])
      if (!(await readable(path))) throw new StagexError('usage', `firmware file not readable: ${path}`)
    return {code: override.code, vars: override.vars}
  }
  for (const pair of candidates) if ((await readable(pair.code)) && (await readable(pair.vars))) return pair
  const what = candidates.every((c) => /secboot/i.test(c.code)) ? 'no OVMF Secure Boot firmware with enrolled keys found' : 'no OVMF firmware found'
  throw new StagexError(
    'usage',
    `${what} (looked for ${candidates.map((c) => `${c.code} with ${c.vars}`).join(', ')}); ` +
      'install the ovmf package (bash scripts/setup.sh) or pass --firmware-code and --firmware-vars',
  )
}

/** The firmware writes its variables while booting; a private copy keeps the installed template pristine and runs independent. */
export async function copyVarsTemplate(firmware: OvmfFiles, runDir: string): Promise<string> {
  const copy = join(runDir, 'OVMF_VARS.fd')
  await copyFile(firmware.vars, copy)
  return copy
}
