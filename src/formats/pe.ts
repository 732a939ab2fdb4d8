// PE32+ reading and Unified Kernel Image assembly. A UKI is an EFI stub (systemd's linuxx64.efi.stub)
// with extra sections appended the way systemd's ukify appends them: each new section header goes
// after the stub's last one (there must be room before SizeOfHeaders), its data at the end of the
// file on a FileAlignment boundary, its VirtualAddress right after the previous section's
// VirtualAddress + VirtualSize rounded up to SectionAlignment, VirtualSize = exact content length.
// Then NumberOfSections, SizeOfInitializedData and SizeOfImage are updated, TimeDateStamp is fixed,
// a trailing COFF symbol table is dropped (as ukify does), and the PE checksum is computed. Pure: bytes in, bytes out.

const PE32PLUS_MAGIC = 0x20b
const SECTION_HEADER_SIZE = 40
const IMAGE_SCN_CNT_CODE = 0x00000020
const IMAGE_SCN_CNT_INITIALIZED_DATA = 0x00000040
const IMAGE_SCN_MEM_READ = 0x40000000

export interface PeSection {
  name: string
  virtualSize: number
  virtualAddress: number
  sizeOfRawData: number
  pointerToRawData: number
  characteristics: number
}

export interface PeInfo {
  machine: number
  /** File offset of the COFF header ("PE\0\0" + 4). */
  coffOffset: number
  /** File offset of the optional header. */
  optionalOffset: number
  /** File offset of the section table. */
  sectionTableOffset: number
  timeDateStamp: number
  sectionAlignment: number
  fileAlignment: number
  sizeOfImage: number
  sizeOfHeaders: number
  sizeOfInitializedData: number
  checkSum: number
  /** Certificate table (security directory): file offset and size; 0 when unsigned. */
  certificateTable: {offset: number; size: number}
  sections: PeSection[]
}

export class PeFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PeFormatError'
  }
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a

/** Parses the headers and section table of a PE32+ image. Throws PeFormatError on anything else. */
export function parsePe(image: Uint8Array): PeInfo {
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength)
  const need = (end: number, what: string) => {
    if (end > image.length) throw new PeFormatError(`PE image truncated (${what})`)
  }
  need(64, 'DOS header')
  if (image[0] !== 0x4d || image[1] !== 0x5a) throw new PeFormatError('not a PE image: no MZ signature')
  const peOffset = v.getUint32(60, true)
  need(peOffset + 24, 'COFF header')
  if (v.getUint32(peOffset, true) !== 0x00004550) throw new PeFormatError('not a PE image: no PE signature')
  const coffOffset = peOffset + 4
  const machine = v.getUint16(coffOffset, true)
  const numberOfSections = v.getUint16(coffOffset + 2, true)
  const timeDateStamp = v.getUint32(coffOffset + 4, true)
  const sizeOfOptionalHeader = v.getUint16(coffOffset + 16, true)
  const optionalOffset = coffOffset + 20
  need(optionalOffset + sizeOfOptionalHeader, 'optional header')
  if (sizeOfOptionalHeader < 112 || v.getUint16(optionalOffset, true) !== PE32PLUS_MAGIC) {
    throw new PeFormatError('not a PE32+ image (optional header magic is not 0x20b)')
  }
  const numberOfRvaAndSizes = v.getUint32(optionalOffset + 108, true)
  let certificateTable = {offset: 0, size: 0}
  if (numberOfRvaAndSizes > 4 && sizeOfOptionalHeader >= 112 + 5 * 8) {
    certificateTable = {offset: v.getUint32(optionalOffset + 112 + 32, true), size: v.getUint32(optionalOffset + 112 + 36, true)}
  }
  const sectionTableOffset = optionalOffset + sizeOfOptionalHeader
  need(sectionTableOffset + numberOfSections * SECTION_HEADER_SIZE, 'section table')
  const sections: PeSection[] = []
  for (let i = 0; i < numberOfSections; i++) {
    const at = sectionTableOffset + i * SECTION_HEADER_SIZE
    const rawName = image.subarray(at, at + 8)
    const end = rawName.indexOf(0)
    sections.push({
      name: new TextDecoder('latin1').decode(end < 0 ? rawName : rawName.subarray(0, end)),
      virtualSize: v.getUint32(at + 8, true),
      virtualAddress: v.getUint32(at + 12, true),
      sizeOfRawData: v.getUint32(at + 16, true),
      pointerToRawData: v.getUint32(at + 20, true),
      characteristics: v.getUint32(at + 36, true),
    })
  }
  return {
    machine,
    coffOffset,
    optionalOffset,
    sectionTableOffset,
    timeDateStamp,
    sectionAlignment: v.getUint32(optionalOffset + 32, true),
    fileAlignment: v.getUint32(optionalOffset + 36, true),
    sizeOfImage: v.getUint32(optionalOffset + 56, true),
    sizeOfHeaders: v.getUint32(optionalOffset + 60, true),
    sizeOfInitializedData: v.getUint32(optionalOffset + 8, true),
    checkSum: v.getUint32(optionalOffset + 64, true),
    certificateTable,
    sections,
  }
}

/**
 * The PE image checksum (as IMAGEHLP's CheckSumMappedFile): the 16-bit one's-complement-style sum of the
 * file with the CheckSum field taken as zero, folded to 16 bits, plus the file length. `chunks` are the
 * file's bytes in order.
 */
export function peChecksum(chunks: Iterable<Uint8Array>, checkSumOffset: number): number {
  let sum = 0
  let pos = 0
  let pending = -1 // low byte of a word split across chunks
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++, pos++) {
      const b = pos >= checkSumOffset && pos < checkSumOffset + 4 ? 0 : chunk[i]!
      if (pending < 0) {
        pending = b
      } else {
        sum += pending | (b << 8)
        sum = (sum & 0xffff) + (sum >>> 16)
        pending = -1
      }
    }
  }
  if (pending >= 0) {
    sum += pending
    sum = (sum & 0xffff) + (sum >>> 16)
  }
  sum = (sum & 0xffff) + (sum >>> 16)
  return (sum + pos) >>> 0
}

export interface NewSection {
  /** At most 8 bytes, e.g. ".linux". */
  name: string
  data: Uint8Array
  /** Default: CNT_INITIALIZED_DATA | MEM_READ, or CNT_CODE | MEM_READ for ".linux" (as ukify does). */
  characteristics?: number
}

export interface AddSectionsOptions {
  /** COFF TimeDateStamp to write (e.g. SOURCE_DATE_EPOCH). Default 0. */
  timeDateStamp?: number
  /** Alignment for the new sections' VirtualAddress. Default: the stub's SectionAlignment (ukify's rule). */
  sectionAlignment?: number
  /** Write the PE checksum (default true; ukify writes 0). */
  checksum?: boolean
}

/** Where each appended section went. */
export interface PlacedSection {
  name: string
  virtualAddress: number
  virtualSize: number
  pointerToRawData: number
  sizeOfRawData: number
}

/**
 * Appends sections to a PE32+ image. Returns the new image as chunks in file order (the section data
 * arrays are passed through, not copied) and where each section was placed.
 */
export function addPeSections(
  image: Uint8Array,
  sections: readonly NewSection[],
  options: AddSectionsOptions = {},
): {chunks: Uint8Array[]; placed: PlacedSection[]; sizeOfImage: number} {
  const pe = parsePe(image)
  if (pe.certificateTable.offset !== 0 || pe.certificateTable.size !== 0) {
    throw new PeFormatError('the stub is signed (it has a certificate table); appending sections would break it: use an unsigned stub')
  }
  if (pe.sections.length === 0) throw new PeFormatError('the stub has no sections')
  const alignment = options.sectionAlignment ?? pe.sectionAlignment
  if (alignment <= 0 || alignment % pe.sectionAlignment !== 0) {
    throw new PeFormatError(`section alignment ${alignment} is not a multiple of the stub's SectionAlignment ${pe.sectionAlignment}`)
  }
  const names = new Set(pe.sections.map((s) => s.name))
  const tableEnd = pe.sectionTableOffset + (pe.sections.length + sections.length) * SECTION_HEADER_SIZE
  if (tableEnd > pe.sizeOfHeaders) {
    throw new PeFormatError(
      `no room for ${sections.length} more section headers: the table would end at ${tableEnd}, headers end at ${pe.sizeOfHeaders}`,
    )
  }
  const firstRaw = Math.min(...pe.sections.filter((s) => s.sizeOfRawData > 0).map((s) => s.pointerToRawData))
  if (tableEnd > firstRaw) throw new PeFormatError('no room for more section headers before the first section data')

  // Like ukify: a COFF symbol table (and its string table) that ends the file is dropped; an image
  // file should not have one, and new sections go where it was.
  let stubEnd = image.length
  const iv = new DataView(image.buffer, image.byteOffset, image.byteLength)
  const symbols = iv.getUint32(pe.coffOffset + 8, true)
  const symbolCount = iv.getUint32(pe.coffOffset + 12, true)
  let stripSymbols = false
  if (symbols !== 0 && symbols + symbolCount * 18 + 4 <= image.length) {
    const stringTable = symbols + symbolCount * 18
    const end = stringTable + iv.getUint32(stringTable, true)
    if (end === image.length) {
      stubEnd = symbols
      stripSymbols = true
    }
  }
  const head = Uint8Array.from(image.subarray(0, stubEnd)) // the stub, whose headers are patched here
  const v = new DataView(head.buffer)
  if (stripSymbols) {
    v.setUint32(pe.coffOffset + 8, 0, true)
    v.setUint32(pe.coffOffset + 12, 0, true)
    v.setUint16(pe.coffOffset + 18, v.getUint16(pe.coffOffset + 18, true) | 0x0004, true) // LINE_NUMS_STRIPPED
  }
  const chunks: Uint8Array[] = [head]
  let fileEnd = stubEnd
  let lastEnd = 0
  for (const s of pe.sections) lastEnd = Math.max(lastEnd, s.virtualAddress + s.virtualSize)
  let initialized = pe.sizeOfInitializedData
  const placed: PlacedSection[] = []
  for (const [i, section] of sections.entries()) {
    const nameBytes = new TextEncoder().encode(section.name)
    if (nameBytes.length === 0 || nameBytes.length > 8) throw new PeFormatError(`PE section name must be 1-8 bytes: ${JSON.stringify(section.name)}`)
    if (names.has(section.name)) throw new PeFormatError(`the stub already has a ${section.name} section`)
    names.add(section.name)
    const pointerToRawData = roundUp(fileEnd, pe.fileAlignment)
    const sizeOfRawData = roundUp(section.data.length, pe.fileAlignment)
    const virtualAddress = roundUp(lastEnd, alignment)
    const virtualSize = section.data.length
    const characteristics =
      section.characteristics ?? (section.name === '.linux' ? IMAGE_SCN_CNT_CODE : IMAGE_SCN_CNT_INITIALIZED_DATA) | IMAGE_SCN_MEM_READ
    const at = pe.sectionTableOffset + (pe.sections.length + i) * SECTION_HEADER_SIZE
    head.fill(0, at, at + SECTION_HEADER_SIZE)
    head.set(nameBytes, at)
    v.setUint32(at + 8, virtualSize, true)
    v.setUint32(at + 12, virtualAddress, true)
    v.setUint32(at + 16, sizeOfRawData, true)
    v.setUint32(at + 20, pointerToRawData, true)
    v.setUint32(at + 36, characteristics >>> 0, true)
    if (pointerToRawData > fileEnd) chunks.push(new Uint8Array(pointerToRawData - fileEnd))
    chunks.push(section.data)
    if (sizeOfRawData > virtualSize) chunks.push(new Uint8Array(sizeOfRawData - virtualSize))
    fileEnd = pointerToRawData + sizeOfRawData
    lastEnd = virtualAddress + virtualSize
    initialized += virtualSize
    placed.push({name: section.name, virtualAddress, virtualSize, pointerToRawData, sizeOfRawData})
    if (fileEnd > 0xffffffff || lastEnd > 0xffffffff) throw new PeFormatError('PE image larger than 4 GiB')
  }
  const sizeOfImage = roundUp(lastEnd, pe.sectionAlignment)
  v.setUint16(pe.coffOffset + 2, pe.sections.length + sections.length, true)
  v.setUint32(pe.coffOffset + 4, (options.timeDateStamp ?? 0) >>> 0, true)
  v.setUint32(pe.optionalOffset + 8, initialized >>> 0, true)
  v.setUint32(pe.optionalOffset + 56, sizeOfImage, true)
  v.setUint32(pe.optionalOffset + 64, 0, true)
  if (options.checksum ?? true) v.setUint32(pe.optionalOffset + 64, peChecksum(chunks, pe.optionalOffset + 64), true)
  return {chunks, placed, sizeOfImage}
}

export interface UkiInput {
  /** The EFI stub, e.g. systemd's linuxx64.efi.stub (unsigned). */
  stub: Uint8Array
  /** os-release contents (.osrel). */
  osRelease: string
  /** Kernel command line (.cmdline), written as is, without a terminating NUL. */
  cmdline: string
  /** The kernel (bzImage with an EFI stub) (.linux). */
  linux: Uint8Array
  /** The initramfs (.initrd). */
  initrd: Uint8Array
  /** Kernel release (.uname), optional. */
  uname?: string
  /** COFF TimeDateStamp (SOURCE_DATE_EPOCH or 0). Default 0. */
  timeDateStamp?: number
  /** See AddSectionsOptions.sectionAlignment. */
  sectionAlignment?: number
}

/** The UKI's sections, in ukify's order: .osrel, .cmdline, .uname, .initrd, then .linux last. */
export function ukiSections(input: Omit<UkiInput, 'stub'>): NewSection[] {
  const text = (s: string) => new TextEncoder().encode(s)
  const sections: NewSection[] = [
    {name: '.osrel', data: text(input.osRelease)},
    {name: '.cmdline', data: text(input.cmdline)},
  ]
  if (input.uname !== undefined) sections.push({name: '.uname', data: text(input.uname)})
  sections.push({name: '.initrd', data: input.initrd}, {name: '.linux', data: input.linux})
  return sections
}

/** Builds a UKI as chunks in file order (kernel and initrd are not copied) and the section placement. */
export function buildUkiChunks(input: UkiInput): {chunks: Uint8Array[]; placed: PlacedSection[]} {
  const {chunks, placed} = addPeSections(input.stub, ukiSections(input), {
    timeDateStamp: input.timeDateStamp,
    sectionAlignment: input.sectionAlignment,
  })
  return {chunks, placed}
}

/** Builds a UKI as one buffer. Same input, same bytes. */
export function buildUki(input: UkiInput): Uint8Array {
  const {chunks} = buildUkiChunks(input)
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}
