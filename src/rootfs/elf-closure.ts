// ELF closure: every dynamically linked program in the tree finds its interpreter and every
// library it needs inside the tree, as the guest's loader would search for them. A problem names the
// program, what it misses, and where the loader looked, so the caller can say which image has it
// (providersOf); the profile's allowMissing: waives a name it knows the guest does without.
import {ElfFormatError, type ElfSource, isElf, readElf} from '../formats/elf.js'
import {resolveFully, resolveParent} from './paths.js'
import type {ContentReader} from '../store/spool.js'
import {packageOf, type Removal} from './prune.js'
import {type ContentRef, type Tree, isUnder, parentOf, rangeOf, sortedPaths} from './tree.js'

/** Where musl and glibc look when nothing else says: /lib, /usr/local/lib, /usr/lib (and the lib64 forms). */
export const DEFAULT_LIBRARY_DIRS = ['lib', 'usr/local/lib', 'usr/lib', 'lib64', 'usr/lib64']

export interface ClosureProblem {
  /** The program or library that misses something ("/usr/bin/env"). */
  path: string
  /** The package it came from. */
  package: string
  kind: 'interpreter' | 'library' | 'unreadable'
  /** The interpreter path or the library name it misses. */
  missing?: string
  /** Tree paths (root-relative) the loader would open, in its order. */
  searched?: string[]
  /** Which image would provide it (filled in by the caller, see providersOf). */
  provider?: string
  problem: string
}

export interface ClosureReport {
  elfFiles: number
  dynamic: number
  problems: ClosureProblem[]
  /** Problems the profile's allowMissing: waives. */
  allowed: ClosureProblem[]
}

export interface ClosureOptions {
  /**
   * The profile's allowMissing: each a library name ("libfoo.so.1"), an interpreter or library path
   * ("/lib/ld-musl-x86_64.so.1"), or a program's path ("/usr/bin/tool": everything it misses).
   */
  allowMissing?: readonly string[]
}

const existsAsFileIn = (tree: Tree, path: string) => {
  try {
    return tree.entries.get(resolveFully(tree, path.replace(/^\/+/, ''), path))?.type === 'file'
  } catch {
    return false
  }
}

export function checkElfClosure(tree: Tree, reader: ContentReader, options: ClosureOptions = {}): ClosureReport {
  const report: ClosureReport = {elfFiles: 0, dynamic: 0, problems: [], allowed: []}
  const allow = new Set(options.allowMissing ?? [])
  const existsAsFile = (path: string) => existsAsFileIn(tree, path)
  const add = (problem: ClosureProblem) => {
    const waived = allow.has(problem.path) || (problem.missing !== undefined && (allow.has(problem.missing) || allow.has(`/${problem.missing.replace(/^\/+/, '')}`)))
    ;(waived ? report.allowed : report.problems).push(problem)
  }
  const extraDirs = musllibraryPath(tree, reader)
  for (const path of sortedPaths(tree)) {
    const inode = tree.entries.get(path)!
    if (inode.type !== 'file' || !inode.content || inode.content.size < 64) continue
    if (!isElf(reader.head(inode.content, 4))) continue
    report.elfFiles++
    const pkg = packageOf(inode)
    let facts
    try {
      facts = readElf(elfSource(reader, inode.content))
    } catch (error) {
      if (error instanceof ElfFormatError) add({path: `/${path}`, package: pkg, kind: 'unreadable', problem: `unreadable ELF: ${error.message}`})
      continue
    }
    if (facts.kind !== 'executable' && facts.kind !== 'shared-object') continue
    if (facts.interpreter || facts.needed.length > 0) report.dynamic++
    if (facts.interpreter && !existsAsFile(facts.interpreter))
      add({
        path: `/${path}`,
        package: pkg,
        kind: 'interpreter',
        missing: facts.interpreter,
        searched: [facts.interpreter.replace(/^\/+/, '')],
        problem: `its interpreter ${facts.interpreter} is not in the image`,
      })
    const origin = parentOf(path)
    const searchDirs = [...facts.rpath, ...facts.runpath]
      .map((d) => d.replaceAll('$ORIGIN', `/${origin}`).replaceAll('${ORIGIN}', `/${origin}`))
      .map((d) => d.replace(/^\/+/, ''))
      .concat(extraDirs, DEFAULT_LIBRARY_DIRS)
    for (const library of facts.needed) {
      const searched = library.includes('/') ? [library.replace(/^\/+/, '')] : [...new Set(searchDirs.map((dir) => `${dir}/${library}`))]
      if (!searched.some(existsAsFile))
        add({path: `/${path}`, package: pkg, kind: 'library', missing: library, searched, problem: `needs ${library}, which is not in the image`})
    }
  }
  return report
}

/** One fetched image's own tree, for finding who holds a missing file. */
export interface ImageTree {
  name: string
  /** "package" (in the profile's packages:), "kernel" or "boot" (fetched, flattened apart). */
  role: string
  tree: Tree
}

/**
 * Names, for each problem, an image whose own layers hold the missing file at a path the loader
 * searches: a profile package that has it although the image does not (pruned, or removed by a later
 * layer), or another fetched image (the kernel or a boot package) that would provide it if it were
 * in packages:. The search paths are tried as written and as the image's links resolve them.
 */
export function providersOf(problems: readonly ClosureProblem[], root: Tree, images: readonly ImageTree[], pruned: readonly Removal[] = []): void {
  for (const problem of problems) {
    if (!problem.searched) continue
    const candidates = [...new Set(problem.searched.flatMap((p) => [p, resolvedIn(root, p)]))]
    let hint: string | undefined
    for (const image of images) {
      const candidate = candidates.find((p) => existsAsFileIn(image.tree, p))
      if (candidate === undefined) continue
      // Named as the file is in that image, its links followed (lib64/x -> usr/lib/x).
      const at = resolvedFileIn(image.tree, candidate)
      if (image.role === 'package') {
        const removal = pruned.find((r) => r.path === `/${at}` || isUnder(at, r.path.slice(1)))
        hint = removal
          ? `${image.name} has it at /${at}, which pruning removed (${removal.reason}): add /${at} to keep:`
          : `${image.name} has it at /${at}, but a later package removed or replaced it`
      } else hint = `${image.name} (fetched as the profile's ${image.role} package, not one of its packages) has it at /${at}: add ${image.name} to packages:`
      break
    }
    problem.provider = hint ?? "none of the profile's images provides it"
    problem.problem = `${problem.problem}; ${problem.provider}`
  }
}

/** The file a root-relative path names in `tree`, every link followed. */
function resolvedFileIn(tree: Tree, path: string): string {
  try {
    return resolveFully(tree, path, path)
  } catch {
    return path
  }
}

/** A root-relative path with its folders resolved through the tree's links (lib/x -> usr/lib/x). */
function resolvedIn(tree: Tree, path: string): string {
  try {
    return resolveParent(tree, path, path)
  } catch {
    return path
  }
}

/** musl reads extra library folders from /etc/ld-musl-x86_64.path. */
function musllibraryPath(tree: Tree, reader: ContentReader): string[] {
  const inode = tree.entries.get('etc/ld-musl-x86_64.path')
  if (inode?.type !== 'file' || !inode.content) return []
  const text = reader.head(inode.content, 65536).toString()
  return text.split(/[:\n]/).map((d) => d.trim().replace(/^\/+/, '')).filter(Boolean)
}

/** The file as readElf's source of ranges: it reads the few ranges it needs, never the whole file. */
function elfSource(reader: ContentReader, content: ContentRef): ElfSource {
  return {size: content.size, read: (offset, length) => reader.head(rangeOf(content, offset, length), length)}
}
