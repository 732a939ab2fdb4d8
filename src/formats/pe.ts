// PE32+ reading and Unified Kernel Image assembly. A UKI is an EFI stub (systemd's linuxx64.efi.stub)
// with extra sections appended the way systemd's ukify appends them: each new section header goes
// after the stub's last one (there must be room before SizeOfHeaders), its data at the end of the
// file on a FileAlignment boundary, its VirtualAddress right after the previous section's
// VirtualAddress + VirtualSize rounded up to SectionAlignment, VirtualSize = exact content length.
// Then NumberOfSections, SizeOfInitializedData and SizeOfImage are updated, TimeDateStamp is fixed,
// a trailing COFF symbol table is dropped (as ukify does), and the PE checksum is computed. Pure: bytes in, bytes out.
// Section contents are sized sources: the layout needs only their sizes, and the image is streamed
// (a first pass over the sources computes the checksum that sits in the header; the second emits).

import {bytesSource, concatBytes, exactly, type SizedSource} from './bytes.js'

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

/** A running PE checksum over a file's bytes given in order, in chunks of any size. */
export interface PeChecksum {
  update(chunk: Uint8Array): void
  /** The checksum of everything given so far (the file ends here). */
  digest(): number
  /**
   * Adds the 16-bit words of `bytes` at an even offset that update() was given as zeros: a header field
   * filled in after the pass (the certificate table's directory entry once the signature's size is known).
   */
  include(bytes: Uint8Array): void
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Folds a sum of 16-bit words with end-around carry into 0..0xffff (0 only for a zero sum). */
function foldWords(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000)
  return sum
}

/**
 * The PE image checksum (as IMAGEHLP's CheckSumMappedFile), incrementally: the 16-bit one's-complement-style
 * sum of the file with the CheckSum field taken as zero, folded to 16 bits, plus the file length.
 */
export function createPeChecksum(checkSumOffset: number): PeChecksum {
  let sum = 0 // folded after each chunk; within a chunk it stays far below 2^53
  let pos = 0
  let pending = -1 // low byte of a word split across chunks
  return {
    update(chunk) {
      const n = chunk.length
      let i = 0
      if (pos < checkSumOffset + 4 && pos + n > checkSumOffset) {
        // This chunk holds (part of) the CheckSum field: byte by byte, the field read as zero.
        for (; i < n; i++, pos++) {
          const b = pos >= checkSumOffset && pos < checkSumOffset + 4 ? 0 : chunk[i]!
          if (pending < 0) {
            pending = b
          } else {
            sum += pending | (b << 8)
            pending = -1
          }
        }
        sum = foldWords(sum)
        return
      }
      if (pending >= 0 && n > 0) {
        sum += pending | (chunk[0]! << 8)
        pending = -1
        i = 1
      }
      // A local accumulator: `sum` lives in the closure, and adding to it in the loop costs 7x (measured, 200 MiB).
      let acc = sum
      if (LITTLE_ENDIAN && (chunk.byteOffset + i) % 2 === 0) {
        const words = new Uint16Array(chunk.buffer, chunk.byteOffset + i, (n - i) >> 1)
        for (let w = 0; w < words.length; w++) acc += words[w]!
        i += words.length * 2
      }
      for (; i + 1 < n; i += 2) acc += chunk[i]! | (chunk[i + 1]! << 8)
      if (i < n) pending = chunk[i]!
      pos += n
      sum = foldWords(acc)
    },
    digest() {
      const folded = foldWords(pending >= 0 ? sum + pending : sum)
      return (folded + pos) >>> 0
    },
    include(bytes) {
      for (let i = 0; i < bytes.length; i += 2) sum += bytes[i]! | ((bytes[i + 1] ?? 0) << 8)
      sum = foldWords(sum)
    },
  }
}

/** The PE image checksum of a whole file given as `chunks` in order (see createPeChecksum). */
export function peChecksum(chunks: Iterable<Uint8Array>, checkSumOffset: number): number {
  const sum = createPeChecksum(checkSumOffset)
  for (const chunk of chunks) sum.update(chunk)
  return sum.digest()
}

export interface NewSection {
  /** At most 8 bytes, e.g. ".linux". */
  name: string
  /** The section's content; its size is all the layout needs. */
  data: SizedSource
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

/** A PE image laid out from sizes, to be streamed. */
export interface PeImage {
  placed: PlacedSection[]
  sizeOfImage: number
  /** Bytes in the file. */
  size: number
  /**
   * The file in order: the patched headers (with the checksum), then each section's data from its source,
   * passed through as given, with zero padding between. The first call reads the sources twice (once for
   * the checksum), later calls once. A source that yields more or fewer bytes than its size fails the stream.
   */
  chunks(): AsyncGenerator<Uint8Array>
}

/** Appends sections to a PE32+ image. Layout errors (PeFormatError) are thrown here, before any source is read. */
export function addPeSections(image: Uint8Array, sections: readonly NewSection[], options: AddSectionsOptions = {}): PeImage {
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
  // The file as parts in order: bytes to yield as they are, or a section's source to stream.
  const parts: (Uint8Array | NewSection)[] = [head]
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
    const size = section.data.size
    if (!Number.isSafeInteger(size) || size < 0) throw new PeFormatError(`PE section ${section.name}: size must be a whole number of bytes, got ${size}`)
    const sizeOfRawData = roundUp(size, pe.fileAlignment)
    const virtualAddress = roundUp(lastEnd, alignment)
    const virtualSize = size
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
    if (pointerToRawData > fileEnd) parts.push(new Uint8Array(pointerToRawData - fileEnd))
    parts.push(section)
    if (sizeOfRawData > virtualSize) parts.push(new Uint8Array(sizeOfRawData - virtualSize))
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
  const checkSumOffset = pe.optionalOffset + 64
  v.setUint32(checkSumOffset, 0, true)

  async function* body(): AsyncGenerator<Uint8Array> {
    for (const part of parts) {
      if (part instanceof Uint8Array) {
        if (part.length > 0) yield part
        continue
      }
      const {name, data} = part
      yield* exactly(data.open(), data.size, (seen) => {
        const got = seen > data.size ? `more than ${data.size} bytes` : `${seen} bytes`
        return new Error(`PE section ${name}: its source gave ${got}, but the image was laid out for ${data.size} (did it change while being read?)`)
      })
    }
  }
  let checksum: Promise<number> | undefined
  const computeChecksum = async () => {
    const sum = createPeChecksum(checkSumOffset)
    for await (const chunk of body()) sum.update(chunk)
    return sum.digest()
  }
  async function* chunks(): AsyncGenerator<Uint8Array> {
    if (options.checksum ?? true) {
      checksum ??= computeChecksum()
      try {
        v.setUint32(checkSumOffset, await checksum, true) // the same value on every call
      } catch (error) {
        checksum = undefined // a failed pass is not remembered
        throw error
      }
    }
    yield* body()
  }
  return {placed, sizeOfImage, size: fileEnd, chunks}
}

export interface UkiInput {
  /** The EFI stub, e.g. systemd's linuxx64.efi.stub (unsigned). */
  stub: Uint8Array
  /** os-release contents (.osrel). */
  osRelease: string
  /** Kernel command line (.cmdline), written as is, without a terminating NUL. */
  cmdline: string
  /** The kernel (bzImage with an EFI stub) (.linux). */
  linux: SizedSource
  /** The initramfs (.initrd). */
  initrd: SizedSource
  /** Kernel release (.uname), optional. */
  uname?: string
  /** COFF TimeDateStamp (SOURCE_DATE_EPOCH or 0). Default 0. */
  timeDateStamp?: number
  /** See AddSectionsOptions.sectionAlignment. */
  sectionAlignment?: number
  /** See AddSectionsOptions.checksum (a UKI to be signed skips it: signing writes the checksum of the signed file). */
  checksum?: boolean
}

/** The UKI's sections, in ukify's order: .osrel, .cmdline, .uname, .initrd, then .linux last. */
export function ukiSections(input: Omit<UkiInput, 'stub'>): NewSection[] {
  const text = (s: string) => bytesSource(new TextEncoder().encode(s))
  const sections: NewSection[] = [
    {name: '.osrel', data: text(input.osRelease)},
    {name: '.cmdline', data: text(input.cmdline)},
  ]
  if (input.uname !== undefined) sections.push({name: '.uname', data: text(input.uname)})
  sections.push({name: '.initrd', data: input.initrd}, {name: '.linux', data: input.linux})
  return sections
}

/** Builds a UKI, laid out now and streamed by chunks() (kernel and initrd are passed through, not copied). */
export function buildUkiChunks(input: UkiInput): PeImage {
  return addPeSections(input.stub, ukiSections(input), {timeDateStamp: input.timeDateStamp, sectionAlignment: input.sectionAlignment, checksum: input.checksum})
}

/** Builds a UKI as one buffer (tests, small images), from the same stream. Layout errors are thrown, not rejected. */
export function buildUki(input: UkiInput): Promise<Uint8Array> {
  const image = buildUkiChunks(input)
  return (async () => {
    const parts: Uint8Array[] = []
    for await (const chunk of image.chunks()) parts.push(chunk)
    return concatBytes(parts)
  })()
}
