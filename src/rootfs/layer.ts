// Reading and applying one layer (an uncompressed tar stream) with OCI whiteout semantics:
//  - ".wh.NAME" deletes NAME (a file, a symlink itself, or a whole directory tree) from LOWER layers only;
//  - "DIR/.wh..wh..opq" hides every lower child of DIR; DIR itself stays ("./.wh..wh..opq" clears the root);
//  - both are applied before the layer's other entries, whatever the tar order, so an entry of the same
//    layer always survives, and its missing parents are created afresh (umoci MissingUpperAncestor);
//  - a whiteout's parent is resolved like any path (paths.ts rule 3) against the lower tree; a whiteout
//    of something absent is a no-op: it creates no parent and changes no metadata (not even the parent's).
//    So "d/.wh.x" removes etc/x when the lower d -> /etc, even if this layer also turns d into a directory
//    (containerd does the same when the whiteout comes first in the tar; we do it whatever the order);
//  - ".wh." alone, ".wh..", ".wh..." and ".wh..wh.x" other than the opaque marker are refused;
//    a directory entry named ".wh.x/", or a ".wh.x" directory component, is not a whiteout.
// Entries replace what is at their path (a directory over a directory only updates its metadata).
// Hardlinks share one Inode: the link's own header (mode, uid, gid, mtime) is ignored.
// A symlink's mode is 0777 whatever its header says: Linux keeps none (umoci's and containerd's trees show 0777).
// Device nodes (character and block) are not taken from layers: they are dropped and reported, and so
// are hardlinks to them; what a lower layer had at their path is removed all the same. A dropped node
// makes no parent directory either: as if the entry were not there (umoci and containerd make the parents).
// The root's own entry ("./") only sets the root's metadata. Path rules are in paths.ts.
// Owners come from the PAX records when present (GNU tar and Go write large ids only there); an owner
// that newc cpio (8 hex digits) cannot carry is refused here, at the layer, not late in an output.
// Names and link targets must be UTF-8: another name is refused with its bytes in hex, never merged.
//
// Reading is split from applying so that the next layer can be decompressed and parsed while this
// one is applied: readLayer streams the uncompressed tar once into a spool file (the tree refers to
// the file's bytes there by offset) and keeps only the headers.
import {createHash} from 'node:crypto'
import {badInputError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {type TarHeader, TarFormatError, TarReader, tarXattrs} from '../formats/tar-reader.js'
import type {SpoolFile} from '../store/spool.js'
import {normalizeEntryName, resolveFully, resolveLinkTarget, resolveParent} from './paths.js'
import {type ContentRef, type Inode, type Origin, type Tree, ROOT, baseName, isUnder, parentOf, putInode, removeSubtree} from './tree.js'

const WHITEOUT_PREFIX = '.wh.'
const OPAQUE_MARKER = '.wh..wh..opq'
/** The only mode a symlink has on Linux. */
const SYMLINK_MODE = 0o777
/** newc cpio writes owners as 8 hex digits. */
const MAX_OWNER_ID = 0xffffffff

export interface LayerReport {
  entries: number
  files: number
  bytes: number
  whiteouts: number
  droppedDevices: string[]
}

interface Whiteout {
  where: string
  /** The directory the marker sits in, root-relative and not yet resolved. */
  dir: string
  /** The name it hides, or undefined for the opaque marker. */
  hidden?: string
}

type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'device'

interface Pending {
  where: string
  name: string
  type: EntryType
  inode: Inode
  /** Hardlink target, as written. */
  linkName?: string
}

/** A layer read into the spool: its entries' metadata, waiting to be applied in layer order. */
export interface ReadLayer {
  diffId: Digest
  whiteouts: Whiteout[]
  pending: Pending[]
  report: LayerReport
}

const strictUtf8 = new TextDecoder('utf-8', {fatal: true})

function utf8Name(bytes: Uint8Array, where: string, what: string): string {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    throw badInputError(`${where}: ${what} is not UTF-8 (bytes ${Buffer.from(bytes).toString('hex')}); such names are refused rather than merged or mangled`)
  }
}

/**
 * Streams one layer's uncompressed tar into `spool` and parses it. File bytes stay in the spool
 * (referenced by offset); returns the headers and the sha256 of the whole stream (the diffId).
 */
export async function readLayer(tar: AsyncIterable<Uint8Array>, spool: SpoolFile, what: string): Promise<ReadLayer> {
  const report: LayerReport = {entries: 0, files: 0, bytes: 0, whiteouts: 0, droppedDevices: []}
  const whiteouts: Whiteout[] = []
  const pending: Pending[] = []
  const diffHash = createHash('sha256')
  let current: {pending: Pending; header: TarHeader} | undefined
  // Content is named by the layer's diffId and its offset, once the diffId is known.
  const contents: ContentRef[] = []

  const reader = new TarReader({
    entry(header) {
      report.entries++
      const rawName = utf8Name(header.name, `${what}: entry at byte ${header.headerOffset}`, 'the entry name')
      const where = `${what}: "${rawName}"`
      const name = normalizeEntryName(rawName, what)
      const base = baseName(name)
      if (name !== ROOT && base.startsWith(WHITEOUT_PREFIX) && header.type !== 'dir') {
        report.whiteouts++
        whiteouts.push(whiteoutOf(name, base, where))
        return
      }
      const entry = pendingOf(header, name, where)
      pending.push(entry)
      if (entry.type === 'file') current = {pending: entry, header}
    },
    end() {
      if (!current) return
      const {pending: entry, header} = current
      const content: ContentRef = {id: '', size: header.size, path: spool.path, offset: header.dataOffset}
      contents.push(content)
      entry.inode.content = content
      report.files++
      report.bytes += header.size
      current = undefined
    },
  })

  try {
    for await (const chunk of tar) {
      diffHash.update(chunk)
      spool.append(chunk)
      reader.push(chunk)
      if (spool.needsDrain) await spool.drain()
    }
    reader.finish()
    await spool.close()
  } catch (error) {
    await spool.destroy()
    if (error instanceof TarFormatError) throw badInputError(`${what}: corrupt layer (${error.message})`, error.details)
    throw error
  }
  const diffId = `sha256:${diffHash.digest('hex')}` as Digest
  for (const content of contents) content.id = `${diffId}@${content.offset}`
  return {diffId, whiteouts, pending, report}
}

/**
 * Applies a read layer to the tree: whiteouts first, then every entry in tar order. Each new inode
 * (and each directory whose metadata it sets, and each parent it creates) gets `origin`: it is set
 * here, on the thread that owns the tree, because the entries were read on a worker and crossed by
 * structured clone, which would turn one shared origin into one copy per entry.
 */
export function applyLayer(tree: Tree, layer: ReadLayer, origin?: Origin): LayerReport {
  for (const whiteout of layer.whiteouts) applyWhiteout(tree, whiteout)
  for (const entry of layer.pending) {
    if (origin) entry.inode.origin = origin
    applyEntry(tree, entry, layer.report)
  }
  return layer.report
}

function pendingOf(header: TarHeader, name: string, where: string): Pending {
  for (const [field, id] of [['uid', header.uid], ['gid', header.gid]] as const)
    if (id > MAX_OWNER_ID) throw badInputError(`${where}: ${field} ${id} does not fit a cpio archive (at most ${MAX_OWNER_ID})`)
  const inode: Inode = {
    type: 'file',
    mode: header.mode & 0o7777,
    uid: header.uid,
    gid: header.gid,
    mtime: Math.max(0, header.mtime),
  }
  const xattrs = xattrsOf(header)
  if (xattrs) inode.xattrs = xattrs
  const entry: Pending = {where, name, type: 'file', inode}
  switch (header.type) {
    case 'file':
    case 'contiguous':
      break
    case 'dir':
      entry.type = inode.type = 'dir'
      break
    case 'symlink':
      entry.type = inode.type = 'symlink'
      // Linux keeps no mode for a symlink (lstat shows 0777, whatever the header said): nor do we.
      inode.mode = SYMLINK_MODE
      inode.target = utf8Name(header.linkName, where, 'the symlink target')
      if (!inode.target) throw badInputError(`${where}: symlink with an empty target`)
      break
    case 'hardlink':
      entry.type = 'hardlink'
      entry.linkName = utf8Name(header.linkName, where, 'the hardlink target')
      break
    case 'fifo':
      entry.type = inode.type = 'fifo'
      break
    case 'char':
    case 'block':
      entry.type = 'device'
      break
  }
  return entry
}

function whiteoutOf(name: string, base: string, where: string): Whiteout {
  const dir = parentOf(name)
  if (base === OPAQUE_MARKER) return {where, dir}
  const hidden = base.slice(WHITEOUT_PREFIX.length)
  if (hidden === '' || hidden === '.' || hidden === '..' || hidden.startsWith(WHITEOUT_PREFIX))
    throw badInputError(`${where}: invalid whiteout name (".wh." must be followed by the name of what it deletes)`)
  return {where, dir, hidden}
}

function applyWhiteout(tree: Tree, {where, dir, hidden}: Whiteout): void {
  const parent = resolveFully(tree, dir, where)
  if (hidden === undefined) {
    // Below the directory only: isUnder counts the directory itself, which stays (with its metadata).
    for (const p of [...tree.entries.keys()]) if (p !== parent && isUnder(p, parent)) tree.entries.delete(p)
    return
  }
  removeSubtree(tree, parent === ROOT ? hidden : `${parent}/${hidden}`)
}

function applyEntry(tree: Tree, {where, name, type, inode, linkName}: Pending, report: LayerReport): void {
  if (name === ROOT) {
    // The root's own entry ("./"): only its metadata matters.
    if (type !== 'dir') throw badInputError(`${where}: a ${type} entry names the image root`)
    putInode(tree, ROOT, inode)
    return
  }
  const path = resolveParent(tree, name, where)
  if (path === ROOT) throw badInputError(`${where}: entry resolves to the image root`)
  switch (type) {
    case 'dir':
    case 'file':
    case 'symlink':
    case 'fifo':
      putInode(tree, path, inode)
      break
    case 'hardlink': {
      const source = resolveLinkTarget(tree, linkName ?? '', where)
      const target = tree.entries.get(source)
      // A link to a device node this layer dropped is dropped with it, not refused.
      if (!target && report.droppedDevices.includes(source)) {
        report.droppedDevices.push(path)
        break
      }
      if (!target) throw badInputError(`${where}: hardlink to "${linkName}", which does not exist`)
      if (target.type === 'dir') throw badInputError(`${where}: hardlink to a directory ("${linkName}")`)
      if (source !== path) putInode(tree, path, target)
      break
    }
    case 'device':
      // The layer replaces whatever a lower layer had here; dropping the node leaves nothing there.
      if (tree.entries.has(path)) removeSubtree(tree, path)
      report.droppedDevices.push(path)
      break
  }
}

function xattrsOf(header: TarHeader): Record<string, Uint8Array> | undefined {
  const xattrs = tarXattrs(header)
  return xattrs ? Object.fromEntries(xattrs) : undefined
}
