// ISO 9660 image writer (ECMA-119, 2nd edition) with El Torito boot entries (El Torito 1.0) and an
// isohybrid MBR, so one image boots from optical media and, written to a USB stick, as a disk.
// 2048-byte blocks: system area (16 blocks; the MBR in its first 512 bytes), the primary volume
// descriptor at 16, the El Torito boot record at 17, the terminator, the L and M path tables, the
// directories (in path-table order), the boot catalog, the BIOS boot image, then every other file
// in depth-first, sorted order, and zeros up to a multiple of the alignment (1 MiB by default).
// Names are interchange level 1 (8.3) or 2 (up to 30 characters), d-characters only, no Rock Ridge
// or Joliet: the caller picks the names. Every time field is one given epoch. Pure: sizes give the
// layout, then the image is streamed in block order, each file read from its source when its turn
// comes, so memory does not grow with the content.

import {concatBytes, exactly, type SizedSource, zeroFill} from './bytes.js'

export const ISO_BLOCK = 2048
const SYSTEM_AREA_BLOCKS = 16
const PVD_LBA = 16
const MIB = 1024 * 1024
/** A directory record's 32-bit data-length field; larger files need multi-extent (level 3), which we do not write. */
export const MAX_ISO_FILE_SIZE = 0xffffffff
/** El Torito's sector count is 16 bits of 512-byte sectors. */
const MAX_LOAD_SECTORS = 0xffff
/** ECMA-119 6.8.2.1: at most 8 levels of directories, root included. */
const MAX_DEPTH = 8
/** isohybrid's disk geometry: 64 heads, 32 sectors a track, so a cylinder is 1 MiB. */
const HEADS = 64
const SECTORS = 32

export interface IsoFileInput {
  /** Slash-separated path ("ISOLINUX/LDLINUX.C32"); each part a level-1 or level-2 name of d-characters. */
  path: string
  source: SizedSource
}

/** The El Torito default entry for BIOS: a no-emulation image (isolinux.bin), loaded at 0x7C0:0. */
export interface IsoBiosBoot {
  path: string
  /** The image itself, small enough to hold: the boot info table is patched into a copy of it. */
  image: Uint8Array
  /** 512-byte sectors the BIOS loads (El Torito's sector count). Default 4, as isolinux wants. */
  loadSectors?: number
  /** Write the boot info table at offset 8 (mkisofs -boot-info-table). Default true. */
  bootInfoTable?: boolean
}

/** A section for platform 0xEF (UEFI): a FAT image that firmware opens as a partition. */
export interface IsoEfiBoot {
  path: string
  source: SizedSource
}

export interface IsoHybridMbr {
  /** The MBR boot code: the first 432 bytes are used (syslinux's isohdpfx.bin is exactly that). */
  code: Uint8Array
  /** The MBR's 32-bit disk signature (offset 440). */
  id: number
}

export interface IsoOptions {
  files: readonly IsoFileInput[]
  /** Up to 32 d-characters (A-Z, 0-9, _). */
  volumeId: string
  /** Every time field (SOURCE_DATE_EPOCH, seconds, UTC). */
  sourceDateEpoch: number
  /** Interchange level for names: 1 (8.3, directories 8) or 2 (30 characters). Default 1. */
  level?: 1 | 2
  /** a-characters, up to 32; default spaces. */
  systemId?: string
  /** a-characters, up to 128 each; default spaces. */
  publisherId?: string
  preparerId?: string
  applicationId?: string
  /** El Torito: where the boot catalog is listed, and the entries. At least one of bios, efi. */
  boot?: {catalogPath: string; bios?: IsoBiosBoot; efi?: IsoEfiBoot}
  /** An isohybrid MBR in the system area (needs boot.bios: its code loads the BIOS image from the LBA patched in). */
  hybrid?: IsoHybridMbr
  /** The image is padded with zeros to a multiple of this (bytes, a multiple of 2048). Default 1 MiB. */
  alignment?: number
}

export type IsoFileRole = 'file' | 'catalog' | 'bios' | 'efi'

export interface IsoPlacedFile {
  path: string
  /** The identifier as written ("LDLINUX.C32;1"). */
  identifier: string
  role: IsoFileRole
  /** First block (0 for an empty file). */
  lba: number
  size: number
}

export interface IsoPlacedDirectory {
  /** "" for the root. */
  path: string
  lba: number
  /** Bytes of its records, a whole number of blocks. */
  size: number
  /** 1-based number in the path table. */
  number: number
}

export interface IsoBootEntry {
  platform: 'bios' | 'uefi'
  path: string
  lba: number
  /** The catalog's sector count field (512-byte sectors; 0 when the image is larger than the field holds). */
  loadSectors: number
  size: number
}

export interface MbrPartition {
  status: number
  type: number
  /** In 512-byte sectors. */
  firstLba: number
  sectors: number
}

export interface IsoLayout {
  volumeId: string
  totalBlocks: number
  sizeBytes: number
  pathTableSize: number
  lPathTableLba: number
  mPathTableLba: number
  directories: IsoPlacedDirectory[]
  files: IsoPlacedFile[]
  catalogLba?: number
  bootEntries: IsoBootEntry[]
  mbr?: {id: number; partitions: MbrPartition[]}
}

// ---------------------------------------------------------------------------------------------
// Characters and names

const D_CHARS = /^[A-Z0-9_]*$/
const A_CHARS = /^[A-Z0-9_ !"%&'()*+,\-./:;<=>?]*$/

function padded(text: string, length: number, what: string, pattern: RegExp): Uint8Array {
  if (text.length > length || !pattern.test(text)) throw new RangeError(`ISO 9660 ${what} must be at most ${length} characters of ${pattern === D_CHARS ? 'A-Z 0-9 _' : 'A-Z 0-9 _ space and !"%&\'()*+,-./:;<=>?'}, got ${JSON.stringify(text)}`)
  return ascii(text.padEnd(length, ' '))
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0))

interface Name {
  /** Name and extension, for sorting (ECMA-119 9.3). */
  base: string
  ext: string
  /** As written in the directory record. */
  identifier: string
}

function fileName(name: string, level: 1 | 2, where: string): Name {
  const dot = name.indexOf('.')
  const base = dot < 0 ? name : name.slice(0, dot)
  const ext = dot < 0 ? '' : name.slice(dot + 1)
  const ok =
    D_CHARS.test(base) &&
    D_CHARS.test(ext) &&
    base.length + ext.length > 0 &&
    (level === 1 ? base.length <= 8 && ext.length <= 3 : base.length + ext.length <= 30)
  if (!ok) throw new RangeError(`not an ISO 9660 level ${level} file name (${level === 1 ? '8.3' : 'up to 30'} characters of A-Z 0-9 _, one dot): ${JSON.stringify(name)} in ${where}`)
  return {base, ext, identifier: `${base}.${ext};1`}
}

function directoryName(name: string, level: 1 | 2, where: string): Name {
  if (name.length === 0 || name.length > (level === 1 ? 8 : 31) || !D_CHARS.test(name))
    throw new RangeError(`not an ISO 9660 level ${level} directory name (${level === 1 ? 8 : 31} characters of A-Z 0-9 _): ${JSON.stringify(name)} in ${where}`)
  return {base: name, ext: '', identifier: name}
}

/** ECMA-119 9.3: names padded with spaces compared byte by byte, then extensions (the version is always 1). */
function compareNames(a: Name, b: Name): number {
  const cmp = (x: string, y: string) => {
    const n = Math.max(x.length, y.length)
    const [p, q] = [x.padEnd(n, ' '), y.padEnd(n, ' ')]
    return p < q ? -1 : p > q ? 1 : 0
  }
  return cmp(a.base, b.base) || cmp(a.ext, b.ext)
}

// ---------------------------------------------------------------------------------------------
// Time

/** A directory record's 7-byte time: years since 1900, month, day, hour, minute, second, UTC offset 0. Clamped to 1900..2155. */
export function isoRecordTime(epochSeconds: number): Uint8Array {
  const min = Date.UTC(1900, 0, 1) / 1000
  const max = Date.UTC(2155, 11, 31, 23, 59, 59) / 1000
  const d = new Date(Math.min(Math.max(Math.floor(epochSeconds), min), max) * 1000)
  return Uint8Array.of(d.getUTCFullYear() - 1900, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0)
}

/** A volume descriptor's 17-byte time: "YYYYMMDDHHMMSScc" digits and UTC offset 0. Clamped to 1970..9999. */
export function isoVolumeTime(epochSeconds: number): Uint8Array {
  const max = Date.UTC(9999, 11, 31, 23, 59, 59) / 1000
  const t = new Date(Math.min(Math.max(Math.floor(epochSeconds), 0), max) * 1000)
  const two = (n: number) => String(n).padStart(2, '0')
  const text = `${String(t.getUTCFullYear()).padStart(4, '0')}${two(t.getUTCMonth() + 1)}${two(t.getUTCDate())}${two(t.getUTCHours())}${two(t.getUTCMinutes())}${two(t.getUTCSeconds())}00`
  const out = new Uint8Array(17)
  out.set(ascii(text), 0)
  return out
}

/** "Not specified" (ECMA-119 8.4.26.1): sixteen "0" digits and offset 0. */
function unspecifiedTime(): Uint8Array {
  const out = new Uint8Array(17)
  out.set(ascii('0'.repeat(16)), 0)
  return out
}

// ---------------------------------------------------------------------------------------------
// Tree and layout

interface FileNode {
  kind: 'file'
  name: Name
  path: string
  role: IsoFileRole
  size: number
  source?: SizedSource
  lba: number
}

interface DirNode {
  kind: 'dir'
  name: Name
  path: string
  parent: DirNode | undefined
  children: Map<string, Node>
  sorted: Node[]
  depth: number
  number: number
  lba: number
  size: number
}

type Node = FileNode | DirNode

const blocks = (bytes: number) => Math.ceil(bytes / ISO_BLOCK)

function newDir(name: Name, path: string, parent: DirNode | undefined): DirNode {
  return {kind: 'dir', name, path, parent, children: new Map(), sorted: [], depth: parent ? parent.depth + 1 : 1, number: 0, lba: 0, size: 0}
}

function buildTree(options: IsoOptions, level: 1 | 2): {root: DirNode; files: FileNode[]} {
  const root = newDir({base: '', ext: '', identifier: ''}, '', undefined)
  const files: FileNode[] = []
  const add = (path: string, role: IsoFileRole, size: number, source?: SizedSource) => {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`ISO file ${JSON.stringify(path)}: size must be a whole number of bytes, got ${size}`)
    if (size > MAX_ISO_FILE_SIZE) throw new RangeError(`ISO 9660 holds files of at most ${MAX_ISO_FILE_SIZE} bytes in one extent; ${JSON.stringify(path)} is ${size} bytes`)
    const parts = path.replace(/^\/+/, '').split('/')
    if (parts.some((p) => p === '')) throw new RangeError(`bad ISO path ${JSON.stringify(path)}`)
    let dir = root
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1
      const existing = dir.children.get(part)
      if (last) {
        if (existing) throw new RangeError(`ISO path given twice: ${JSON.stringify(path)}`)
        const node: FileNode = {kind: 'file', name: fileName(part, level, path), path: parts.join('/'), role, size, source, lba: 0}
        dir.children.set(part, node)
        files.push(node)
        return node
      }
      if (existing && existing.kind !== 'dir') throw new RangeError(`ISO path runs through a file: ${JSON.stringify(path)}`)
      const next = existing ?? newDir(directoryName(part, level, path), parts.slice(0, i + 1).join('/'), dir)
      if (!existing) {
        if (next.depth > MAX_DEPTH) throw new RangeError(`ISO 9660 allows ${MAX_DEPTH} levels of directories: ${JSON.stringify(path)}`)
        dir.children.set(part, next)
      }
      dir = next as DirNode
    }
    throw new RangeError(`bad ISO path ${JSON.stringify(path)}`)
  }
  for (const f of options.files) add(f.path, 'file', f.source.size, f.source)
  const boot = options.boot
  if (boot) {
    if (!boot.bios && !boot.efi) throw new RangeError('an El Torito boot catalog needs a BIOS or an EFI entry')
    add(boot.catalogPath, 'catalog', ISO_BLOCK)
    if (boot.bios) {
      if (boot.bios.image.length < 64 && boot.bios.bootInfoTable !== false) throw new RangeError(`the BIOS boot image is ${boot.bios.image.length} bytes; a boot info table needs at least 64`)
      add(boot.bios.path, 'bios', boot.bios.image.length)
    }
    if (boot.efi) add(boot.efi.path, 'efi', boot.efi.source.size, boot.efi.source)
  }
  return {root, files}
}

/** Directories in path-table order (ECMA-119 6.9.1): by level, then parent number, then name. */
function pathTableOrder(root: DirNode): DirNode[] {
  const order: DirNode[] = [root]
  root.number = 1
  for (let i = 0; i < order.length; i++) {
    for (const child of order[i]!.sorted) {
      if (child.kind !== 'dir') continue
      child.number = order.length + 1
      order.push(child)
    }
  }
  return order
}

const recordLength = (identifierLength: number) => 33 + identifierLength + (identifierLength % 2 === 0 ? 1 : 0)

/** Bytes of a directory's records: records never cross a block boundary; a whole number of blocks. */
function directorySize(dir: DirNode): number {
  let at = 2 * recordLength(1) // "." and ".."
  for (const n of dir.sorted) {
    const len = recordLength(n.name.identifier.length)
    if ((at % ISO_BLOCK) + len > ISO_BLOCK) at = Math.ceil(at / ISO_BLOCK) * ISO_BLOCK
    at += len
  }
  return blocks(at) * ISO_BLOCK
}

function pathTableSize(order: DirNode[]): number {
  return order.reduce((n, d) => n + 8 + Math.max(1, d.name.identifier.length) + (Math.max(1, d.name.identifier.length) % 2), 0)
}

interface Plan {
  layout: IsoLayout
  root: DirNode
  order: DirNode[]
  /** Files with content, in block order. */
  extents: FileNode[]
  options: IsoOptions
}

function plan(options: IsoOptions): Plan {
  const level = options.level ?? 1
  if (level !== 1 && level !== 2) throw new RangeError(`ISO 9660 interchange level must be 1 or 2, got ${level}`)
  padded(options.volumeId, 32, 'volume id', D_CHARS)
  const alignment = options.alignment ?? MIB
  if (!Number.isSafeInteger(alignment) || alignment <= 0 || alignment % ISO_BLOCK !== 0) throw new RangeError(`ISO alignment must be a positive multiple of ${ISO_BLOCK}, got ${alignment}`)
  if (options.hybrid && !options.boot?.bios) throw new RangeError('an isohybrid MBR loads the BIOS boot image: boot.bios is required')
  if (options.hybrid && options.hybrid.code.length < 432) throw new RangeError(`isohybrid MBR code must be at least 432 bytes, got ${options.hybrid.code.length}`)
  if (options.hybrid && (!Number.isInteger(options.hybrid.id) || options.hybrid.id < 0 || options.hybrid.id > 0xffffffff)) throw new RangeError(`MBR id must be a 32-bit unsigned integer, got ${options.hybrid.id}`)

  const {root, files} = buildTree(options, level)
  const sortDir = (dir: DirNode) => {
    dir.sorted = [...dir.children.values()].sort((a, b) => compareNames(a.name, b.name))
    for (const n of dir.sorted) if (n.kind === 'dir') sortDir(n)
  }
  sortDir(root)
  const order = pathTableOrder(root)

  let next = PVD_LBA + 1 + (options.boot ? 1 : 0) + 1 // PVD, boot record, terminator
  const ptSize = pathTableSize(order)
  const lPath = next
  next += blocks(ptSize)
  const mPath = next
  next += blocks(ptSize)
  for (const dir of order) {
    dir.size = directorySize(dir)
    dir.lba = next
    next += dir.size / ISO_BLOCK
  }
  // Content order: the catalog, the BIOS image (near the start, where an MBR reading by CHS reaches it), then the rest depth-first.
  const extents: FileNode[] = []
  const placeFile = (f: FileNode) => {
    if (f.size === 0) return
    f.lba = next
    next += blocks(f.size)
    extents.push(f)
  }
  const byRole = (role: IsoFileRole) => files.find((f) => f.role === role)
  for (const role of ['catalog', 'bios'] as const) {
    const f = byRole(role)
    if (f) placeFile(f)
  }
  const walk = (dir: DirNode) => {
    for (const n of dir.sorted) if (n.kind === 'file' && n.lba === 0) placeFile(n)
    for (const n of dir.sorted) if (n.kind === 'dir') walk(n)
  }
  walk(root)
  const totalBlocks = Math.ceil((next * ISO_BLOCK) / alignment) * (alignment / ISO_BLOCK)
  if (totalBlocks > 0xffffffff) throw new RangeError(`ISO image too large: ${totalBlocks} blocks`)

  const bootEntries: IsoBootEntry[] = []
  const bios = byRole('bios')
  if (bios) bootEntries.push({platform: 'bios', path: bios.path, lba: bios.lba, loadSectors: options.boot!.bios!.loadSectors ?? 4, size: bios.size})
  const efi = byRole('efi')
  if (efi) {
    const sectors = Math.ceil(efi.size / 512)
    // Too large for the 16-bit field: 0, as xorriso writes; EDK2 then takes the rest of the volume from the image's start.
    bootEntries.push({platform: 'uefi', path: efi.path, lba: efi.lba, loadSectors: sectors > MAX_LOAD_SECTORS ? 0 : sectors, size: efi.size})
  }
  for (const e of bootEntries)
    if (!Number.isInteger(e.loadSectors) || e.loadSectors < 0 || e.loadSectors > MAX_LOAD_SECTORS) throw new RangeError(`El Torito load size must be 0..${MAX_LOAD_SECTORS} sectors, got ${e.loadSectors}`)

  let mbr: IsoLayout['mbr']
  if (options.hybrid && bios) {
    // Partition 1 spans the image from sector 0 with type 0 (as xorriso's isohybrid layout for EFI): a
    // BIOS boots the MBR code whatever the table says, and EFI firmware, which refuses overlapping
    // MBR partitions, skips an empty-typed entry and finds the ESP in partition 2.
    const partitions: MbrPartition[] = [{status: 0x80, type: 0x00, firstLba: 0, sectors: totalBlocks * 4}]
    if (efi) partitions.push({status: 0x00, type: 0xef, firstLba: efi.lba * 4, sectors: Math.ceil(efi.size / 512)})
    mbr = {id: options.hybrid.id, partitions}
  }

  const layout: IsoLayout = {
    volumeId: options.volumeId,
    totalBlocks,
    sizeBytes: totalBlocks * ISO_BLOCK,
    pathTableSize: ptSize,
    lPathTableLba: lPath,
    mPathTableLba: mPath,
    directories: order.map((d) => ({path: d.path, lba: d.lba, size: d.size, number: d.number})),
    files: files.map((f) => ({path: f.path, identifier: f.name.identifier, role: f.role, lba: f.lba, size: f.size})).sort((a, b) => a.lba - b.lba || (a.path < b.path ? -1 : 1)),
    catalogLba: byRole('catalog')?.lba,
    bootEntries,
    mbr,
  }
  return {layout, root, order, extents, options}
}

/** Places every structure and file from the sizes alone; nothing is read. */
export function layoutIso(options: IsoOptions): IsoLayout {
  return plan(options).layout
}

// ---------------------------------------------------------------------------------------------
// Structures

function both16(v: DataView, at: number, n: number): void {
  v.setUint16(at, n, true)
  v.setUint16(at + 2, n, false)
}

function both32(v: DataView, at: number, n: number): void {
  v.setUint32(at, n, true)
  v.setUint32(at + 4, n, false)
}

/** One directory record (ECMA-119 9.1). */
function directoryRecord(identifier: Uint8Array, lba: number, size: number, isDir: boolean, time: Uint8Array): Uint8Array {
  const out = new Uint8Array(recordLength(identifier.length))
  const v = new DataView(out.buffer)
  out[0] = out.length
  out[1] = 0 // extended attribute record length
  both32(v, 2, lba)
  both32(v, 10, size)
  out.set(time, 18)
  out[25] = isDir ? 0x02 : 0x00
  out[26] = 0 // file unit size (not interleaved)
  out[27] = 0 // interleave gap
  both16(v, 28, 1) // volume sequence number
  out[32] = identifier.length
  out.set(identifier, 33)
  return out
}

function directoryExtent(dir: DirNode, time: Uint8Array): Uint8Array {
  const out = new Uint8Array(dir.size)
  let at = 0
  const put = (r: Uint8Array) => {
    if ((at % ISO_BLOCK) + r.length > ISO_BLOCK) at = Math.ceil(at / ISO_BLOCK) * ISO_BLOCK
    out.set(r, at)
    at += r.length
  }
  const parent = dir.parent ?? dir
  put(directoryRecord(Uint8Array.of(0), dir.lba, dir.size, true, time))
  put(directoryRecord(Uint8Array.of(1), parent.lba, parent.size, true, time))
  for (const n of dir.sorted) {
    const id = ascii(n.name.identifier)
    put(n.kind === 'dir' ? directoryRecord(id, n.lba, n.size, true, time) : directoryRecord(id, n.lba, n.size, false, time))
  }
  return out
}

function pathTable(order: DirNode[], littleEndian: boolean, size: number): Uint8Array {
  const out = new Uint8Array(blocks(size) * ISO_BLOCK)
  const v = new DataView(out.buffer)
  let at = 0
  for (const d of order) {
    const id = d.parent ? ascii(d.name.identifier) : Uint8Array.of(0)
    out[at] = id.length
    out[at + 1] = 0
    v.setUint32(at + 2, d.lba, littleEndian)
    v.setUint16(at + 6, (d.parent ?? d).number, littleEndian)
    out.set(id, at + 8)
    at += 8 + id.length + (id.length % 2)
  }
  return out
}

function descriptorHead(type: number): Uint8Array {
  const out = new Uint8Array(ISO_BLOCK)
  out[0] = type
  out.set(ascii('CD001'), 1)
  out[6] = 1
  return out
}

function primaryVolumeDescriptor(p: Plan): Uint8Array {
  const {layout, root, options} = p
  const out = descriptorHead(1)
  const v = new DataView(out.buffer)
  const time = options.sourceDateEpoch
  out.set(padded(options.systemId ?? '', 32, 'system id', A_CHARS), 8)
  out.set(padded(options.volumeId, 32, 'volume id', D_CHARS), 40)
  both32(v, 80, layout.totalBlocks)
  both16(v, 120, 1) // volume set size
  both16(v, 124, 1) // volume sequence number
  both16(v, 128, ISO_BLOCK)
  both32(v, 132, layout.pathTableSize)
  v.setUint32(140, layout.lPathTableLba, true)
  v.setUint32(148, layout.mPathTableLba, false)
  out.set(directoryRecord(Uint8Array.of(0), root.lba, root.size, true, isoRecordTime(time)), 156)
  out.set(padded('', 128, 'volume set id', D_CHARS), 190)
  out.set(padded(options.publisherId ?? '', 128, 'publisher id', A_CHARS), 318)
  out.set(padded(options.preparerId ?? '', 128, 'data preparer id', A_CHARS), 446)
  out.set(padded(options.applicationId ?? '', 128, 'application id', A_CHARS), 574)
  out.set(padded('', 37, 'copyright file id', D_CHARS), 702)
  out.set(padded('', 37, 'abstract file id', D_CHARS), 739)
  out.set(padded('', 37, 'bibliographic file id', D_CHARS), 776)
  out.set(isoVolumeTime(time), 813) // creation
  out.set(isoVolumeTime(time), 830) // modification
  out.set(unspecifiedTime(), 847) // expiration
  out.set(unspecifiedTime(), 864) // effective
  out[881] = 1 // file structure version
  return out
}

function bootRecordDescriptor(catalogLba: number): Uint8Array {
  const out = descriptorHead(0)
  out.set(ascii('EL TORITO SPECIFICATION'), 7) // padded with zeros to 32 bytes
  new DataView(out.buffer).setUint32(71, catalogLba, true)
  return out
}

function bootEntry(e: IsoBootEntry): Uint8Array {
  const out = new Uint8Array(32)
  const v = new DataView(out.buffer)
  out[0] = 0x88 // bootable
  out[1] = 0 // no emulation
  v.setUint16(2, 0, true) // load segment: 0 means 0x7C0
  out[4] = 0 // system type
  v.setUint16(6, e.loadSectors, true)
  v.setUint32(8, e.lba, true)
  return out
}

/** The boot catalog (one block): validation entry, default entry, then a 0xEF section when the default is BIOS. */
export function bootCatalog(entries: readonly IsoBootEntry[]): Uint8Array {
  if (entries.length === 0 || entries.length > 2) throw new RangeError(`a boot catalog here holds 1 or 2 entries, got ${entries.length}`)
  const out = new Uint8Array(ISO_BLOCK)
  const v = new DataView(out.buffer)
  const [first, second] = entries
  out[0] = 1 // validation entry
  out[1] = first!.platform === 'bios' ? 0x00 : 0xef
  out[30] = 0x55
  out[31] = 0xaa
  let sum = 0
  for (let i = 0; i < 32; i += 2) sum = (sum + v.getUint16(i, true)) & 0xffff
  v.setUint16(28, (0x10000 - sum) & 0xffff, true)
  out.set(bootEntry(first!), 32)
  if (second) {
    out[64] = 0x91 // final section header
    out[65] = second.platform === 'bios' ? 0x00 : 0xef
    v.setUint16(66, 1, true)
    out.set(bootEntry(second), 96)
  }
  return out
}

/** A copy of the BIOS image with the boot info table at offset 8: PVD LBA, image LBA, length, checksum of the 32-bit words from offset 64. */
export function patchBootInfoTable(image: Uint8Array, imageLba: number): Uint8Array {
  if (image.length < 64) throw new RangeError(`a boot info table needs an image of at least 64 bytes, got ${image.length}`)
  const out = Uint8Array.from(image)
  const v = new DataView(out.buffer)
  let sum = 0
  for (let at = 64; at < out.length; at += 4) {
    let word = 0
    for (let k = 0; k < 4 && at + k < out.length; k++) word |= out[at + k]! << (8 * k)
    sum = (sum + (word >>> 0)) >>> 0
  }
  v.setUint32(8, PVD_LBA, true)
  v.setUint32(12, imageLba, true)
  v.setUint32(16, image.length, true)
  v.setUint32(20, sum, true)
  out.fill(0, 24, 64)
  return out
}

/** CHS bytes (head, sector | cylinder high bits, cylinder low) for an LBA in isohybrid's 64/32 geometry, capped at cylinder 1023. */
function chs(lba: number): [number, number, number] {
  let c = Math.floor(lba / (HEADS * SECTORS))
  let h = Math.floor(lba / SECTORS) % HEADS
  let s = (lba % SECTORS) + 1
  if (c > 1023) [c, h, s] = [1023, HEADS - 1, SECTORS]
  return [h, s | ((c >> 2) & 0xc0), c & 0xff]
}

/** The isohybrid MBR: boot code, the BIOS image's 512-byte sector at 432, the disk id at 440, the partitions, 55 AA. */
export function isohybridMbr(code: Uint8Array, biosLba: number, id: number, partitions: readonly MbrPartition[]): Uint8Array {
  const out = new Uint8Array(512)
  const v = new DataView(out.buffer)
  out.set(code.subarray(0, 432), 0)
  v.setUint32(432, biosLba * 4, true)
  v.setUint32(436, 0, true)
  v.setUint32(440, id, true)
  partitions.forEach((p, i) => {
    const at = 446 + 16 * i
    out[at] = p.status
    // The ESP's CHS is "use LBA" (FE FF FF), as isohybrid writes it; the whole-image entry gets real CHS.
    const [start, end] = p.type === 0xef ? [[0xfe, 0xff, 0xff], [0xfe, 0xff, 0xff]] : [chs(p.firstLba), chs(p.firstLba + p.sectors - 1)]
    out.set(start, at + 1)
    out[at + 4] = p.type
    out.set(end, at + 5)
    v.setUint32(at + 8, p.firstLba, true)
    v.setUint32(at + 12, p.sectors, true)
  })
  out[510] = 0x55
  out[511] = 0xaa
  return out
}

// ---------------------------------------------------------------------------------------------
// Stream

/**
 * Streams the image in block order. Layout errors (names, sizes) are thrown by this call, before
 * anything is read; a source that yields more or fewer bytes than its size fails the stream.
 */
export function writeIsoStream(options: IsoOptions): AsyncGenerator<Uint8Array> {
  return streamImage(plan(options))
}

async function* streamImage(p: Plan): AsyncGenerator<Uint8Array> {
  const {layout, options} = p
  const zero = new Uint8Array(MIB)
  const time = isoRecordTime(options.sourceDateEpoch)
  const system = new Uint8Array(SYSTEM_AREA_BLOCKS * ISO_BLOCK)
  const bios = layout.bootEntries.find((e) => e.platform === 'bios')
  if (layout.mbr && options.hybrid && bios) system.set(isohybridMbr(options.hybrid.code, bios.lba, layout.mbr.id, layout.mbr.partitions), 0)
  yield system
  yield primaryVolumeDescriptor(p)
  if (layout.catalogLba !== undefined) yield bootRecordDescriptor(layout.catalogLba)
  yield descriptorHead(255)
  yield pathTable(p.order, true, layout.pathTableSize)
  yield pathTable(p.order, false, layout.pathTableSize)
  for (const dir of p.order) yield directoryExtent(dir, time)
  let pos = (p.order.at(-1)!.lba * ISO_BLOCK) + p.order.at(-1)!.size
  for (const f of p.extents) {
    yield* zeroFill(zero, f.lba * ISO_BLOCK - pos)
    if (f.role === 'catalog') yield bootCatalog(layout.bootEntries)
    else if (f.role === 'bios') {
      const b = options.boot!.bios!
      yield b.bootInfoTable === false ? b.image : patchBootInfoTable(b.image, f.lba)
    } else {
      const source = f.source!
      yield* exactly(source.open(), f.size, (seen) => {
        const got = seen > f.size ? `more than ${f.size} bytes` : `${seen} bytes`
        return new Error(`ISO file ${JSON.stringify(f.path)}: its source gave ${got}, but the image was laid out for ${f.size} (did it change while being read?)`)
      })
    }
    pos = f.lba * ISO_BLOCK + f.size
  }
  yield* zeroFill(zero, layout.sizeBytes - pos)
}

/** The whole image in one buffer (tests and small images), from the same stream. */
export function writeIso(options: IsoOptions): Promise<Uint8Array> {
  const stream = writeIsoStream(options)
  return (async () => {
    const parts: Uint8Array[] = []
    for await (const chunk of stream) parts.push(chunk)
    return concatBytes(parts)
  })()
}
