// FAT32 image writer (Microsoft FAT specification 1.03, "fatgen103"): 512-byte sectors, two FATs,
// FSInfo at sector 1 and a backup boot sector + FSInfo at sectors 6 and 7, media 0xF8. Directories are
// written in UTF-8 byte order of their names, with VFAT long names and deterministic 8.3 aliases
// (NAME~N.EXT), `.` and `..` entries, and every timestamp taken from one given epoch. Files are laid
// out contiguously, depth first. Pure: a tree of files in, the image bytes out. The layout comes from
// the file sizes alone; the volume is then streamed in order (reserved area, both FATs, data), each
// file read from its source when its clusters come, so memory does not grow with the content.

import {concatBytes, exactly, type SizedSource, zeroFill} from './bytes.js'

const SECTOR = 512
const DIRENT = 32
/** FAT32 needs at least 65525 clusters; like mkfs.fat we keep a small margin above it. */
export const MIN_FAT32_CLUSTERS = 65529
const MAX_FAT32_CLUSTERS = 0x0ffffff5 - 2
const EOC = 0x0ffffff8
const FAT_EPOCH_MIN = 315532800 // 1980-01-01T00:00:00Z
const FAT_EPOCH_MAX = 4354819198 // 2107-12-31T23:59:58Z
/** The BPB's 32-bit total-sectors field caps a volume of 512-byte sectors just under 2 TiB. */
const MAX_TOTAL_SECTORS = 0xffffffff
/** A directory record's 32-bit size field. */
export const MAX_FAT_FILE_SIZE = 0xffffffff
const MIB = 1024 * 1024
/** Largest chunk the writer makes itself (FAT pieces, zero fill). */
const PIECE = MIB

export interface FatFileInput {
  /** Slash-separated path inside the volume ("EFI/BOOT/BOOTX64.EFI"; a leading "/" is ignored). */
  path: string
  /** The file's bytes; its size is all the layout needs, open() is called once when the file's clusters are written. */
  source: SizedSource
}

export interface FatDirectoryInput {
  path: string
  directory: true
}

export type FatInput = FatFileInput | FatDirectoryInput

export interface Fat32Options {
  files: readonly FatInput[]
  /** Volume serial number (e.g. deriveVolumeId(seed)). */
  volumeId: number
  /** Up to 11 characters: A-Z, 0-9, space and ! # $ % & ' ( ) - @ ^ _ ` { } ~. Default: none ("NO NAME"). */
  label?: string
  /** Every timestamp (SOURCE_DATE_EPOCH, seconds, UTC); clamped to FAT's 1980..2107 range. */
  sourceDateEpoch: number
  /** Total volume size in bytes (a multiple of 512). Default: content + headroom, rounded up to 1 MiB. Too small for the files: FatLayoutError. */
  sizeBytes?: number
  /** Free space to leave when the size is computed. Default 1 MiB. */
  headroomBytes?: number
  /** Default: mkfs.fat's choice for the volume size (1 up to 260 MiB, 8 up to 8 GiB, ...). */
  sectorsPerCluster?: number
  /** Default 32, raised so the data area starts on a cluster boundary. Given explicitly, used as is. */
  reservedSectors?: number
  /** The partition's first LBA, for the BPB's hidden-sectors field. Default 0. */
  hiddenSectors?: number
}

export interface Fat32Geometry {
  totalSectors: number
  sectorsPerCluster: number
  reservedSectors: number
  fatSectors: number
  /** Count of data clusters (numbered 2 .. clusterCount + 1). */
  clusterCount: number
  /** First sector of the data area (cluster 2). */
  dataStartSector: number
  /** 6 when the reserved area has room for the backup boot sector and FSInfo, else 0. */
  backupBootSector: number
}

/** mkfs.fat's (and Microsoft's) FAT32 cluster size for a volume size. */
export function defaultSectorsPerCluster(sizeBytes: number): number {
  const mib = sizeBytes / (1024 * 1024)
  if (mib <= 260) return 1
  if (mib <= 8 * 1024) return 8
  if (mib <= 16 * 1024) return 16
  if (mib <= 32 * 1024) return 32
  return 64
}

/**
 * The smallest FAT that covers every cluster of the volume, and the geometry that follows from it.
 * Does not check the FAT32 minimum cluster count (see fat32Geometry).
 */
export function computeGeometry(totalSectors: number, sectorsPerCluster: number, reservedSectors: number): Fat32Geometry {
  const clustersFor = (fat: number) => Math.floor((totalSectors - reservedSectors - 2 * fat) / sectorsPerCluster)
  const fatNeeded = (fat: number) => Math.ceil(((clustersFor(fat) + 2) * 4) / SECTOR)
  let fat = Math.max(1, Math.floor(((totalSectors - reservedSectors) * 4) / (sectorsPerCluster * SECTOR + 8)) - 2)
  while (fatNeeded(fat) > fat) fat++
  const clusterCount = clustersFor(fat)
  return {
    totalSectors,
    sectorsPerCluster,
    reservedSectors,
    fatSectors: fat,
    clusterCount,
    dataStartSector: reservedSectors + 2 * fat,
    backupBootSector: reservedSectors >= 8 ? 6 : 0,
  }
}

/** The geometry for a size, with cluster-aligned data when reservedSectors is left to us. Throws if not valid FAT32. */
export function fat32Geometry(sizeBytes: number, sectorsPerCluster?: number, reservedSectors?: number): Fat32Geometry {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % SECTOR !== 0) {
    throw new RangeError(`FAT32 volume size must be a positive multiple of ${SECTOR}, got ${sizeBytes}`)
  }
  const spc = sectorsPerCluster ?? defaultSectorsPerCluster(sizeBytes)
  if (![1, 2, 4, 8, 16, 32, 64, 128].includes(spc)) throw new RangeError(`sectors per cluster must be a power of 2 up to 128, got ${spc}`)
  const total = sizeBytes / SECTOR
  if (total > MAX_TOTAL_SECTORS) throw new RangeError(`FAT32 volume too large: ${sizeBytes} bytes (at most ${MAX_TOTAL_SECTORS} sectors of ${SECTOR} bytes)`)
  let geometry: Fat32Geometry
  if (reservedSectors !== undefined) {
    if (!Number.isInteger(reservedSectors) || reservedSectors < 2 || reservedSectors > 0xffff) {
      throw new RangeError(`reserved sectors must be 2..65535, got ${reservedSectors}`)
    }
    geometry = computeGeometry(total, spc, reservedSectors)
  } else {
    let reserved = 32
    geometry = computeGeometry(total, spc, reserved)
    while (geometry.dataStartSector % spc !== 0) {
      reserved += spc - (geometry.dataStartSector % spc)
      geometry = computeGeometry(total, spc, reserved)
    }
  }
  if (geometry.clusterCount < MIN_FAT32_CLUSTERS) {
    throw new RangeError(
      `a FAT32 volume of ${sizeBytes} bytes with ${spc} sectors per cluster has ${geometry.clusterCount} clusters; FAT32 needs at least ${MIN_FAT32_CLUSTERS}`,
    )
  }
  if (geometry.clusterCount > MAX_FAT32_CLUSTERS) throw new RangeError(`FAT32 volume too large: ${geometry.clusterCount} clusters`)
  return geometry
}

// ---------------------------------------------------------------------------------------------
// Names

const SHORT_SPECIAL = new Set("!#$%&'()-@^_`{}~")
const LONG_FORBIDDEN = new Set('"*/:<>?\\|')

const isShortChar = (c: string) => (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || SHORT_SPECIAL.has(c)

/** The 11-byte short name if `name` is already a valid upper-case 8.3 name, else undefined. */
export function exactShortName(name: string): string | undefined {
  const dot = name.indexOf('.')
  const base = dot < 0 ? name : name.slice(0, dot)
  const ext = dot < 0 ? '' : name.slice(dot + 1)
  if (base.length < 1 || base.length > 8 || ext.length > 3 || (dot >= 0 && ext.length === 0)) return undefined
  if (![...base, ...ext].every(isShortChar)) return undefined
  return base.padEnd(8, ' ') + ext.padEnd(3, ' ')
}

function checkLongName(name: string, where: string): void {
  if (name === '' || name === '.' || name === '..') throw new RangeError(`invalid FAT name ${JSON.stringify(name)} in ${where}`)
  if (name.length > 255) throw new RangeError(`FAT name longer than 255 UTF-16 units: ${where}`)
  for (const c of name) {
    if (c.charCodeAt(0) < 0x20 || LONG_FORBIDDEN.has(c)) {
      throw new RangeError(`FAT name ${JSON.stringify(name)} holds a character FAT does not allow (${JSON.stringify(c)}): ${where}`)
    }
  }
  if (name.endsWith('.') || name.endsWith(' ')) throw new RangeError(`FAT name may not end in a dot or space: ${where}`)
}

function shortChars(s: string): string {
  let out = ''
  for (const c of s.toUpperCase()) {
    if (c === ' ' || c === '.') continue
    out += isShortChar(c) ? c : '_'
  }
  return out
}

/**
 * A Windows-style alias for a long name: upper-cased, invalid characters as "_", base cut to leave room
 * for "~N", the first three characters of the extension; N counts up until the alias is unused.
 */
export function aliasShortName(name: string, used: ReadonlySet<string>): string {
  const trimmed = name.replace(/^\.+/, '')
  const dot = trimmed.lastIndexOf('.')
  const base = shortChars(dot < 0 ? trimmed : trimmed.slice(0, dot)) || '_'
  const ext = dot < 0 ? '' : shortChars(trimmed.slice(dot + 1)).slice(0, 3)
  for (let n = 1; n < 1_000_000; n++) {
    const tail = `~${n}`
    const candidate = base.slice(0, 8 - tail.length) + tail
    const short = candidate.padEnd(8, ' ') + ext.padEnd(3, ' ')
    if (!used.has(short)) return short
  }
  throw new RangeError(`no free 8.3 alias for ${JSON.stringify(name)}`)
}

/** The VFAT checksum of an 11-byte short name, stored in each of its long-name entries. */
export function lfnChecksum(short11: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short11[i]!) & 0xff
  return sum
}

// ---------------------------------------------------------------------------------------------
// Time

/** FAT date and time words for an epoch in seconds, in UTC, clamped to 1980-01-01 .. 2107-12-31. */
export function fatDateTime(epochSeconds: number): {date: number; time: number} {
  const clamped = Math.min(Math.max(Math.floor(epochSeconds), FAT_EPOCH_MIN), FAT_EPOCH_MAX)
  const d = new Date(clamped * 1000)
  return {
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
  }
}

// ---------------------------------------------------------------------------------------------
// Tree

interface FileNode {
  kind: 'file'
  name: string
  /** The input's path, for messages. */
  path: string
  source: SizedSource
  cluster: number
}

interface DirNode {
  kind: 'dir'
  name: string
  children: Map<string, Node>
  /** Children in UTF-8 byte order of their names. */
  sorted: Node[]
  cluster: number
  parent: DirNode | undefined
  /** Short names of the children, by child name. */
  shortNames: Map<string, string>
}

type Node = FileNode | DirNode

const utf8 = new TextEncoder()
const byUtf8 = (a: string, b: string) => Buffer.compare(utf8.encode(a), utf8.encode(b))

function newDir(name: string, parent: DirNode | undefined): DirNode {
  return {kind: 'dir', name, children: new Map(), sorted: [], cluster: 0, parent, shortNames: new Map()}
}

function buildTree(inputs: readonly FatInput[]): DirNode {
  const root = newDir('', undefined)
  const folded = new Map<DirNode, Map<string, string>>()
  const add = (dir: DirNode, name: string, path: string, node: Node): Node => {
    checkLongName(name, path)
    let names = folded.get(dir)
    if (!names) folded.set(dir, (names = new Map()))
    const key = name.toUpperCase()
    const clash = names.get(key)
    if (clash !== undefined) throw new RangeError(`FAT names differ only in case: ${JSON.stringify(clash)} and ${JSON.stringify(name)} (${path})`)
    names.set(key, name)
    dir.children.set(name, node)
    return node
  }
  for (const input of inputs) {
    const isDir = 'directory' in input
    const clean = input.path.replace(/^\/+/, '').replace(/\/+$/, '')
    if (clean === '' && isDir) continue // the root itself
    const parts = clean.split('/')
    if (clean === '' || parts.includes('')) throw new RangeError(`bad FAT path ${JSON.stringify(input.path)}`)
    let dir = root
    for (const [i, name] of parts.entries()) {
      const last = i === parts.length - 1
      const existing = dir.children.get(name)
      if (last && !isDir) {
        if (existing) throw new RangeError(`path given twice: ${JSON.stringify(input.path)}`)
        const size = input.source.size
        if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`FAT file ${JSON.stringify(input.path)}: size must be a whole number of bytes, got ${size}`)
        if (size > MAX_FAT_FILE_SIZE) {
          throw new FatLayoutError(
            'file-too-large',
            `FAT32 holds files of at most ${MAX_FAT_FILE_SIZE} bytes; ${JSON.stringify(input.path)} is ${size} bytes`,
            size,
            MAX_FAT_FILE_SIZE,
          )
        }
        add(dir, name, input.path, {kind: 'file', name, path: input.path, source: input.source, cluster: 0})
        break
      }
      const node = existing ?? add(dir, name, input.path, newDir(name, dir))
      if (node.kind !== 'dir') throw new RangeError(`path runs through a file: ${JSON.stringify(input.path)}`)
      dir = node
    }
  }
  return root
}

function nameEntryCount(dir: DirNode): number {
  // Assign short names (exact 8.3 names first, so an alias never takes one), count 32-byte records.
  const used = new Set<string>()
  for (const n of dir.sorted) {
    const exact = exactShortName(n.name)
    if (exact !== undefined) {
      used.add(exact)
      dir.shortNames.set(n.name, exact)
    }
  }
  // A name that differs from a valid 8.3 name only in case keeps that name as its alias (like Windows).
  for (const n of dir.sorted) {
    const upper = dir.shortNames.has(n.name) || !/^[\x21-\x7e]+$/.test(n.name) ? undefined : exactShortName(n.name.toUpperCase())
    if (upper !== undefined && !used.has(upper)) {
      used.add(upper)
      dir.shortNames.set(n.name, upper)
    }
  }
  let count = dir.name === '' ? 0 : 2 // . and ..
  for (const n of dir.sorted) {
    let short = dir.shortNames.get(n.name)
    if (short === undefined) {
      short = aliasShortName(n.name, used)
      used.add(short)
      dir.shortNames.set(n.name, short)
    }
    if (short !== exactShortName(n.name)) count += Math.ceil(n.name.length / 13) // long-name records
    count++
  }
  return count
}

// ---------------------------------------------------------------------------------------------
// Writer

interface Plan {
  root: DirNode
  /** Directory records (without a label entry) and file sizes, for sizing. */
  dirs: DirNode[]
  files: FileNode[]
  dirRecords: Map<DirNode, number>
}

function plan(inputs: readonly FatInput[], hasLabel: boolean): Plan {
  const root = buildTree(inputs)
  const dirs: DirNode[] = []
  const files: FileNode[] = []
  const dirRecords = new Map<DirNode, number>()
  const visit = (dir: DirNode) => {
    dir.sorted = [...dir.children.values()].sort((a, b) => byUtf8(a.name, b.name))
    dirs.push(dir)
    const records = nameEntryCount(dir) + (dir === root && hasLabel ? 1 : 0)
    if (records > 65536) throw new RangeError(`FAT directory ${JSON.stringify(dir.name || '/')} has more than 65536 entries`)
    dirRecords.set(dir, records)
    for (const n of dir.sorted) if (n.kind === 'file') files.push(n)
    for (const n of dir.sorted) if (n.kind === 'dir') visit(n)
  }
  visit(root)
  return {root, dirs, files, dirRecords}
}

function clustersNeeded(p: Plan, clusterBytes: number): number {
  let n = 0
  for (const d of p.dirs) n += Math.max(1, Math.ceil((p.dirRecords.get(d)! * DIRENT) / clusterBytes))
  for (const f of p.files) n += Math.ceil(f.source.size / clusterBytes)
  return n
}

/** The first size (whole MiB) at which mkfs.fat's rule picks each cluster size. */
const FIRST_SIZE_FOR_SPC: Record<number, number> = {1: 0, 8: 261 * MIB, 16: (8 * 1024 + 1) * MIB, 32: (16 * 1024 + 1) * MIB, 64: (32 * 1024 + 1) * MIB}
/** The largest whole-MiB volume the BPB can describe. */
const MAX_VOLUME_BYTES = Math.floor((MAX_TOTAL_SECTORS * SECTOR) / MIB) * MIB

/** Content + headroom with `spc`-sector clusters, at least FAT32's minimum cluster count, rounded up to 1 MiB. */
function sizeWith(p: Plan, spc: number, headroom: number, reserved: number | undefined): number {
  const clusterBytes = spc * SECTOR
  const clusters = Math.max(MIN_FAT32_CLUSTERS, clustersNeeded(p, clusterBytes) + Math.ceil(headroom / clusterBytes))
  const fat = Math.ceil(((clusters + 2) * 4) / SECTOR)
  const sectors = (reserved ?? 32 + spc) + 2 * fat + clusters * spc
  return Math.ceil((sectors * SECTOR) / MIB) * MIB
}

function searchSize(p: Plan, headroom: number, reserved: number | undefined, forcedSpc: number | undefined): number {
  if (forcedSpc) return sizeWith(p, forcedSpc, headroom, reserved)
  // The first cluster size for which the size it gives is one where mkfs.fat picks that cluster size.
  for (const spc of [1, 8, 16, 32, 64]) {
    const size = sizeWith(p, spc, headroom, reserved)
    if (defaultSectorsPerCluster(size) === spc) return size
  }
  // Content just past a step of mkfs.fat's rule: with the next cluster size the FAT is smaller and
  // the size falls back below the step. Then the first size of that step holds it.
  for (const spc of [8, 16, 32]) {
    const size = Math.max(sizeWith(p, spc, headroom, reserved), FIRST_SIZE_FOR_SPC[spc]!)
    if (defaultSectorsPerCluster(size) === spc) return size
  }
  return Math.max(sizeWith(p, 64, headroom, reserved), FIRST_SIZE_FOR_SPC[64]!)
}

function autoSize(p: Plan, headroom: number, reserved: number | undefined, forcedSpc: number | undefined): number {
  const size = searchSize(p, headroom, reserved, forcedSpc)
  if (size > MAX_VOLUME_BYTES) {
    const clusterBytes = (forcedSpc ?? 64) * SECTOR
    const bytes = clustersNeeded(p, clusterBytes) * clusterBytes
    throw new FatLayoutError(
      'too-large',
      `content needs ${bytes} bytes in ${clusterBytes}-byte clusters; the largest FAT32 volume of ${SECTOR}-byte sectors is ${MAX_VOLUME_BYTES} bytes`,
      size,
      MAX_VOLUME_BYTES,
    )
  }
  return size
}

export type FatLayoutProblem = 'too-small' | 'too-large' | 'file-too-large'

/** The files do not fit: the given volume size is too small, no FAT32 volume is large enough, or one file is over FAT32's 4 GiB limit. */
export class FatLayoutError extends Error {
  constructor(
    readonly problem: FatLayoutProblem,
    message: string,
    /** Bytes needed: the smallest volume that holds the files ('too-small', 'too-large'), or the file's size. */
    readonly neededBytes: number,
    /** The volume size given ('too-small'), or the FAT32 limit that was exceeded. */
    readonly limitBytes: number,
  ) {
    super(message)
    this.name = 'FatLayoutError'
  }
}

function label11(label: string | undefined): string {
  if (label === undefined) return 'NO NAME    '
  const upper = label.toUpperCase()
  if (upper.length === 0 || upper.length > 11 || ![...upper].every((c) => c === ' ' || isShortChar(c)) || upper.startsWith(' ')) {
    throw new RangeError(`FAT volume label must be 1-11 characters of A-Z 0-9 space and !#$%&'()-@^_\`{}~, got ${JSON.stringify(label)}`)
  }
  return upper.padEnd(11, ' ')
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0))

function shortEntry(name11: string, attr: number, cluster: number, size: number, stamp: {date: number; time: number}): Uint8Array {
  const e = new Uint8Array(DIRENT)
  const v = new DataView(e.buffer)
  e.set(ascii(name11), 0)
  e[11] = attr
  e[13] = 0 // creation time, 10 ms units
  v.setUint16(14, stamp.time, true)
  v.setUint16(16, stamp.date, true)
  v.setUint16(18, stamp.date, true) // last access date
  v.setUint16(20, cluster >>> 16, true)
  v.setUint16(22, stamp.time, true)
  v.setUint16(24, stamp.date, true)
  v.setUint16(26, cluster & 0xffff, true)
  v.setUint32(28, size, true)
  return e
}

function longEntries(name: string, short11: string): Uint8Array[] {
  const sum = lfnChecksum(ascii(short11))
  const units: number[] = []
  for (let i = 0; i < name.length; i++) units.push(name.charCodeAt(i))
  const count = Math.ceil(units.length / 13)
  if (units.length % 13 !== 0) units.push(0x0000)
  while (units.length < count * 13) units.push(0xffff)
  const out: Uint8Array[] = []
  const offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]
  for (let ord = count; ord >= 1; ord--) {
    const e = new Uint8Array(DIRENT)
    const v = new DataView(e.buffer)
    e[0] = ord | (ord === count ? 0x40 : 0)
    e[11] = 0x0f
    e[13] = sum
    offsets.forEach((off, i) => v.setUint16(off, units[(ord - 1) * 13 + i]!, true))
    out.push(e)
  }
  return out
}

/** The root directory's volume-label record, as the writer puts it first in the root. */
export function fat32LabelEntry(label: string, sourceDateEpoch: number): Uint8Array {
  return shortEntry(label11(label), 0x08, 0, 0, fatDateTime(sourceDateEpoch))
}

/** Computes the volume size and geometry for the options without writing anything (from the file sizes alone). */
export function planFat32(options: Fat32Options): Fat32Geometry {
  return prepare(options).geometry
}

function prepare(options: Fat32Options): {p: Plan; geometry: Fat32Geometry; label: string} {
  const label = label11(options.label)
  const p = plan(options.files, options.label !== undefined)
  const size = options.sizeBytes ?? autoSize(p, options.headroomBytes ?? MIB, options.reservedSectors, options.sectorsPerCluster)
  const geometry = fat32Geometry(size, options.sectorsPerCluster, options.reservedSectors)
  const clusterBytes = geometry.sectorsPerCluster * SECTOR
  const need = clustersNeeded(p, clusterBytes)
  if (need > geometry.clusterCount) {
    let smallest: number | undefined
    try {
      smallest = autoSize(p, 0, options.reservedSectors, options.sectorsPerCluster)
    } catch (error) {
      if (!(error instanceof FatLayoutError)) throw error
    }
    throw new FatLayoutError(
      'too-small',
      `content needs ${need} clusters of ${clusterBytes} bytes (${need * clusterBytes} bytes); a ${size}-byte FAT32 volume has ${geometry.clusterCount}` +
        (smallest === undefined ? '' : `; the smallest volume that holds it is ${smallest} bytes`),
      smallest ?? need * clusterBytes,
      size,
    )
  }
  return {p, geometry, label}
}

/** A run of clusters holding one directory or one file, in data-area order. */
interface Extent {
  node: Node
  first: number
  clusters: number
}

interface VolumeLayout {
  p: Plan
  g: Fat32Geometry
  label: string
  /** Every allocated run, contiguous from cluster 2 in this order. */
  extents: Extent[]
  usedClusters: number
}

function layoutVolume(options: Fat32Options): VolumeLayout {
  if (!Number.isInteger(options.volumeId) || options.volumeId < 0 || options.volumeId > 0xffffffff) {
    throw new RangeError(`FAT volume id must be a 32-bit unsigned integer, got ${options.volumeId}`)
  }
  const {p, geometry: g, label} = prepare(options)
  const clusterBytes = g.sectorsPerCluster * SECTOR
  const extents: Extent[] = []
  let next = 2
  const allocate = (node: Node, bytes: number): number => {
    const clusters = Math.ceil(bytes / clusterBytes)
    if (clusters === 0) return 0
    const first = next
    extents.push({node, first, clusters})
    next += clusters
    return first
  }
  // Cluster order: each directory, then its files, then its subdirectories, depth first.
  const place = (dir: DirNode) => {
    for (const n of dir.sorted) n.cluster = allocate(n, n.kind === 'file' ? n.source.size : Math.max(1, p.dirRecords.get(n)! * DIRENT))
    for (const n of dir.sorted) if (n.kind === 'dir') place(n)
  }
  p.root.cluster = allocate(p.root, Math.max(1, p.dirRecords.get(p.root)! * DIRENT))
  place(p.root)
  return {p, g, label, extents, usedClusters: next - 2}
}

/** One directory's 32-byte records (label or `.` and `..` first, then the children in order). */
function directoryRecords(dir: DirNode, layout: VolumeLayout, options: Fat32Options): Uint8Array {
  const {p} = layout
  const stamp = fatDateTime(options.sourceDateEpoch)
  const out = new Uint8Array(p.dirRecords.get(dir)! * DIRENT)
  let at = 0
  const put = (e: Uint8Array) => {
    out.set(e, at)
    at += DIRENT
  }
  const parent = dir.parent
  if (parent === undefined) {
    if (options.label !== undefined) put(fat32LabelEntry(layout.label, options.sourceDateEpoch))
  } else {
    put(shortEntry('.          ', 0x10, dir.cluster, 0, stamp))
    put(shortEntry('..         ', 0x10, parent === p.root ? 0 : parent.cluster, 0, stamp))
  }
  for (const n of dir.sorted) {
    const short = dir.shortNames.get(n.name)!
    if (exactShortName(n.name) !== short) for (const e of longEntries(n.name, short)) put(e)
    if (n.kind === 'file') put(shortEntry(short, 0x20, n.cluster, n.source.size, stamp))
    else put(shortEntry(short, 0x10, n.cluster, 0, stamp))
  }
  return out
}


/** One FAT, in pieces of at most 1 MiB: the used entries are made piece by piece, the free rest is zero fill. */
function* fatTable(layout: VolumeLayout, zero: Uint8Array): Generator<Uint8Array> {
  const {extents} = layout
  const usedBytes = (2 + layout.usedClusters) * 4
  let e = 0
  for (let start = 0; start < usedBytes; start += PIECE) {
    const piece = new Uint8Array(Math.min(PIECE, usedBytes - start))
    const v = new DataView(piece.buffer)
    for (let at = 0; at < piece.length; at += 4) {
      const cluster = (start + at) / 4
      let value: number
      if (cluster < 2) {
        value = cluster === 0 ? 0x0fffff00 | 0xf8 : 0x0fffffff // media byte; clean-shutdown end of chain
      } else {
        while (cluster >= extents[e]!.first + extents[e]!.clusters) e++
        value = cluster === extents[e]!.first + extents[e]!.clusters - 1 ? EOC : cluster + 1
      }
      v.setUint32(at, value, true)
    }
    yield piece
  }
  yield* zeroFill(zero, layout.g.fatSectors * SECTOR - usedBytes)
}

/**
 * Streams a FAT32 volume holding `files`, in order: reserved area, both FATs, then the data area cluster
 * by cluster, each file read from its source when its turn comes. Same options and source bytes, same
 * volume. Layout errors (names, sizes: FatLayoutError) are thrown by this call, before anything is read;
 * a source that yields more or fewer bytes than its size fails the stream.
 */
export function writeFat32Stream(options: Fat32Options): AsyncGenerator<Uint8Array> {
  return streamVolume(layoutVolume(options), options)
}

async function* streamVolume(layout: VolumeLayout, options: Fat32Options): AsyncGenerator<Uint8Array> {
  const {g} = layout
  const clusterBytes = g.sectorsPerCluster * SECTOR
  const zero = new Uint8Array(PIECE)

  const boot = fat32BootSector(g, options.volumeId, options.label, options.hiddenSectors ?? 0)
  const info = fat32FsInfo(g.clusterCount - layout.usedClusters)
  const head = new Uint8Array(Math.min(g.reservedSectors, 8) * SECTOR) // boot sector, FSInfo, and their backups at 6 and 7
  head.set(boot, 0)
  head.set(info, SECTOR)
  if (g.backupBootSector) {
    head.set(boot, g.backupBootSector * SECTOR)
    head.set(info, (g.backupBootSector + 1) * SECTOR)
  }
  yield head
  yield* zeroFill(zero, g.reservedSectors * SECTOR - head.length)
  for (let i = 0; i < 2; i++) yield* fatTable(layout, zero)

  for (const {node, clusters} of layout.extents) {
    let written: number
    if (node.kind === 'dir') {
      const records = directoryRecords(node, layout, options)
      if (records.length > 0) yield records
      written = records.length
    } else {
      const {path, source} = node
      yield* exactly(source.open(), source.size, (seen) => {
        const got = seen > source.size ? `more than ${source.size} bytes` : `${seen} bytes`
        return new Error(`FAT file ${JSON.stringify(path)}: its source gave ${got}, but the volume was laid out for ${source.size} (did it change while being read?)`)
      })
      written = source.size
    }
    yield* zeroFill(zero, clusters * clusterBytes - written)
  }
  yield* zeroFill(zero, (g.totalSectors - g.dataStartSector) * SECTOR - layout.usedClusters * clusterBytes)
}

/** The whole volume in one buffer (tests and small volumes), from the same stream. */
export function writeFat32(options: Fat32Options): Promise<Uint8Array> {
  const stream = writeFat32Stream(options) // layout errors are thrown here, not as a rejection
  return (async () => {
    const parts: Uint8Array[] = []
    for await (const chunk of stream) parts.push(chunk)
    return concatBytes(parts)
  })()
}

/** Boot code: no OS here, so ask the BIOS for the next boot device (int 18h), then halt. */
const BOOT_CODE = [0xcd, 0x18, 0xf4, 0xeb, 0xfd]

/** The boot sector (BPB + FAT32 extended BPB) for a geometry; `label` as given to the writer. */
export function fat32BootSector(g: Fat32Geometry, volumeId: number, label: string | undefined, hidden = 0): Uint8Array {
  const b = new Uint8Array(SECTOR)
  const v = new DataView(b.buffer)
  b.set([0xeb, 0x58, 0x90], 0)
  b.set(ascii('MSWIN4.1'), 3)
  v.setUint16(11, SECTOR, true)
  b[13] = g.sectorsPerCluster
  v.setUint16(14, g.reservedSectors, true)
  b[16] = 2 // FATs
  v.setUint16(17, 0, true) // root entries (FAT12/16 only)
  v.setUint16(19, 0, true) // 16-bit total sectors
  b[21] = 0xf8
  v.setUint16(22, 0, true) // 16-bit FAT size
  v.setUint16(24, 63, true) // sectors per track
  v.setUint16(26, 32, true) // heads (mkfs.fat's default geometry)
  v.setUint32(28, hidden, true)
  v.setUint32(32, g.totalSectors, true)
  v.setUint32(36, g.fatSectors, true)
  v.setUint16(40, 0, true) // flags: FAT mirrored
  v.setUint16(42, 0, true) // version 0.0
  v.setUint32(44, 2, true) // root cluster
  v.setUint16(48, 1, true) // FSInfo sector
  v.setUint16(50, g.backupBootSector, true)
  b[64] = 0x80 // drive number
  b[66] = 0x29 // extended boot signature
  v.setUint32(67, volumeId, true)
  b.set(ascii(label11(label)), 71)
  b.set(ascii('FAT32   '), 82)
  b.set(BOOT_CODE, 90)
  b[510] = 0x55
  b[511] = 0xaa
  return b
}

/** The FSInfo sector: free cluster count and the next-free hint (2, as mkfs.fat writes). */
export function fat32FsInfo(free: number): Uint8Array {
  const b = new Uint8Array(SECTOR)
  const v = new DataView(b.buffer)
  v.setUint32(0, 0x41615252, true)
  v.setUint32(484, 0x61417272, true)
  v.setUint32(488, free, true)
  v.setUint32(492, 2, true) // next-free hint: start at cluster 2, as mkfs.fat writes
  b[510] = 0x55
  b[511] = 0xaa
  return b
}
