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
 * as pairs. Secure Boot builds are left out on purpose: they need SMM and enrolled keys, and an
 * appliance boot test wants the plain firmware.
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
  throw new StagexError(
    'usage',
    `no OVMF firmware found (looked for ${candidates.map((c) => c.code).join(', ')}); ` +
      'install the ovmf package (bash scripts/setup.sh) or pass --firmware-code and --firmware-vars',
  )
}

/** The firmware writes its variables while booting; a private copy keeps the installed template pristine and runs independent. */
export async function copyVarsTemplate(firmware: OvmfFiles, runDir: string): Promise<string> {
  const copy = join(runDir, 'OVMF_VARS.fd')
  await copyFile(firmware.vars, copy)
  return copy
}
