// Applying one layer (an uncompressed tar stream) to the tree, with OCI whiteout semantics:
//  - ".wh.NAME" deletes NAME (a file, a link, or a whole directory tree) from LOWER layers only;
//  - "DIR/.wh..wh..opq" hides every lower child of DIR; DIR itself and this layer's entries stay;
//  - both act as if they came first in the layer, whatever the tar order (a same-layer entry survives);
//  - ".wh." alone, ".wh.." and ".wh..." are refused; a directory named ".wh.x/" is not a whiteout.
// Device nodes (character and block) are not taken from layers: they are dropped and reported.
// Path rules are in paths.ts.
import type {Readable} from 'node:stream'
import {extract, type Header as Headers} from 'tar-stream'

import {badInputError} from '../errors.js'
import type {Spool} from '../store/spool.js'
import {normalizeEntryName, resolveFully, resolveParent} from './paths.js'
import {type Inode, type Tree, ROOT, baseName, isUnder, parentOf, putInode, removeSubtree} from './tree.js'

const WHITEOUT_PREFIX = '.wh.'
const OPAQUE_MARKER = '.wh..wh..opq'

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

export async function applyLayer(tree: Tree, tar: Readable, context: LayerContext): Promise<LayerReport> {
  const report: LayerReport = {entries: 0, files: 0, bytes: 0, whiteouts: 0, droppedDevices: []}
  /** Paths this layer wrote: whiteouts never remove them. */
  const addedHere = new Set<string>()
  const keep = (p: string) => addedHere.has(p)
  const parser = extract()
  tar.on('error', (error) => parser.destroy(error))
  tar.pipe(parser)

  try {
    for await (const entry of parser) {
      const header = entry.header
      const where = `${context.what}: "${header.name}"`
      report.entries++
      const name = normalizeEntryName(header.name, context.what)
      if (name === ROOT) {
        // The root's own entry ("./"): only its metadata matters.
        if (header.type === 'directory') putInode(tree, ROOT, dirInode(header))
        entry.resume()
        continue
      }
      const base = baseName(name)

      if (base.startsWith(WHITEOUT_PREFIX) && header.type !== 'directory') {
        entry.resume()
        report.whiteouts++
        const parent = resolveFully(tree, parentOf(name), where)
        if (base === OPAQUE_MARKER) {
          for (const p of [...tree.entries.keys()]) if (isUnder(p, parent) && p !== parent && !keep(p)) tree.entries.delete(p)
          continue
        }
        const hidden = base.slice(WHITEOUT_PREFIX.length)
        if (hidden === '' || hidden === '.' || hidden === '..' || hidden.startsWith(WHITEOUT_PREFIX))
          throw badInputError(`${where}: invalid whiteout name`)
        const target = parent === ROOT ? hidden : `${parent}/${hidden}`
        removeSubtree(tree, target, keep)
        continue
      }

      const path = resolveParent(tree, name, where)
      if (path === ROOT) throw badInputError(`${where}: entry resolves to the image root`)
      addedHere.add(path)
      switch (header.type) {
        case 'directory':
          putInode(tree, path, dirInode(header))
          entry.resume()
          break
        case 'file':
        case 'contiguous-file': {
          const content = await context.spool.putStream(entry as AsyncIterable<Uint8Array>, header.size ?? 0, where)
          putInode(tree, path, {...baseInode(header, 'file'), content})
          report.files++
          report.bytes += content.size
          break
        }
        case 'symlink':
          if (!header.linkname) throw badInputError(`${where}: symlink with an empty target`)
          putInode(tree, path, {...baseInode(header, 'symlink'), target: header.linkname})
          entry.resume()
          break
        case 'link': {
          entry.resume()
          const sourceName = normalizeEntryName(header.linkname ?? '', `${where} (hardlink target)`)
          const source = resolveParent(tree, sourceName, where)
          const inode = tree.entries.get(source)
          if (!inode) throw badInputError(`${where}: hardlink to "${header.linkname}", which does not exist`)
          if (inode.type === 'dir') throw badInputError(`${where}: hardlink to a directory ("${header.linkname}")`)
          if (source !== path) putInode(tree, path, inode)
          break
        }
        case 'fifo':
          putInode(tree, path, baseInode(header, 'fifo'))
          entry.resume()
          break
        case 'character-device':
        case 'block-device':
          report.droppedDevices.push(path)
          addedHere.delete(path)
          entry.resume()
          break
        default:
          entry.resume()
          throw badInputError(`${where}: unsupported tar entry type "${header.type}"`)
      }
    }
  } catch (error) {
    parser.destroy()
    tar.destroy()
    if ((error as {exitCode?: number}).exitCode) throw error
    throw badInputError(`${context.what}: corrupt layer (${(error as Error).message})`)
  }
  return report
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

function dirInode(header: Headers): Inode {
  return baseInode(header, 'dir')
}

function xattrsOf(header: Headers): Record<string, Uint8Array> | undefined {
  const pax = header.pax
  if (!pax) return undefined
  const xattrs: Record<string, Uint8Array> = {}
  for (const [key, value] of Object.entries(pax))
    if (key.startsWith('SCHILY.xattr.')) xattrs[key.slice('SCHILY.xattr.'.length)] = Buffer.from(String(value), 'latin1')
  return Object.keys(xattrs).length > 0 ? xattrs : undefined
}
