// Pruning: an appliance carries no package manager, compiler, headers or static libraries.
// The rules are globs on root-relative paths (after symlinked directories were resolved).
import {type Tree, ROOT, baseName, removeSubtree, sortedPaths} from './tree.js'

export interface PruneRule {
  /** What the rule removes, for the report. */
  reason: string
  matches: (path: string) => boolean
}

const toolNames = (names: string[]) => new Set(names)
const compilers = toolNames(['gcc', 'g++', 'cc', 'c++', 'cpp', 'clang', 'clang++', 'tcc', 'rustc', 'cargo', 'go', 'gofmt',
  'as', 'ld', 'ld.bfd', 'ld.gold', 'ld.lld', 'lld', 'make', 'cmake', 'ninja', 'javac', 'ghc', 'zig'])
const packageManagers = toolNames(['apk', 'apt', 'apt-get', 'dpkg', 'rpm', 'dnf', 'yum', 'pip', 'pip3', 'npm', 'gem', 'opkg', 'pacman'])
const binDirs = ['usr/bin', 'usr/sbin', 'usr/local/bin', 'bin', 'sbin']

export const DEFAULT_PRUNE_RULES: PruneRule[] = [
  {reason: 'compiler or build tool', matches: (p) => binDirs.some((d) => p === `${d}/${baseName(p)}`) && compilers.has(baseName(p))},
  {reason: 'package manager', matches: (p) => binDirs.some((d) => p === `${d}/${baseName(p)}`) && packageManagers.has(baseName(p))},
  {reason: 'C headers', matches: (p) => p === 'usr/include' || p === 'usr/local/include'},
  {reason: 'static library or libtool archive', matches: (p) => /^usr\/(local\/)?lib(64)?\/.+\.(a|la)$/.test(p)},
  {reason: 'compiler support files', matches: (p) => /^usr\/(lib|libexec)\/gcc(\/|$)/.test(p) && p.split('/').length === 3},
  {reason: 'package database', matches: (p) => p === 'var/lib/dpkg' || p === 'var/lib/apk' || p === 'lib/apk' || p === 'var/cache/apk'},
]

export interface PruneReport {
  removed: {path: string; reason: string}[]
}

/** Removes what the rules match (a matched directory goes with everything below it). */
export function prune(tree: Tree, rules: PruneRule[] = DEFAULT_PRUNE_RULES): PruneReport {
  const removed: PruneReport['removed'] = []
  for (const path of sortedPaths(tree)) {
    if (path === ROOT || !tree.entries.has(path)) continue
    const rule = rules.find((r) => r.matches(path))
    if (!rule) continue
    removeSubtree(tree, path)
    removed.push({path: `/${path}`, reason: rule.reason})
  }
  return {removed}
}
