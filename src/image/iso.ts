// The iso output: one hybrid image for DVD and USB stick, BIOS and UEFI (src/formats/iso9660.ts).
//   BIOS, optical: El Torito default entry -> isolinux.bin (boot info table patched) -> ldlinux.c32
//     -> ISOLINUX.CFG -> /VMLINUZ + /INITRD.IMG with the command line.
//   BIOS, USB: the isohybrid MBR (isohdpfx.bin's code) loads isolinux.bin from the LBA patched in.
//   UEFI, optical: the El Torito 0xEF section is the ESP image; firmware opens it as a partition.
//   UEFI, USB: MBR partition 2 (type 0xEF) over the same ESP image.
// The ESP is the esp output byte for byte (a UKI as EFI/BOOT/BOOTX64.EFI), listed as /ESP.IMG so
// that readers and people can see and take it out. No GPT: see the README (outputs: iso).
// Volume id and MBR id come from the build seed.
import {badInputError} from '../errors.js'
import {bytesSource, type SizedSource} from '../formats/bytes.js'
import {bootCatalog, type IsoLayout, layoutIso, type IsoOptions, patchBootInfoTable, writeIsoStream} from '../formats/iso9660.js'
import {deriveVolumeId, type Seed} from '../formats/seed.js'
import {syslinuxConfig} from './loader.js'

/** Search order for syslinux's BIOS files: StageX's user-syslinux (AUXDIR /usr/share/syslinux, or LIBDIR layouts), then Debian's isolinux and syslinux-common. */
export const ISOLINUX_BIN_PATHS = ['usr/share/syslinux/isolinux.bin', 'usr/lib/syslinux/bios/isolinux.bin', 'usr/lib/syslinux/isolinux.bin', 'usr/lib/ISOLINUX/isolinux.bin']
export const LDLINUX_C32_PATHS = ['usr/share/syslinux/ldlinux.c32', 'usr/lib/syslinux/bios/ldlinux.c32', 'usr/lib/syslinux/ldlinux.c32', 'usr/lib/syslinux/modules/bios/ldlinux.c32']
export const ISOHDPFX_PATHS = ['usr/share/syslinux/isohdpfx.bin', 'usr/lib/syslinux/bios/isohdpfx.bin', 'usr/lib/syslinux/isohdpfx.bin', 'usr/share/syslinux/mbr/isohdpfx.bin', 'usr/lib/ISOLINUX/isohdpfx.bin']

/** Where things sit in the ISO: level-1 names (isolinux matches them without case and without ";1"). */
export const ISO_PATHS = {
  catalog: 'ISOLINUX/BOOT.CAT',
  isolinux: 'ISOLINUX/ISOLINUX.BIN',
  ldlinux: 'ISOLINUX/LDLINUX.C32',
  config: 'ISOLINUX/ISOLINUX.CFG',
  kernel: 'VMLINUZ',
  initrd: 'INITRD.IMG',
  esp: 'ESP.IMG',
} as const

/** Why the ISO's UEFI entry needs loader uki (measured here; the issue has the log). */
export const SYSLINUX_ISO_REASON =
  "Debian 12's syslinux.efi crashes under OVMF when started from optical media (X64 Exception Type 06, #UD - Invalid Opcode, right after " +
  'BdsDxe: starting Boot0001 "UEFI QEMU DVD-ROM"), although the same ESP boots from a disk; an ESP holding a UKI boots from both'

/** isolinux.cfg: the one kernel at once, no prompt, no menu (the ESP's syslinux.cfg with the ISO's paths). */
export const isolinuxConfig = (cmdline: string): string => syslinuxConfig(cmdline, ISO_PATHS, 'isolinux.cfg')

/** "<NAME>_<8 hex>": the profile name for people (lsblk, file managers), then 32 bits of the seed. */
export function isoVolumeId(profileName: string, seed: Seed): string {
  const name = profileName.toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, 23)
  return `${name}_${deriveVolumeId(seed, 'iso-volume-id').toString(16).toUpperCase().padStart(8, '0')}`
}

export interface IsoInput {
  profileName: string
  seed: Seed
  sourceDateEpoch: number
  cmdline: string
  isolinuxBin: Uint8Array
  ldlinuxC32: Uint8Array
  isohdpfx: Uint8Array
  kernel: SizedSource
  initrd: SizedSource
  /** The ESP image (the esp output's stream); absent: a BIOS-only ISO (iso.uefi false), no UEFI entry or 0xEF partition. */
  esp?: SizedSource
}

export interface IsoImage {
  volumeId: string
  mbrId: number
  layout: IsoLayout
  /** The image as chunks; each call reads the kernel, initramfs and ESP again. */
  stream: () => AsyncGenerator<Uint8Array>
  /** The ISO's files as they are in it (isolinux.bin with its boot info table), for the record. */
  files: {path: string; source: SizedSource}[]
}

/** Lays the ISO out from sizes; nothing is read until stream() is. */
export function buildIso(input: IsoInput): IsoImage {
  if (input.isohdpfx.length < 432) throw badInputError(`isohdpfx.bin is ${input.isohdpfx.length} bytes; an isohybrid MBR needs its first 432 bytes of boot code`)
  if (input.isolinuxBin.length < 64) throw badInputError(`isolinux.bin is ${input.isolinuxBin.length} bytes: not isolinux`)
  const volumeId = isoVolumeId(input.profileName, input.seed)
  const mbrId = deriveVolumeId(input.seed, 'iso-mbr-id')
  const files = [
    {path: ISO_PATHS.ldlinux, source: bytesSource(input.ldlinuxC32)},
    {path: ISO_PATHS.config, source: bytesSource(new TextEncoder().encode(isolinuxConfig(input.cmdline)))},
    {path: ISO_PATHS.kernel, source: input.kernel},
    {path: ISO_PATHS.initrd, source: input.initrd},
  ]
  const options: IsoOptions = {
    files,
    volumeId,
    sourceDateEpoch: input.sourceDateEpoch,
    applicationId: 'STAGEX-IMAGE',
    boot: {
      catalogPath: ISO_PATHS.catalog,
      bios: {path: ISO_PATHS.isolinux, image: input.isolinuxBin, loadSectors: 4},
      efi: input.esp && {path: ISO_PATHS.esp, source: input.esp},
    },
    hybrid: {code: input.isohdpfx, id: mbrId},
  }
  const layout = layoutIso(options)
  const isolinuxLba = layout.files.find((f) => f.role === 'bios')!.lba
  return {
    volumeId,
    mbrId,
    layout,
    stream: () => writeIsoStream(options),
    files: [...files, ...(input.esp ? [{path: ISO_PATHS.esp, source: input.esp}] : []), {path: ISO_PATHS.isolinux, source: bytesSource(patchBootInfoTable(input.isolinuxBin, isolinuxLba))}],
  }
}

/** build.json's stages.iso. */
export interface IsoStage {
  sha256: string
  size: number
  volumeId: string
  /** The MBR's disk signature, 8 hex digits. */
  mbrId: string
  bootEntries: {platform: 'bios' | 'uefi'; path: string; lba: number; loadSectors: number; size: number}[]
  /** The isohybrid MBR's entries, in 512-byte sectors. */
  partitions: {number: number; status: number; type: number; firstLba: number; sectors: number}[]
  /** Every file in block order; lba in 2048-byte blocks. */
  files: {path: string; lba: number; size: number; sha256: string}[]
}

/** Writes the ISO through `write` (the outputs stage's atomic writer) and returns its record. */
export async function writeIsoOutput(
  input: IsoInput,
  write: (chunks: AsyncIterable<Uint8Array>) => Promise<{sha256: string; size: number}>,
  sha256Of: (source: SizedSource) => Promise<string>,
): Promise<IsoStage> {
  const iso = buildIso(input)
  const written = await write(iso.stream())
  const sources = new Map(iso.files.map((f) => [f.path, f.source]))
  const files: IsoStage['files'] = []
  for (const f of iso.layout.files) {
    const source = sources.get(f.path)
    files.push({path: f.path, lba: f.lba, size: f.size, sha256: source ? await sha256Of(source) : await sha256Of(bytesSource(bootCatalog(iso.layout.bootEntries)))})
  }
  return {
    sha256: written.sha256,
    size: written.size,
    volumeId: iso.volumeId,
    mbrId: iso.mbrId.toString(16).toUpperCase().padStart(8, '0'),
    bootEntries: iso.layout.bootEntries.map((e) => ({platform: e.platform, path: e.path, lba: e.lba, loadSectors: e.loadSectors, size: e.size})),
    partitions: (iso.layout.mbr?.partitions ?? []).map((p, i) => ({number: i + 1, ...p})),
    files,
  }
}
