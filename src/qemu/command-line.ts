// Building QEMU's argv from a plan. Pure: no file system, no environment; every path is given.
import type {Accel} from './types.js'

export type BootMedium =
  /** QEMU loads the kernel (and initrd) itself and passes the command line. */
  | {kind: 'direct'; kernel: string; initrd?: string; append: string}
  /** A disk image holding an ESP; attached with snapshot=on so the file is never written. */
  | {kind: 'disk'; disk: string; format: 'raw' | 'qcow2'}
  /** An ISO 9660 image on a CD-ROM drive (AHCI, as a laptop's optical drive), read-only. */
  | {kind: 'cdrom'; image: string}
  /** A host directory shown to the guest as a FAT disk (QEMU's vvfat), e.g. an ESP around a UKI. */
  | {kind: 'fat-dir'; dir: string}

export interface QemuPlan {
  accel: Accel
  memoryMiB: number
  medium: BootMedium
  /**
   * OVMF: code mapped read-only, vars a private writable copy; secureBoot: the code is a secboot
   * build, which needs SMM and a flash only SMM may write. Absent: QEMU's built-in SeaBIOS.
   */
  uefi?: {code: string; varsCopy: string; secureBoot?: boolean}
  /** QEMU's isa-debug-exit device at port 0xf4: the guest ends QEMU with a status (see README, "expect-exit"). */
  debugExit?: boolean
  /** SeaBIOS (no uefi): the file its debug console (port 0x402) is written to, followed by seabios-log.ts. */
  biosLog?: string
}

/** The I/O port of the isa-debug-exit device: a byte v written there ends QEMU with exit code (v << 1) | 1. */
export const DEBUG_EXIT_PORT = 0xf4

export const DEFAULT_MEMORY_MIB = 512

/**
 * Kernel command line for direct boot: ours depends on the console being ttyS0 (that is what we
 * read), and on a panic ending QEMU at once (panic=-1 reboots, -no-reboot turns that into exit).
 * The caller's own console= or panic= wins.
 */
export function directBootAppend(append: string | undefined): string {
  const words = (append ?? '').trim().split(/\s+/).filter(Boolean)
  if (!words.some((w) => w.startsWith('console='))) words.unshift('console=ttyS0')
  if (!words.some((w) => w.startsWith('panic='))) words.push('panic=-1')
  return words.join(' ')
}

/** QEMU splits -drive options on commas; a comma inside a path is written twice. */
export const escapeDriveValue = (value: string): string => value.replaceAll(',', ',,')

export function buildQemuArgv(plan: QemuPlan): string[] {
  const argv = [
    // Only what we ask for: no default NIC, VGA, CD-ROM, monitor or serial, no host config files.
    '-nodefaults',
    '-no-user-config',
    '-machine',
    plan.uefi?.secureBoot ? 'q35,smm=on' : 'q35',
    '-accel',
    plan.accel,
    // The KVM probe boots with this same line, so a host whose CPU passthrough fails falls back to tcg.
    ...(plan.accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-smp',
    '1',
    '-m',
    String(plan.memoryMiB),
    '-display',
    'none',
    // The console is COM1, on QEMU's stdout: run.ts reads it from the pipe.
    '-serial',
    'stdio',
    // A guest reboot (panic=-1, reboot -f) ends QEMU instead of looping.
    '-no-reboot',
  ]
  if (plan.debugExit) argv.push('-device', `isa-debug-exit,iobase=0x${DEBUG_EXIT_PORT.toString(16)},iosize=0x01`)
  if (plan.biosLog && !plan.uefi)
    argv.push('-chardev', `file,id=bios-log,path=${escapeDriveValue(plan.biosLog)}`, '-device', 'isa-debugcon,iobase=0x402,chardev=bios-log')
  if (plan.uefi) {
    // Without it the guest could write the variable store (and its keys) outside SMM.
    if (plan.uefi.secureBoot) argv.push('-global', 'driver=cfi.pflash01,property=secure,value=on')
    argv.push(
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${escapeDriveValue(plan.uefi.code)}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${escapeDriveValue(plan.uefi.varsCopy)}`,
    )
  }
  const medium = plan.medium
  switch (medium.kind) {
    case 'direct': {
      argv.push('-kernel', medium.kernel)
      if (medium.initrd) argv.push('-initrd', medium.initrd)
      argv.push('-append', medium.append)
      break
    }
    case 'disk': {
      argv.push(
        '-drive',
        `if=none,id=boot-disk,format=${medium.format},snapshot=on,file=${escapeDriveValue(medium.disk)}`,
        '-device',
        'virtio-blk-pci,drive=boot-disk,bootindex=0',
      )
      break
    }
    case 'cdrom': {
      // q35's AHCI controller carries the IDE bus ide.0; SeaBIOS and OVMF both boot El Torito from it.
      argv.push(
        '-drive',
        `if=none,id=boot-cd,media=cdrom,format=raw,readonly=on,file=${escapeDriveValue(medium.image)}`,
        '-device',
        'ide-cd,drive=boot-cd,bus=ide.0,bootindex=0',
      )
      break
    }
    case 'fat-dir': {
      // vvfat must not write back to the host directory; read-only is enough to boot from it.
      argv.push(
        '-drive',
        `if=none,id=boot-disk,format=raw,readonly=on,file=fat:${escapeDriveValue(medium.dir)}`,
        '-device',
        'virtio-blk-pci,drive=boot-disk,bootindex=0',
      )
      break
    }
  }
  return argv
}
