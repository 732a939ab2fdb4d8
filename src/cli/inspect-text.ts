// What `inspect` prints for a person, one function per format: lines from an inspection (the --json
// document is the inspection itself). A field that holds the same value in many places (the ISO's
// volume times, every record's time) is shown once.
import type {FatContents, FatInspection, GptInspection, PeSummary} from '../image/disk-inspect.js'
import type {EifInspection} from '../image/eif-inspect.js'
import type {IsoInspection} from '../image/iso-inspect.js'
import type {PeInspection} from '../image/pe-inspect.js'

export type Inspection = EifInspection | IsoInspection | PeInspection | GptInspection | FatInspection

const pad = (v: string | number, n: number) => String(v).padStart(n)

/** "created, modified X; expires Y": each distinct value once, with the fields that hold it. */
export function groupedValues(fields: [name: string, value: string][]): string {
  const groups = new Map<string, string[]>()
  for (const [name, value] of fields) groups.set(value, [...(groups.get(value) ?? []), name])
  if (groups.size === 1 && fields.length > 1) return `${fields[0]![1]} (all ${fields.length})`
  return [...groups].map(([value, names]) => `${names.join(', ')} ${value}`).join('; ')
}

/** An ISO 9660 volume time "1970010100000100" as "1970-01-01 00:00:01.00"; all zeros is "not set". */
export function volumeTime(raw: string): string {
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)/.exec(raw)
  if (!m) return JSON.stringify(raw)
  if (/^0+$/.test(raw.slice(0, 16))) return 'not set'
  return `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}.${m[7]}`
}

export function eifLines(r: EifInspection): string[] {
  const h = r.header
  return [
    `${r.file}: EIF version ${h.version}, ${h.arch}, ${r.size} bytes`,
    `  default memory ${h.defaultMemory} bytes (${Math.round(h.defaultMemory / 1024 / 1024)} MiB), ${h.defaultCpus} CPUs, flags 0x${h.flags.toString(16)}`,
    `  sections (${h.sectionCount}):`,
    ...r.sections.map((s) => `    ${pad(s.index, 2)} ${s.type.padEnd(9)} offset ${pad(s.offset, 10)}  ${pad(s.size, 10)} bytes  sha256:${s.sha256}`),
    ...(r.cmdline === undefined ? [] : [`  cmdline: ${r.cmdline}`]),
    ...(r.metadata === undefined ? [] : [`  metadata: ${JSON.stringify(r.metadata)}`]),
    `  crc32: ${r.crc.stored} (${r.crc.ok ? 'ok' : `computed ${r.crc.computed}: does not match`})`,
    ...Object.entries(r.pcrs).map(([pcr, value]) => `  ${pcr}: ${value}`),
    `  ${r.signed ? 'signed (PCR8 not computed)' : 'unsigned'}; PCRs are ${r.hashAlgorithm}`,
  ]
}

export function isoLines(r: IsoInspection): string[] {
  const v = r.volume
  const quoted = (s: string) => (s === '' ? '(empty)' : JSON.stringify(s))
  const lines = [
    `${r.file}: ISO 9660 image, ${r.size} bytes; the volume is ${v.volumeBlocks} blocks of 2048 (${v.volumeBytes} bytes)`,
    `  volume id ${quoted(v.volumeId)}, system id ${quoted(v.systemId)}, publisher ${quoted(v.publisherId)}, preparer ${quoted(v.preparerId)}, application ${quoted(v.applicationId)}`,
    `  times: ${groupedValues([['created', volumeTime(v.created)], ['modified', volumeTime(v.modified)], ['expires', volumeTime(v.expires)], ['effective', volumeTime(v.effective)]])}`,
    `  path tables: ${v.pathTableSize} bytes, L at block ${v.lPathTableLba}, M at block ${v.mPathTableLba}`,
  ]
  if (r.boot.length === 0) lines.push('  El Torito: no boot catalog')
  else {
    lines.push(`  El Torito (${r.boot.length} entries):`)
    for (const b of r.boot) {
      const image = b.file === undefined ? 'no file starts there' : `${b.file} (${b.size} bytes)`
      lines.push(
        `    ${b.index} ${b.platform.padEnd(4)} ${b.bootable ? 'bootable' : 'not bootable'}, emulation ${b.emulation}, load ${b.loadSectors} sectors at segment 0x${b.loadSegment.toString(16)}, image at block ${b.lba}: ${image}`,
      )
    }
  }
  if (!r.mbr) lines.push('  no MBR (not isohybrid)')
  else {
    lines.push(`  isohybrid MBR: id ${r.mbr.id}, boot image at 512-byte sector ${r.mbr.lba432} (field at 432)`)
    for (const p of r.mbr.partitions)
      lines.push(`    partition ${p.index}: type ${p.type}${p.bootable ? ' bootable' : ''}, first LBA ${p.firstLba}, ${p.sectors} sectors (${p.sectors * 512} bytes)`)
  }
  const times = new Set(r.files.map((f) => f.time))
  const oneTime = times.size === 1
  lines.push(`  files (${r.files.length})${oneTime ? `, every record's time ${[...times][0]}` : ''}:`)
  const width = Math.max(0, ...r.files.map((f) => f.path.length + (f.directory ? 1 : 0)))
  for (const f of r.files) {
    const name = (f.directory ? `${f.path}/` : f.path).padEnd(width)
    const what = f.directory ? `${'directory'.padStart(16)}` : `${pad(f.size, 10)} bytes`
    lines.push(`    ${name}  ${what}  block ${pad(f.lba, 7)}${oneTime ? '' : `  ${f.time}`}${f.sha256 ? `  sha256:${f.sha256}` : ''}`)
  }
  if (r.esp) lines.push(`  the EFI boot image ${r.esp.file}:`, ...fatLines(r.esp, '    '))
  return lines
}

export function peLines(r: PeInspection): string[] {
  const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`
  const stamp = r.timeDateStamp === 0 ? '0' : `${r.timeDateStamp} (${new Date(r.timeDateStamp * 1000).toISOString()})`
  const checksum = r.checkSum.stored === r.checkSum.computed ? `${r.checkSum.stored} (ok)` : r.checkSum.stored === '0x00000000' ? `0 (not set; the file's is ${r.checkSum.computed})` : `${r.checkSum.stored} (the file's is ${r.checkSum.computed})`
  const lines = [
    `${r.file}: PE32+ ${r.machine}, ${r.size} bytes, sha256:${r.sha256}`,
    `  TimeDateStamp ${stamp}, CheckSum ${checksum}, SizeOfImage ${r.sizeOfImage}, SizeOfHeaders ${r.sizeOfHeaders}, alignment ${r.sectionAlignment} in memory, ${r.fileAlignment} in the file`,
    `  sections (${r.sections.length}):`,
    ...r.sections.map(
      (s) => `    ${s.name.padEnd(8)}  address ${hex(s.virtualAddress)}  virtual size ${pad(s.virtualSize, 10)}  file offset ${hex(s.rawOffset)}  raw size ${pad(s.rawSize, 10)}  flags ${s.characteristics}`,
    ),
  ]
  if (r.uki) {
    const field = (name: string) => (r.uki!.osRelease === undefined ? undefined : new RegExp(`^${name}=(.*)$`, 'm').exec(r.uki!.osRelease)?.[1]?.replace(/^"(.*)"$/, '$1'))
    const pretty = field('PRETTY_NAME') ?? field('NAME')
    lines.push(`  a UKI: command line ${r.uki.cmdline === undefined ? '(no .cmdline)' : JSON.stringify(r.uki.cmdline)}`)
    if (r.uki.osRelease !== undefined) lines.push(`    os-release: ${pretty ?? JSON.stringify(r.uki.osRelease.split('\n')[0])}`)
    if (r.uki.uname !== undefined) lines.push(`    uname: ${r.uki.uname}`)
  } else lines.push('  not a UKI (no .linux section)')
  lines.push(`  Authenticode SHA-256: ${r.authenticodeSha256}`, ...signatureLines(r.signatures, '  '))
  return lines
}

function signatureLines(signatures: PeInspection['signatures'], indent: string): string[] {
  if (signatures.length === 0) return [`${indent}unsigned (no certificate table)`]
  return signatures.flatMap((s) =>
    !s.valid
      ? [`${indent}signature ${s.index}: INVALID: ${s.error}`]
      : [
          `${indent}signature ${s.index}: signer ${s.signer}`,
          `${indent}  issuer ${s.issuer}, serial ${s.serial}`,
          `${indent}  signing time ${s.signingTime ?? '(none)'}, certificate sha256:${s.certSha256}`,
          s.matches
            ? `${indent}  it signs ${s.signedSha256}: the file's Authenticode hash (ok)`
            : `${indent}  it signs ${s.signedSha256}: NOT the file's Authenticode hash: the file was changed after it was signed`,
        ],
  )
}

/** A PE file found inside a volume: UKI or not, its hash, its signatures. */
function peSummaryLines(pe: PeSummary, indent: string): string[] {
  const what = pe.uki ? `a UKI (${pe.machine}), command line ${pe.uki.cmdline === undefined ? '(no .cmdline)' : JSON.stringify(pe.uki.cmdline)}` : `a PE file (${pe.machine}), not a UKI`
  return [`${indent}${what}; Authenticode SHA-256 ${pe.authenticodeSha256}`, ...signatureLines(pe.signatures, indent)]
}

function fatLines(f: FatContents, indent: string): string[] {
  const v = f.volume
  const width = Math.max(0, ...f.files.map((e) => e.path.length + (e.directory ? 1 : 0)))
  return [
    `${indent}FAT32 volume id ${v.volumeId}, label ${JSON.stringify(v.label)}, ${v.totalSectors} sectors of ${v.bytesPerSector}, clusters of ${v.sectorsPerCluster * v.bytesPerSector} bytes, ${v.fats} FATs of ${v.fatSectors} sectors`,
    `${indent}files (${f.files.length}):`,
    ...f.files.flatMap((e) => [
      `${indent}  ${(e.directory ? `${e.path}/` : e.path).padEnd(width)}  ${e.directory ? 'directory'.padStart(16) : `${pad(e.size, 10)} bytes`}  written ${e.written}${e.sha256 ? `  sha256:${e.sha256}` : ''}`,
      ...(e.pe ? peSummaryLines(e.pe, `${indent}    `) : []),
    ]),
  ]
}

export function fatInspectionLines(r: FatInspection): string[] {
  return [`${r.file}: FAT32 volume, ${r.size} bytes`, ...fatLines(r, '  ')]
}

export function gptLines(r: GptInspection): string[] {
  const h = r.header
  const crc = (c: {stored: string; computed: string}) => (c.stored === c.computed ? `${c.stored} (ok)` : `${c.stored} (computed ${c.computed}: does not match)`)
  const lines = [
    `${r.file}: GPT disk, ${r.size} bytes (${r.size / 512} sectors of 512)`,
    `  disk GUID ${h.diskGuid}, revision ${h.revision}, usable LBA ${h.firstUsableLba}..${h.lastUsableLba}, backup header at LBA ${h.backupLba}`,
    `  ${h.entryCount} entries of ${h.entrySize} bytes at LBA ${h.entriesLba}; header CRC-32 ${crc(h.headerCrc32)}, entries CRC-32 ${crc(h.entriesCrc32)}`,
    `  partitions (${r.partitions.length}):`,
  ]
  for (const p of r.partitions) {
    lines.push(`    ${p.index} ${JSON.stringify(p.name)}: ${p.type} (${p.typeGuid}), LBA ${p.firstLba}..${p.lastLba} (${p.bytes} bytes), GUID ${p.uniqueGuid}, attributes ${p.attributes}`)
    if (p.fat) lines.push(...fatLines(p.fat, '      '))
  }
  return lines
}

export function inspectionLines(r: Inspection): string[] {
  switch (r.format) {
    case 'eif':
      return eifLines(r)
    case 'iso9660':
      return isoLines(r)
    case 'pe':
      return peLines(r)
    case 'gpt':
      return gptLines(r)
    case 'fat32':
      return fatInspectionLines(r)
  }
}

/** PE files inside a volume (on an ESP, in an ISO's EFI boot image), with where they are. */
function nestedPe(r: Inspection): [where: string, pe: PeSummary][] {
  const on = (fat: FatContents | undefined | null, where: string) => (fat?.files ?? []).flatMap((f): [string, PeSummary][] => (f.pe ? [[`${where}${f.path}`, f.pe]] : []))
  switch (r.format) {
    case 'fat32':
      return on(r, '')
    case 'gpt':
      return r.partitions.flatMap((p) => on(p.fat, `partition ${p.index}: `))
    case 'iso9660':
      return on(r.esp, `${r.esp?.file}: `)
    default:
      return []
  }
}

/** What makes a PE file's signatures fail: one that does not hold, or signs other bytes. */
function signatureProblem(where: string, authenticodeSha256: string, signatures: PeInspection['signatures']): string | undefined {
  const bad = signatures.find((s) => !s.valid || !s.matches)
  if (!bad) return undefined
  if (!bad.valid) return `${where}: signature ${bad.index} does not hold: ${bad.error}`
  return `${where}: signature ${bad.index} signs the Authenticode hash ${bad.signedSha256}, the file's is ${authenticodeSha256}: the file was changed after it was signed`
}

/** What makes the file not well formed (inspect's exit 4), or undefined. */
export function inspectionProblem(r: Inspection): string | undefined {
  for (const [where, pe] of nestedPe(r)) {
    const problem = signatureProblem(`${r.file}: ${where}`, pe.authenticodeSha256, pe.signatures)
    if (problem) return problem
  }
  switch (r.format) {
    case 'eif':
      return r.crc.ok ? undefined : `${r.file}: the CRC-32 in the header is ${r.crc.stored}, the file's is ${r.crc.computed}: the file was changed or cut`
    case 'pe':
      return signatureProblem(r.file, r.authenticodeSha256, r.signatures)
    case 'gpt': {
      const {headerCrc32: a, entriesCrc32: b} = r.header
      if (a.stored !== a.computed) return `${r.file}: the GPT header's CRC-32 is ${a.stored}, computed ${a.computed}: the header was changed`
      if (b.stored !== b.computed) return `${r.file}: the GPT entries' CRC-32 is ${b.stored}, computed ${b.computed}: the partition table was changed`
      return undefined
    }
    default:
      return undefined
  }
}
