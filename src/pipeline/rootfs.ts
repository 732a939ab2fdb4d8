// `rootfs PROFILE [--out FILE.tar] [--list] [--report]` and `check PROFILE`: the stages up to the kernel, then a
// tar of the tree and/or a listing of it, or the checks on it (kernel config, ELF closure, no
// compilers), with no other output.
import {mkdir} from 'node:fs/promises'
import {basename, dirname, resolve} from 'node:path'
import {sweepLeftovers} from '../cleanup/leftovers.js'
import {writeRootfsTar} from '../image/rootfs-tar.js'
import {describeValue} from '../kernel/kconfig.js'
import type {ClosureProblem} from '../rootfs/elf-closure.js'
import type {CompilerFinding} from '../rootfs/no-compiler.js'
import {type Kept, type Removal, removalsByPackage, resolveKeep} from '../rootfs/prune.js'
import {type Inode, type NodeType, ROOT, type Tree, sortedPaths} from '../rootfs/tree.js'
import type {ContentReader} from '../store/spool.js'
import {usageError} from '../errors.js'
import {checkStage, keptOf} from './checks.js'
import {kernelMismatchError, type PipelineOptions, type PreparedRoot, prepareRoot, withWorkFolder} from './pipeline.js'

export interface RootfsTarResult {
  profile: string
  path: string
  sha256: string
  size: number
  entries: number
  treeSha256: string
}

/** One entry of the root tree as `rootfs --list` shows it. */
export interface RootfsListEntry {
  /** Absolute path in the image ("/" is the root). */
  path: string
  type: NodeType
  /** Permission bits as 4 octal digits, setuid, setgid and sticky included. */
  mode: string
  uid: number
  gid: number
  /** Bytes of content (files); 0 for everything else. */
  size: number
  /** Hex sha256 of the content: files, on the first path of their hardlink group. */
  sha256?: string
  /** Symlink target, exactly as written. */
  target?: string
  /** For the second and later paths of a hardlink group: the group's first path (UTF-8 order). */
  hardlinkTo?: string
  /** Character and block devices: "major,minor". */
  device?: string
  /** The package the entry came from, or "profile" for what the shape stage (and the tool) added. */
  package: string
  /** The digest of the layer it came from (absent for "profile"). */
  layer?: string
}

/** What the tool adds itself (the root, the shape stage's files, /dev/console, /init) carries no origin. */
export const PROFILE_PACKAGE = 'profile'

/**
 * The tree in UTF-8 path order, one entry per path, files hashed from the spool. A hardlink group is
 * hashed once: its later paths name the first one instead, as the rootfs tar links them.
 */
export function listTree(tree: Tree, reader: ContentReader): RootfsListEntry[] {
  const firstPathOf = new Map<Inode, string>()
  const out: RootfsListEntry[] = []
  for (const key of sortedPaths(tree)) {
    const inode = tree.entries.get(key)!
    const path = key === ROOT ? '/' : `/${key}`
    const entry: RootfsListEntry = {
      path,
      type: inode.type,
      mode: (inode.mode & 0o7777).toString(8).padStart(4, '0'),
      uid: inode.uid,
      gid: inode.gid,
      size: inode.type === 'file' ? (inode.content?.size ?? 0) : 0,
      package: inode.origin?.package ?? PROFILE_PACKAGE,
    }
    const first = firstPathOf.get(inode)
    // Directories are never hardlinked; any other inode seen before is a later path of a group.
    if (first !== undefined && inode.type !== 'dir') entry.hardlinkTo = first
    else {
      firstPathOf.set(inode, path)
      if (inode.type === 'file') entry.sha256 = inode.content ? reader.sha256(inode.content) : EMPTY_SHA256
      if (inode.type === 'symlink') entry.target = inode.target
      if ((inode.type === 'char' || inode.type === 'block') && inode.rdev) entry.device = `${inode.rdev.major},${inode.rdev.minor}`
    }
    if (inode.origin?.layer) entry.layer = inode.origin.layer
    out.push(entry)
  }
  return out
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/** One line of `--list`: tab-separated, so a path with spaces stays one field (`--json` is exact for any name). */
export function formatListEntry(e: RootfsListEntry): string {
  const what = e.hardlinkTo !== undefined ? `=> ${e.hardlinkTo}` : e.sha256 ? `sha256:${e.sha256}` : e.target !== undefined ? `-> ${e.target}` : (e.device ?? '-')
  return [e.path, e.type, e.mode, `${e.uid}:${e.gid}`, String(e.size), what, e.package].join('\t')
}

export interface RootfsOptions extends PipelineOptions {
  /** Write the shaped tree as a deterministic tar here. */
  outFile?: string
  /** List the shaped tree (path, type, mode, owner, size, sha256 or target, package). */
  list?: boolean
  /** Report what pruning removed, per package, with sizes, and what keep: kept. */
  report?: boolean
}

export interface RootfsResult {
  profile: string
  treeSha256: string
  tar?: RootfsTarResult
  entries?: RootfsListEntry[]
  pruned?: PruneSummary
}

/** What `rootfs --report` shows: the shape stage's removals grouped by package, and the keep: exceptions. */
export interface PruneSummary {
  prune: 'default' | 'none'
  /** Removed entries and bytes of file content, over every package. */
  entries: number
  bytes: number
  packages: {package: string; entries: number; bytes: number; removed: Removal[]}[]
  kept: Kept[]
}

export function pruneSummary(root: PreparedRoot): PruneSummary {
  const {profile} = root.loaded
  const tree = root.shaped.tree
  const packages = removalsByPackage(root.shaped.report.pruned)
  const kept = keptOf(tree, resolveKeep(tree, profile.keep ?? [], (i) => profile.locate(['keep', i])))
  return {prune: profile.prune, entries: packages.reduce((n, p) => n + p.entries, 0), bytes: packages.reduce((n, p) => n + p.bytes, 0), packages, kept}
}

/** The report as lines: a total, then each package with its total and each removed path, then what keep: kept. */
export function formatPruneSummary(summary: PruneSummary): string[] {
  const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`
  const entries = (n: number) => count(n, 'entry', 'entries')
  const lines = [
    summary.prune === 'none'
      ? 'pruned: nothing (prune: none)'
      : `pruned: ${entries(summary.entries)}, ${count(summary.bytes, 'byte')} from ${count(summary.packages.length, 'package')}`,
  ]
  for (const p of summary.packages) {
    lines.push(`${p.package}: ${entries(p.entries)}, ${count(p.bytes, 'byte')}`)
    for (const r of p.removed) lines.push(`  ${r.path}\t${r.reason}\t${entries(r.entries)}, ${count(r.bytes, 'byte')}`)
  }
  if (summary.kept.length > 0) lines.push('kept (keep:):')
  for (const k of summary.kept) lines.push(`  ${k.path}\t${k.reason ? `spared from: ${k.reason}` : 'no rule removes it'}\t${k.package}`)
  return lines
}

/** The stages up to the kernel, then the shaped tree as a tar (`outFile`), a listing (`list`), or both from one run. */
export async function buildRootfs(options: RootfsOptions): Promise<RootfsResult> {
  if (options.outFile === undefined && !options.list && !options.report) throw usageError('rootfs: give --out FILE.tar, --list or --report (any of them together)')
  return withWorkFolder(async (work) => {
    const root = await prepareRoot(options, work)
    try {
      const result: RootfsResult = {profile: root.loaded.profile.name, treeSha256: root.shaped.sha256}
      const tree = root.shaped.tree
      if (options.report) result.pruned = pruneSummary(root)
      if (options.list) {
        options.progress?.('rootfs: listing the tree')
        result.entries = listTree(tree, root.reader)
      }
      if (options.outFile !== undefined) {
        const outPath = resolve(options.outFile)
        await mkdir(dirname(outPath), {recursive: true})
        // A killed run's half-written tar beside it (its temp name says whose it was).
        sweepLeftovers({dir: dirname(outPath), kind: 'temp-files', prefixes: [`.${basename(outPath)}.tmp-`], what: 'temp file'})
        options.progress?.('rootfs: writing the tar')
        const written = await writeRootfsTar(tree, root.loaded.sourceDateEpoch, outPath)
        result.tar = {profile: result.profile, path: outPath, sha256: written.sha256, size: written.size, entries: written.entries, treeSha256: result.treeSha256}
      }
      return result
    } finally {
      root.reader.close()
    }
  })
}

/** The stages up to the kernel, then the shaped tree as a deterministic tar. */
export async function buildRootfsTar(options: PipelineOptions & {outFile: string}): Promise<RootfsTarResult> {
  return (await buildRootfs({...options, list: false})).tar!
}

export interface CheckResult {
  profile: string
  passed: boolean
  /** Absent for a profile without kernel: (nothing to check it against). */
  kernel?: {package: string; required: number; mismatches: {option: string; required: string; actual: string; line: number; wantedBy: string}[]}
  elf: {files: number; dynamic: number; problems: ClosureProblem[]; allowed: ClosureProblem[]}
  /** What the no-compiler check found, by name or by content (checks.ts). */
  compilers: CompilerFinding[]
  /** The profile's keep: paths, each with the rule that would have removed it. */
  kept: Kept[]
}

/** Runs every check; the caller decides the exit code from `passed` (kernel problems are the profile's). */
export async function checkProfile(options: PipelineOptions): Promise<CheckResult> {
  return withWorkFolder(async (work) => {
    const root = await prepareRoot(options, work)
    try {
      options.progress?.('check: ELF closure and no compilers')
      // The same checks every build runs (checks.ts).
      const checks = await checkStage(root)
      const {kernel} = root
      const mismatches = (kernel?.check.mismatches ?? []).map((m) => ({
        option: m.option,
        required: describeValue(m.wanted),
        actual: m.found,
        line: m.line ?? 0,
        wantedBy: m.wantedBy,
      }))
      if (kernel && mismatches.length > 0) options.progress?.(kernelMismatchError(root.loaded.profile, kernel).message)
      return {
        profile: root.loaded.profile.name,
        passed: mismatches.length === 0 && checks.passed,
        kernel: kernel && {package: kernel.package.request.name, required: kernel.check.required, mismatches},
        elf: {files: checks.elf.elfFiles, dynamic: checks.elf.dynamic, problems: checks.elf.problems, allowed: checks.elf.allowed},
        compilers: checks.compilers.findings,
        kept: checks.kept,
      }
    } finally {
      root.reader.close()
    }
  })
}
