import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {prose} from '../cli/prose.js'
import {badInputError} from '../errors.js'
import {type EifInspection, inspectEif} from '../image/eif-inspect.js'

export default class Inspect extends BaseCommand {
  static override summary = 'Read an output file (an AWS Nitro Enclaves EIF): header, sections, CRC check and PCRs.'
  static override description = prose(`Reads FILE, an EIF (Enclave Image File, version 1 to 4) from this tool, nitro-cli or eif_build,
section by section: the header (version, flags, default memory and CPUs), each section's type,
offset, size and sha256, the CRC-32 recomputed over the file, and PCR0 (kernel, command line and
every ramdisk), PCR1 (kernel, command line, first ramdisk) and PCR2 (the other ramdisks), SHA-384
extended from zero as the reference implementation computes them. PCR8 (the signing certificate)
is not computed; a signature section is reported.

Exit codes: 0 the file is well formed and its CRC holds; 2 FILE cannot be read; 4 not an EIF, a
malformed section table, or a CRC that does not match (the --json error carries what was read).`)
  static override examples = ['<%= config.bin %> inspect out/minimal-enclave.eif', '<%= config.bin %> inspect enclave.eif --json']
  static override args = {file: Args.string({description: 'EIF file', required: true})}

  async run(): Promise<EifInspection> {
    const {args} = await this.parse(Inspect)
    const result = await inspectEif(args.file)
    if (!result.crc.ok)
      throw badInputError(`${args.file}: the CRC-32 in the header is ${result.crc.stored}, the file's is ${result.crc.computed}: the file was changed or cut`, {inspection: result})
    if (!this.jsonEnabled()) this.print(result)
    return result
  }

  private print(r: EifInspection): void {
    const h = r.header
    this.log(`${r.file}: EIF version ${h.version}, ${h.arch}, ${r.size} bytes`)
    this.log(`  default memory ${h.defaultMemory} bytes (${Math.round(h.defaultMemory / 1024 / 1024)} MiB), ${h.defaultCpus} CPUs, flags 0x${h.flags.toString(16)}`)
    this.log(`  sections (${h.sectionCount}):`)
    for (const s of r.sections) this.log(`    ${String(s.index).padStart(2)} ${s.type.padEnd(9)} offset ${String(s.offset).padStart(10)}  ${String(s.size).padStart(10)} bytes  sha256:${s.sha256}`)
    if (r.cmdline !== undefined) this.log(`  cmdline: ${r.cmdline}`)
    if (r.metadata !== undefined) this.log(`  metadata: ${JSON.stringify(r.metadata)}`)
    this.log(`  crc32: ${r.crc.stored} (ok)`)
    for (const [pcr, value] of Object.entries(r.pcrs)) this.log(`  ${pcr}: ${value}`)
    this.log(`  ${r.signed ? 'signed (PCR8 not computed)' : 'unsigned'}; PCRs are ${r.hashAlgorithm}`)
  }
}
