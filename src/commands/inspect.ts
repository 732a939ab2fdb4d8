import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {type Inspection, inspectionLines, inspectionProblem} from '../cli/inspect-text.js'
import {prose} from '../cli/prose.js'
import {badInputError} from '../errors.js'
import {describeFile, describeKind, describeOutput, type OutputKind, OUTPUT_SNIFF_BYTES, SNIFF_BYTES} from '../formats/sniff.js'
import {inspectFat, inspectGpt} from '../image/disk-inspect.js'
import {inspectEif} from '../image/eif-inspect.js'
import {readFileHead} from '../image/file-range.js'
import {inspectIso} from '../image/iso-inspect.js'
import {inspectPe} from '../image/pe-inspect.js'

type Inspector = (path: string, size: number, options: {sha256: boolean}) => Promise<Inspection>

/** Each output inspect reads, by what its bytes say it is. */
const INSPECTORS: Record<OutputKind, Inspector> = {
  eif: (path) => inspectEif(path),
  iso: inspectIso,
  pe: (path, size) => inspectPe(path, size),
  gpt: inspectGpt,
  fat: inspectFat,
}

export default class Inspect extends BaseCommand {
  static override summary = 'Read an output file: an EIF, an ISO 9660 image, a PE/EFI file (UKI), a GPT disk or a FAT32 ESP.'
  static override description = prose(`Reads FILE and says what is in it. The format is told from the file's bytes, not its name:

- an EIF (Enclave Image File, version 1 to 4, from this tool, nitro-cli or eif_build), section by
section: the header (version, flags, default memory and CPUs), each section's type, offset, size
and sha256, the CRC-32 recomputed over the file, and PCR0 (kernel, command line and every
ramdisk), PCR1 (kernel, command line, first ramdisk) and PCR2 (the other ramdisks), SHA-384
extended from zero as the reference computes them. PCR8 (the signing certificate) is not
computed; a signature section is reported.
- an ISO 9660 image (image.iso, or one xorriso made): the volume id and size, the volume times
(a value shared by several fields is shown once), the El Torito entries (platform, emulation,
load size, the image's block and the file that starts there), the isohybrid MBR (id, partitions),
and every file and directory with its size, block and recording time; the EFI boot image is listed
as a FAT volume. Only the descriptors, the boot catalog, the directories and the EFI boot image are
read; --sha256 also hashes every file.
- a PE/EFI file (uki.efi, BOOTX64.EFI, syslinux.efi): the headers, each section (name, virtual
address and size, file offset and raw size), whether it is a UKI (a .linux section) with its
command line, os-release and uname, the Authenticode SHA-256 (what Secure Boot checks), and each
signature: signer, issuer, serial, signing time, the certificate's sha256, and whether the hash it
signs is the file's.
- a GPT disk: the header (disk GUID, CRCs checked) and each partition; an EFI System partition of
at most 512 MiB is listed as FAT too.
- a FAT32 volume (esp.img): volume id, label, geometry and every file (the volume is read into
memory). A PE file on a FAT volume (EFI/BOOT/BOOTX64.EFI: the UKI), on a disk's ESP or in an ISO's
EFI boot image too, is read as above: UKI or not, its Authenticode SHA-256 and its signatures.

Exit codes: 0 the file is well formed (CRCs hold, every signature, on the file or in it, signs its file); 2 FILE cannot be
read; 4 a file inspect does not read (the message says what it looks like), a malformed file, a CRC
that does not match, or a signature that does not hold or signs other bytes (the file was changed
after signing; the report is still printed, and the --json error carries it as "inspection").`)
  static override examples = [
    '<%= config.bin %> inspect out/minimal-enclave.eif',
    '<%= config.bin %> inspect out/image.iso --sha256',
    '<%= config.bin %> inspect out/uki.efi --json',
    '<%= config.bin %> inspect out/disk.raw',
  ]
  static override args = {file: Args.string({description: 'an EIF, ISO 9660 image, PE/EFI file, GPT disk or FAT32 volume', required: true})}
  static override flags = {sha256: Flags.boolean({description: 'also hash every file in an ISO image or FAT volume (reads them whole)'})}

  async run(): Promise<Inspection> {
    const {args, flags} = await this.parse(Inspect)
    const {head, size} = await readFileHead(args.file, OUTPUT_SNIFF_BYTES)
    const kind = describeOutput(head)
    if (!kind) throw badInputError(`${args.file} is not a file inspect reads (an EIF, an ISO 9660 image, a PE/EFI file, a GPT disk or a FAT32 volume): it looks like ${looksLike(head)}`)
    const result = await INSPECTORS[kind](args.file, size, {sha256: flags.sha256})
    if (!this.jsonEnabled()) for (const line of inspectionLines(result)) this.log(line)
    const problem = inspectionProblem(result)
    if (problem) throw badInputError(problem, {inspection: result})
    return result
  }
}

function looksLike(head: Uint8Array): string {
  const kind = describeFile(head.subarray(0, SNIFF_BYTES))
  // 0x55AA at 510 with no "EFI PART": an MBR-only disk (or a FAT volume other than FAT32).
  return kind === 'disk' ? 'a disk image with an MBR but no GPT, or a FAT12/16 volume' : describeKind(kind)
}
