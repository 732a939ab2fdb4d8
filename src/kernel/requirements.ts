// Kernel options that follow from the profile itself, besides its kernel.config fragment: what
// we build (a gzip initramfs, an EFI loader, a serial console, an init mounting devtmpfs) only
// boots on a kernel that has them. A pure function of the profile: each requirement names the
// setting that asks for it, so a failure can say which line of the profile to change.
//
// Every derived option is wanted =y, never =m: each is needed by the kernel itself before any
// userspace runs (unpacking the initramfs, being entered by the EFI loader, printing on the
// console, giving init its /dev), so a module, which only userspace can load, is too late.
import {NITRO_CMDLINE} from '../formats/eif.js'
import type {Profile} from '../profile/types.js'

export interface DerivedRequirement {
  /** CONFIG_X, as in a .config. */
  option: string
  value: 'y'
  /** The profile setting that asks for it, as a person reads it: "initramfs.compression: gzip". */
  rule: string
  /** Where that setting is: profile file:line:col (empty when the profile has no locator). */
  where: string
  /** Why the kernel needs it built in. */
  why: string
}

export type RequirementInputs = Pick<Profile, 'kernel' | 'boot' | 'files' | 'initramfs' | 'outputs'> & Partial<Pick<Profile, 'init' | 'locate' | 'eif' | 'iso'>>

/** Outputs that boot the root tree, which always travels as an initramfs. */
const BOOTS_INITRAMFS = new Set(['initramfs', 'esp', 'disk', 'uki', 'qcow2', 'eif', 'iso'])
/** Of those, the ones that boot the initramfs output itself (compressed as initramfs.compression says); an EIF's ramdisks are plain cpio. */
const BOOTS_INITRAMFS_OUTPUT = new Set(['initramfs', 'esp', 'disk', 'uki', 'qcow2', 'iso'])
/** Outputs that are entered by UEFI firmware (an ISO too: its ESP holds a UKI). */
const EFI_OUTPUTS = new Set(['esp', 'disk', 'uki', 'qcow2', 'iso'])

/** A shell line that mounts devtmpfs (`mount -t devtmpfs devtmpfs /dev`, `mount -t devtmpfs none /dev`). */
const MOUNTS_DEVTMPFS = /^\s*(?:[^#\n]*[;&|]\s*)?(?:\/[^\s]*\/)?mount\b[^#\n]*\bdevtmpfs\b/m
/** console=ttyS0 (or ttyS1, ttyS0,115200n8): an 8250-family UART on x86. */
const SERIAL_CONSOLE = /(?:^|\s)console=(ttyS\d+)/

export function derivedRequirements(profile: RequirementInputs): DerivedRequirement[] {
  const at = (path: (string | number)[]) => profile.locate?.(path) ?? ''
  const out: DerivedRequirement[] = []
  const want = (option: string, rule: string, where: string, why: string) => {
    if (!out.some((r) => r.option === option)) out.push({option, value: 'y', rule, where, why})
  }

  const booting = profile.outputs.find((o) => BOOTS_INITRAMFS.has(o))
  if (booting !== undefined) {
    want('CONFIG_BLK_DEV_INITRD', `outputs: ${booting}`, at(['outputs', profile.outputs.indexOf(booting)]),
      'the root tree reaches the kernel as an initramfs; without initrd support the kernel ignores it')
    if (profile.initramfs.compression === 'gzip' && profile.outputs.some((o) => BOOTS_INITRAMFS_OUTPUT.has(o)))
      want('CONFIG_RD_GZIP', 'initramfs.compression: gzip', at(['initramfs', 'compression']),
        'the kernel itself unpacks the gzip initramfs before any userspace runs')
  }

  const loader = profile.boot.loader
  // A BIOS-only ISO (iso.uefi false) is entered by isolinux, not by UEFI firmware.
  const efiOutput = profile.outputs.find((o) => EFI_OUTPUTS.has(o) && !(o === 'iso' && profile.iso?.uefi === false))
  if (loader !== 'none' || efiOutput !== undefined) {
    const [rule, where] = loader !== 'none'
      ? [`boot.loader: ${loader}`, at(['boot', 'loader'])]
      : [`outputs: ${efiOutput}`, at(['outputs', profile.outputs.indexOf(efiOutput!)])]
    const how = loader === 'uki' ? 'the UKI\'s stub starts the kernel as an EFI image' : 'syslinux.efi enters the kernel through its EFI stub (handover)'
    want('CONFIG_EFI', rule, where, `UEFI firmware boots it; EFI_STUB depends on EFI`)
    want('CONFIG_EFI_STUB', rule, where, how)
  }

  const serial = SERIAL_CONSOLE.exec(profile.kernel?.cmdline ?? '')
  if (serial) {
    const rule = `kernel.cmdline: console=${serial[1]}`
    const where = at(['kernel', 'cmdline'])
    want('CONFIG_SERIAL_8250', rule, where, 'ttyS is the 8250 UART; the console must exist before userspace could load a module')
    want('CONFIG_SERIAL_8250_CONSOLE', rule, where, 'a console on the 8250 UART (it depends on SERIAL_8250=y)')
  }

  if (profile.outputs.includes('eif')) enclaveRequirements(profile, want, at)

  // The init is often a script among the profile's files; any of its files mounting devtmpfs counts.
  // Only inline `contents` are read: a `source` file is on the host, and reading it would make this
  // a function of the file system (a profile whose init comes from there names DEVTMPFS in its fragment).
  const mounting = profile.files.findIndex((f) => f.contents !== undefined && MOUNTS_DEVTMPFS.test(f.contents))
  if (mounting >= 0) {
    const file = profile.files[mounting]!
    const role = file.path === profile.init ? 'the init' : 'a profile file'
    want('CONFIG_DEVTMPFS', `files: ${file.path} (${role}) mounts devtmpfs`, at(['files', mounting, 'contents']),
      'devtmpfs is built in or absent (a bool): the mount fails without it')
  }
  return out
}

type Want = (option: string, rule: string, where: string, why: string) => void

/**
 * An EIF boots under the Nitro hypervisor: no firmware, no PCI; the enclave's devices are virtio-mmio,
 * it talks to its parent over vsock, and its attestation comes from the NSM device. Its console is
 * the eif.cmdline's, not kernel.cmdline's.
 */
function enclaveRequirements(profile: RequirementInputs, want: Want, at: (path: (string | number)[]) => string): void {
  const rule = 'outputs: eif'
  const where = at(['outputs', profile.outputs.indexOf('eif')])
  want('CONFIG_VIRTIO_MMIO', rule, where, 'the Nitro hypervisor gives an enclave its devices over virtio-mmio (there is no PCI)')
  want('CONFIG_VSOCKETS', rule, where, 'an enclave reaches its parent instance only over vsock')
  want('CONFIG_VIRTIO_VSOCKETS', rule, where, 'the enclave\'s vsock device is a virtio one')
  want('CONFIG_NSM', rule, where, 'attestation (the PCRs in a signed document) comes from the Nitro Secure Module driver')
  const cmdline = profile.eif?.cmdline ?? NITRO_CMDLINE
  const serial = SERIAL_CONSOLE.exec(cmdline)
  if (serial) {
    // The default command line is nowhere in the profile: then `outputs: eif` asked for it.
    const byDefault = cmdline === NITRO_CMDLINE
    const consoleRule = `eif.cmdline${byDefault ? ' (the Nitro default)' : ''}: console=${serial[1]}`
    const consoleWhere = byDefault ? where : at(['eif', 'cmdline'])
    want('CONFIG_SERIAL_8250', consoleRule, consoleWhere, 'the enclave console (nitro-cli console) is an 8250 UART, needed before userspace')
    want('CONFIG_SERIAL_8250_CONSOLE', consoleRule, consoleWhere, 'a console on the 8250 UART (it depends on SERIAL_8250=y)')
  }
}
