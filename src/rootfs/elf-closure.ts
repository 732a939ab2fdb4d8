// ELF closure: every dynamically linked program in the tree finds its interpreter and every
// library it needs inside the tree, as the guest's loader would search for them.
import {ElfFormatError, isElf, readElf} from '../formats/elf.js'
import {resolveFully} from './paths.js'
import type {ContentReader} from '../store/spool.js'
import {type ContentRef, type Tree, parentOf, sortedPaths} from './tree.js'

/** Where musl and glibc look when nothing else says: /lib, /usr/local/lib, /usr/lib (and the lib64 forms). */
export const DEFAULT_LIBRARY_DIRS = ['lib', 'usr/local/lib', 'usr/lib', 'lib64', 'usr/lib64']

export interface ClosureProblem {
  path: string
  problem: string
}

export interface ClosureReport {
  elfFiles: number
  dynamic: number
  problems: ClosureProblem[]
}

export function checkElfClosure(tree: Tree, reader: ContentReader): ClosureReport {
  const report: ClosureReport = {elfFiles: 0, dynamic: 0, problems: []}
  const existsAsFile = (path: string) => {
    try {
      return tree.entries.get(resolveFully(tree, path.replace(/^\/+/, ''), path))?.type === 'file'
    } catch {
      return false
    }
  }
  const extraDirs = musllibraryPath(tree, reader)
  for (const path of sortedPaths(tree)) {
    const inode = tree.entries.get(path)!
    if (inode.type !== 'file' || !inode.content || inode.content.size < 64) continue
    const bytes = readHead(reader, inode.content)
    if (!isElf(bytes)) continue
    report.elfFiles++
    let facts
    try {
      facts = readElf(bytes)
    } catch (error) {
      if (error instanceof ElfFormatError) report.problems.push({path: `/${path}`, problem: `unreadable ELF: ${error.message}`})
      continue
    }
    if (facts.kind !== 'executable' && facts.kind !== 'shared-object') continue
    if (facts.interpreter || facts.needed.length > 0) report.dynamic++
    if (facts.interpreter && !existsAsFile(facts.interpreter))
      report.problems.push({path: `/${path}`, problem: `its interpreter ${facts.interpreter} is not in the image`})
    const origin = parentOf(path)
    const searchDirs = [...facts.rpath, ...facts.runpath]
      .map((d) => d.replaceAll('$ORIGIN', `/${origin}`).replaceAll('${ORIGIN}', `/${origin}`))
      .map((d) => d.replace(/^\/+/, ''))
      .concat(extraDirs, DEFAULT_LIBRARY_DIRS)
    for (const library of facts.needed) {
      const found = library.includes('/') ? existsAsFile(library) : searchDirs.some((dir) => existsAsFile(`${dir}/${library}`))
      if (!found) report.problems.push({path: `/${path}`, problem: `needs ${library}, which is not in the image`})
    }
  }
  return report
}

/** musl reads extra library folders from /etc/ld-musl-x86_64.path. */
function musllibraryPath(tree: Tree, reader: ContentReader): string[] {
  const inode = tree.entries.get('etc/ld-musl-x86_64.path')
  if (inode?.type !== 'file' || !inode.content) return []
  const text = reader.head(inode.content, 65536).toString()
  return text.split(/[:\n]/).map((d) => d.trim().replace(/^\/+/, '')).filter(Boolean)
}

/** Whole file for ELF parsing (the dynamic string table can be anywhere); other files: 4 bytes. */
function readHead(reader: ContentReader, content: ContentRef): Buffer {
  const magic = reader.head(content, 4)
  return isElf(magic) ? reader.bytes(content) : magic
}
