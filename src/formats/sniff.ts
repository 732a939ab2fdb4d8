// What a file looks like, from its first bytes: enough to refuse at once what QEMU could never boot
// (a text file given as a disk, an initramfs given as --kernel) instead of waiting for a deadline.
// Pure: bytes in, a description out.

export type FileKind = 'linux-kernel' | 'pe' | 'disk' | 'qcow2' | 'gzip' | 'xz' | 'zstd' | 'lz4' | 'bzip2' | 'cpio' | 'text' | 'empty' | 'unknown'

/** Bytes describeFile wants to see: up to and past the Linux boot header and the GPT header. */
export const SNIFF_BYTES = 1024

const ascii = (head: Uint8Array, at: number, text: string) => Buffer.from(head.subarray(at, at + text.length)).toString('latin1') === text

export function describeFile(head: Uint8Array): FileKind {
  if (head.length === 0) return 'empty'
  // The Linux boot protocol's "HdrS" at 0x202 (an EFI-stub kernel also starts with "MZ").
  if (ascii(head, 0x202, 'HdrS')) return 'linux-kernel'
  if (ascii(head, 0, 'MZ')) return 'pe'
  if (ascii(head, 0, 'QFI\xfb')) return 'qcow2'
  if (ascii(head, 512, 'EFI PART') || (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa)) return 'disk'
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (ascii(head, 0, '\xfd7zXZ\x00')) return 'xz'
  if (ascii(head, 0, '\x28\xb5\x2f\xfd')) return 'zstd'
  if (ascii(head, 0, '\x02\x21\x4c\x18') || ascii(head, 0, '\x04\x22\x4d\x18')) return 'lz4'
  if (ascii(head, 0, 'BZh')) return 'bzip2'
  if (ascii(head, 0, '070701') || ascii(head, 0, '070702')) return 'cpio'
  const sample = head.subarray(0, 512)
  if (sample.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f) || b >= 0x80)) return 'text'
  return 'unknown'
}

const NAMES: Record<FileKind, string> = {
  'linux-kernel': 'a Linux kernel (bzImage)',
  pe: 'a PE/EFI file (a UKI or an EFI program)',
  disk: 'a disk image (MBR or GPT)',
  qcow2: 'a qcow2 disk image',
  gzip: 'gzip data (an initramfs?)',
  xz: 'xz data',
  zstd: 'zstd data',
  lz4: 'lz4 data',
  bzip2: 'bzip2 data',
  cpio: 'a cpio archive (an initramfs?)',
  text: 'a text file',
  empty: 'an empty file',
  unknown: 'none of the formats QEMU boots (no kernel, PE, MBR or GPT header)',
}

export const describeKind = (kind: FileKind): string => NAMES[kind]

/** Formats the kernel's initramfs unpacker reads (a cpio, plain or compressed). */
export const INITRD_KINDS: readonly FileKind[] = ['cpio', 'gzip', 'xz', 'zstd', 'lz4', 'bzip2']

/** The outputs `inspect` reads, told apart by their bytes. */
export type OutputKind = 'eif' | 'iso' | 'pe' | 'gpt' | 'fat'

/** Bytes describeOutput wants: up to the ISO 9660 primary volume descriptor's "CD001" at byte 32769. */
export const OUTPUT_SNIFF_BYTES = 16 * 2048 + 6

/** ISO 9660: the primary volume descriptor at block 16 (byte 32768) is type 1, "CD001" (ECMA-119 8.4). */
export const isIso9660 = (head: Uint8Array): boolean => ascii(head, 16 * 2048 + 1, 'CD001')

/**
 * Which output `head` starts: an ISO 9660 image is told by its volume descriptor before its MBR or
 * GPT are looked at (an isohybrid image has an MBR, xorriso's may have a GPT too), a FAT32 volume by
 * its boot sector's "FAT32" (its 0x55AA alone looks like an MBR). Undefined for anything else.
 */
export function describeOutput(head: Uint8Array): OutputKind | undefined {
  if (ascii(head, 0, '.eif')) return 'eif'
  if (isIso9660(head)) return 'iso'
  if (ascii(head, 0, 'MZ')) return 'pe'
  if (ascii(head, 512, 'EFI PART')) return 'gpt'
  if (head[510] === 0x55 && head[511] === 0xaa && ascii(head, 82, 'FAT32   ')) return 'fat'
  return undefined
}
