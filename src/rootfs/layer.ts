// Applying one layer (an uncompressed tar stream) to the tree, with OCI whiteout semantics:
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
// Device nodes (character and block) are not taken from layers: they are dropped and reported, and so
// are hardlinks to them; what a lower layer had at their path is removed all the same.
// The root's own entry ("./") only sets the root's metadata. Path rules are in paths.ts.
import type {Readable} from 'node:stream'
import {extract, type Header as Headers} from 'tar-stream'

import {badInputError} from '../errors.js'
import type {Spool} from '../store/spool.js'
import {normalizeEntryName, resolveFully, resolveLinkTarget, resolveParent} from './paths.js'
import {type ContentRef, type Inode, type Tree, ROOT, baseName, isUnder, parentOf, putInode, removeSubtree} from './tree.js'

const WHITEOUT_PREFIX = '.wh.'
const OPAQUE_MARKER = '.wh..wh..opq'
const KNOWN_TYPES = new Set(['directory', 'file', 'contiguous-file', 'symlink', 'link', 'fifo', 'character-device', 'block-device'])

export interface LayerReport {
  entries: number
  files: number
  bytes: number
  whiteouts: number
  droppedDevices: string[]
}

export interface LayerContext {
  /** For messages: image and layer digest. */
  what: string
  spool: Spool
}

interface Whiteout {
  where: string
  /** The directory the marker sits in, root-relative and not yet resolved. */
  dir: string
  /** The name it hides, or undefined for the opaque marker. */
  hidden?: string
}

interface Pending {
  where: string
  name: string
  header: Headers
  content?: ContentRef
}

export async function applyLayer(tree: Tree, tar: Readable, context: LayerContext): Promise<LayerReport> {
  const report: LayerReport = {entries: 0, files: 0, bytes: 0, whiteouts: 0, droppedDevices: []}
  const whiteouts: Whiteout[] = []
  const pending: Pending[] = []
  const parser = extract()
  tar.on('error', (error) => parser.destroy(error))
  tar.pipe(parser)

  // First read the whole layer: file bytes go to the spool, headers (metadata only) are kept, so the
  // whiteouts can be applied before everything else, as the image spec asks.
  try {
    for await (const entry of parser) {
      const header = entry.header
      const where = `${context.what}: "${header.name}"`
      report.entries++
      const name = normalizeEntryName(header.name, context.what)
      if (!KNOWN_TYPES.has(header.type ?? '')) throw badInputError(`${where}: unsupported tar entry type "${header.type}"`)
      const base = baseName(name)
      if (name !== ROOT && base.startsWith(WHITEOUT_PREFIX) && header.type !== 'directory') {
        entry.resume()
        report.whiteouts++
        whiteouts.push(whiteoutOf(name, base, where))
        continue
      }
      if (header.type === 'file' || header.type === 'contiguous-file') {
        const content = await context.spool.putStream(entry as AsyncIterable<Uint8Array>, header.size ?? 0, where)
        pending.push({where, name, header, content})
        report.files++
        report.bytes += content.size
        continue
      }
      entry.resume()
      pending.push({where, name, header})
    }
  } catch (error) {
    parser.destroy()
    tar.destroy()
    if ((error as {exitCode?: number}).exitCode) throw error
    throw badInputError(`${context.what}: corrupt layer (${(error as Error).message})`)
  }

  for (const whiteout of whiteouts) applyWhiteout(tree, whiteout)
  for (const entry of pending) applyEntry(tree, entry, report)
  return report
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
    for (const p of [...tree.entries.keys()]) if (isUnder(p, parent)) tree.entries.delete(p)
    return
  }
  removeSubtree(tree, parent === ROOT ? hidden : `${parent}/${hidden}`)
}

function applyEntry(tree: Tree, {where, name, header, content}: Pending, report: LayerReport): void {
  if (name === ROOT) {
    // The root's own entry ("./"): only its metadata matters.
    if (header.type !== 'directory') throw badInputError(`${where}: a ${header.type} entry names the image root`)
    putInode(tree, ROOT, baseInode(header, 'dir'))
    return
  }
  const path = resolveParent(tree, name, where)
  if (path === ROOT) throw badInputError(`${where}: entry resolves to the image root`)
  switch (header.type) {
    case 'directory':
      putInode(tree, path, baseInode(header, 'dir'))
      break
    case 'file':
    case 'contiguous-file':
      putInode(tree, path, {...baseInode(header, 'file'), content})
      break
    case 'symlink':
      if (!header.linkname) throw badInputError(`${where}: symlink with an empty target`)
      putInode(tree, path, {...baseInode(header, 'symlink'), target: header.linkname})
      break
    case 'link': {
      const source = resolveLinkTarget(tree, header.linkname ?? '', where)
      const inode = tree.entries.get(source)
      // A link to a device node this layer dropped is dropped with it, not refused.
      if (!inode && report.droppedDevices.includes(source)) {
        report.droppedDevices.push(path)
        break
      }
      if (!inode) throw badInputError(`${where}: hardlink to "${header.linkname}", which does not exist`)
      if (inode.type === 'dir') throw badInputError(`${where}: hardlink to a directory ("${header.linkname}")`)
      if (source !== path) putInode(tree, path, inode)
      break
    }
    case 'fifo':
      putInode(tree, path, baseInode(header, 'fifo'))
      break
    case 'character-device':
    case 'block-device':
      // The layer replaces whatever a lower layer had here; dropping the node leaves nothing there.
      if (tree.entries.has(path)) removeSubtree(tree, path)
      report.droppedDevices.push(path)
      break
  }
}

function baseInode(header: Headers, type: Inode['type']): Inode {
  const inode: Inode = {
    type,
    mode: (header.mode ?? 0o644) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    mtime: Math.max(0, Math.floor((header.mtime?.getTime() ?? 0) / 1000)),
  }
  const xattrs = xattrsOf(header)
  if (xattrs) inode.xattrs = xattrs
  return inode
}

function xattrsOf(header: Headers): Record<string, Uint8Array> | undefined {
  const pax = header.pax
  if (!pax) return undefined
  const xattrs: Record<string, Uint8Array> = {}
  for (const [key, value] of Object.entries(pax))
    if (key.startsWith('SCHILY.xattr.')) xattrs[key.slice('SCHILY.xattr.'.length)] = Buffer.from(String(value), 'latin1')
  return Object.keys(xattrs).length > 0 ? xattrs : undefined
}
