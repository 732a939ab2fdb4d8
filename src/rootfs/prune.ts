// Pruning: an appliance carries no package manager, no compiler, no headers and no static libraries.
// This file is the one place of those rules: DEFAULT_PRUNE_RULES below, one row per rule, each with
// the reason the report gives. Rules match root-relative tree paths, after symlinked directories were
// resolved (StageX's lib -> usr/lib puts /lib/apk at usr/lib/apk, so both spellings are listed).
// A matched directory goes with everything below it. The no-compiler check (no-compiler.ts) reads
// the same table to name what a `prune: none` image still holds, and looks at content as well.
import {profileError} from '../errors.js'
import {normalizeEntryName, resolveParent} from './paths.js'
import {type Inode, type Tree, ROOT, baseName, isUnder, parentOf, sortedPaths} from './tree.js'

export interface PruneRule {
  /** What the rule removes, for the report. */
  reason: string
  matches: (path: string) => boolean
}

/** Where programs live; a tool is recognized by its name only in these folders. */
const BIN_DIRS = new Set(['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'usr/local/sbin'])
/** Library folders (after lib -> usr/lib style links, both spellings). */
const LIB = String.raw`(?:usr/(?:local/)?)?lib(?:32|64|x32)?`
/** A Debian-style multiarch folder below a library folder ("x86_64-linux-gnu/"). */
const MULTIARCH = String.raw`[a-z0-9_]+-linux-[a-z0-9_]+/`

const inBin = (path: string) => BIN_DIRS.has(parentOf(path))
/** A program in a bin folder whose name `test` accepts. */
const program = (test: (name: string) => boolean) => (path: string) => inBin(path) && test(baseName(path))
/** Exactly these paths (each a folder or a file), nothing else. */
const paths = (...list: string[]) => {
  const set = new Set(list)
  return (path: string) => set.has(path)
}
const pattern = (re: RegExp) => (path: string) => re.test(path)

/**
 * A target triple as cross and native toolchains prefix their drivers: x86_64-linux-musl-gcc,
 * x86_64-pc-linux-gnu-g++, aarch64-linux-gnu-ld.bfd (two to four dash-separated parts).
 */
const TRIPLE = String.raw`(?:[a-z0-9_]+(?:-[a-z0-9_.]+){1,3}-)?`
/** An optional version suffix: gcc-13, g++-12.2, clang-18, python's pip3.11 is matched separately. */
const VERSION = String.raw`(?:-\d+(?:\.\d+)*)?`

/** Compiler drivers and compiler passes (GCC's, LLVM's, tcc), with or without a triple and a version. */
const COMPILER_NAMES = new RegExp(
  `^${TRIPLE}(?:gcc|g\\+\\+|c\\+\\+|cc|cpp|c89|c99|gfortran|gccgo|gcc-ar|gcc-nm|gcc-ranlib|gcov|gcov-tool|lto-dump|tcc|clang|clang\\+\\+|clang-cpp)${VERSION}$`,
)
/** GCC's passes, in case a package puts them in a bin folder instead of usr/libexec/gcc. */
const COMPILER_PASSES = new Set(['cc1', 'cc1plus', 'cc1obj', 'cc1objplus', 'f951', 'go1', 'lto1', 'lto-wrapper', 'collect2'])
/** Linkers and assemblers: ld and every ld.* flavour but ld.so (glibc's program loader, which programs need), lld and friends. */
const LINKER_NAMES = new RegExp(`^${TRIPLE}(?:ld|ld\\.(?!so$)[a-z0-9]+|as|gold|mold|lld|ld64\\.lld|lld-link|wasm-ld|nasm|yasm)${VERSION}$`)
/** Every clang-* tool (clang-15, clang-format, clang-tidy: LLVM's compiler and its developer tools). */
const CLANG_TOOLS = /^clang-.+$/
/** Other languages' compilers and toolchain managers. */
const OTHER_COMPILERS = new Set(['rustc', 'rustdoc', 'rustup', 'cargo', 'go', 'gofmt', 'zig', 'javac', 'ghc', 'ocamlopt', 'llc', 'opt', 'llvm-mc'])
const BUILD_TOOLS = new Set(['make', 'gmake', 'cmake', 'ninja', 'meson', 'autoconf', 'autoreconf', 'automake', 'libtool', 'libtoolize', 'pkg-config', 'pkgconf'])
/** Package managers as programs: apk, pip, npm and the like (easy_install, pip3, pip3.11 included). */
const PACKAGE_MANAGER_NAMES =
  /^(?:apk|apt|apt-get|apt-cache|aptitude|dpkg|dpkg-[a-z-]+|rpm|dnf|yum|zypper|opkg|pacman|xbps-install|emerge|nix|nix-env|pip|pip\d+(?:\.\d+)?|easy_install(?:-\d+(?:\.\d+)?)?|npm|npx|pnpm|yarn|corepack|gem|conda)$/

export const DEFAULT_PRUNE_RULES: PruneRule[] = [
  // Compilers: an appliance runs what was built; it never builds. Target-prefixed drivers too, since
  // StageX's gcc installs x86_64-linux-musl-gcc beside gcc. Build tools (make, cmake, pkg-config) drive them.
  {reason: 'compiler or build tool', matches: program((n) => COMPILER_NAMES.test(n) || COMPILER_PASSES.has(n) || CLANG_TOOLS.test(n) || OTHER_COMPILERS.has(n) || BUILD_TOOLS.has(n))},
  // Linkers and assemblers: with them, object files become programs.
  {reason: 'linker or assembler', matches: program((n) => LINKER_NAMES.test(n))},
  // Compilers' private trees: GCC's passes, specs, crt objects, plugins and its own headers; Go's and
  // Rust's standard libraries and tools; clang's resource folder; ld's LTO plugins.
  {
    reason: 'compiler private tree',
    matches: pattern(
      new RegExp(
        String.raw`^(?:usr/(?:lib|libexec)/gcc|usr/lib/go(?:-[\d.]+)?|usr/local/go|${LIB}/rustlib|usr/lib/clang|usr/lib/bfd-plugins|usr/libexec/rustc|root/\.cargo|root/\.rustup)$`,
      ),
    ),
  },
  // rustc's body: the rustc program is a thin wrapper around this library.
  {reason: 'compiler private tree', matches: pattern(new RegExp(String.raw`^${LIB}/librustc_driver-[^/]+\.so$`))},
  // Package managers as programs.
  {reason: 'package manager', matches: program((n) => PACKAGE_MANAGER_NAMES.test(n))},
  // Package managers that are not programs in a bin folder: pip as a Python package (and its wheel
  // record), ensurepip (which installs pip), npm and its peers as Node packages.
  {
    reason: 'package manager',
    matches: pattern(
      new RegExp(
        String.raw`^${LIB}/python[\d.]+/(?:ensurepip|(?:site|dist)-packages/(?:pip|pip-[^/]+\.dist-info|easy_install\.py))$|^${LIB}/node_modules/(?:npm|npx|corepack|pnpm|yarn)$`,
      ),
    ),
  },
  // Package databases and configuration: apk's (lib/apk holds its installed database, etc/apk its
  // repositories and keys), and dpkg's, apt's and rpm's should a package carry them.
  {
    reason: 'package database',
    matches: paths(
      'lib/apk', 'usr/lib/apk', 'etc/apk', 'var/lib/apk', 'var/cache/apk',
      'var/lib/dpkg', 'var/lib/apt', 'var/cache/apt', 'etc/apt', 'etc/dpkg', 'var/lib/rpm', 'usr/lib/sysimage/rpm',
    ),
  },
  // C and C++ headers: only a compiler reads them.
  {reason: 'C headers', matches: paths('usr/include', 'usr/local/include')},
  // Static libraries and libtool archives: only a linker reads them.
  {reason: 'static library or libtool archive', matches: pattern(new RegExp(String.raw`^${LIB}/.+\.(?:a|la)$`))},
  // The C runtime's start files: the linker puts them in front of every program it links.
  {reason: 'C runtime start files', matches: pattern(new RegExp(String.raw`^${LIB}/(?:${MULTIARCH})?(?:crt1|crti|crtn|Scrt1|rcrt1|gcrt1|Mcrt1)\.o$`))},
  // pkg-config metadata (*.pc): only a build reads it. The folders hold nothing else, so they go whole.
  {reason: 'pkg-config files', matches: pattern(new RegExp(String.raw`^(?:${LIB}/(?:${MULTIARCH})?|usr/(?:local/)?share/)pkgconfig(?:$|/[^/]+\.pc$)`))},
  // Build systems' metadata: CMake package files and autoconf macros.
  {reason: 'build system files', matches: paths('usr/lib/cmake', 'usr/share/cmake', 'usr/share/aclocal', 'usr/local/lib/cmake', 'usr/local/share/aclocal')},
  // Manuals and documentation: nobody reads them on an appliance, which has no man or info either.
  {
    reason: 'man pages and documentation',
    matches: paths('usr/share/man', 'usr/share/doc', 'usr/share/info', 'usr/share/gtk-doc', 'usr/local/share/man', 'usr/local/share/doc', 'usr/local/share/info', 'usr/man', 'usr/doc', 'usr/info'),
  },
]

/** The rule that removes `path`, or that removes a folder above it. */
export function pruneRuleFor(path: string, rules: readonly PruneRule[] = DEFAULT_PRUNE_RULES): PruneRule | undefined {
  for (let p = path; p !== ROOT; p = parentOf(p)) {
    const rule = rules.find((r) => r.matches(p))
    if (rule) return rule
  }
  return undefined
}

/** What one package lost to one removal (a folder can hold the files of several packages). */
export interface Removal {
  /** The removed path ("/usr/include"); everything below it went too. */
  path: string
  reason: string
  /** The package its entries came from, or UNKNOWN_PACKAGE. */
  package: string
  /** Entries (files, folders, links) of this package at or below `path`. */
  entries: number
  /** Bytes of file content (a hardlinked file counted once). */
  bytes: number
}

/** A path of the profile's keep: list, as it was found in the tree. */
export interface Kept {
  /** Tree path ("/usr/bin/helper"). */
  path: string
  /** As the profile wrote it. */
  keep: string
  /** The rule that would have removed it, if any. */
  reason?: string
  package: string
}

export interface PruneReport {
  /** One row per removed path and package, in path order. */
  removed: Removal[]
  kept: Kept[]
}

export interface PruneOptions {
  rules?: readonly PruneRule[]
  /** Paths pruning must keep (the profile's keep:, absolute as written); a kept folder keeps what is below it. */
  keep?: readonly string[]
  /** Where keep[i] is in the profile (file:line:col), for errors. */
  locateKeep?: (index: number) => string
}

/** Entries without an origin (the profile's own, or a tree built by hand). */
export const UNKNOWN_PACKAGE = 'unknown package'

// Inode.origin arrives with provenance tracking; read it structurally so this file works with or without it.
export const packageOf = (inode: Inode | undefined): string => (inode as {origin?: {package?: string}} | undefined)?.origin?.package ?? UNKNOWN_PACKAGE

/** The tree paths the profile's keep: names, each resolved like a profile path (parent links followed). */
export function resolveKeep(tree: Tree, keep: readonly string[], locate: (index: number) => string = (i) => `keep[${i}]`): {path: string; keep: string}[] {
  return keep.map((written, i) => {
    const where = locate(i)
    let path: string
    try {
      path = resolveParent(tree, normalizeEntryName(written, where), where)
    } catch (error) {
      throw profileError(`${where}: keep[${i}] "${written}" is not a path inside the image: ${(error as Error).message}`)
    }
    if (path === ROOT) throw profileError(`${where}: keep[${i}] "${written}" names the image root; name the files or folders to keep`)
    if (!tree.entries.has(path)) throw profileError(`${where}: keep[${i}] "${written}" is not in the image (no package provides /${path}); remove it from keep:`)
    return {path, keep: written}
  })
}

/**
 * Removes what the rules match (a matched folder with everything below it), except the kept paths:
 * a kept path stays, with everything below it, and so do the folders above it, whose other contents
 * still go. Returns what went, per package, with sizes, and what was kept.
 */
export function prune(tree: Tree, options: PruneOptions = {}): PruneReport {
  const rules = options.rules ?? DEFAULT_PRUNE_RULES
  const keep = resolveKeep(tree, options.keep ?? [], options.locateKeep)
  const keptPaths = keep.map((k) => k.path)
  const isKept = (p: string) => keptPaths.some((k) => p === k || isUnder(p, k))
  const holdsKept = (p: string) => keptPaths.some((k) => isUnder(k, p))

  // A removal accumulates its entries per package; `inside` maps each removed top path to it, and
  // `spared` each matched folder that stays because something below it is kept.
  type Accumulated = {reason: string; byPackage: Map<string, {entries: number; bytes: number}>; inodes: Set<Inode>}
  const removals = new Map<string, Accumulated>()
  const spared = new Map<string, PruneRule>()
  const doomed: string[] = []
  const kept: Kept[] = []

  for (const path of sortedPaths(tree)) {
    if (path === ROOT) continue
    const inode = tree.entries.get(path)!
    // The innermost removed or spared folder above this path decides for it.
    let removal: Accumulated | undefined
    let inherited: PruneRule | undefined
    for (let p = parentOf(path); p !== ROOT; p = parentOf(p)) {
      removal = removals.get(p)
      inherited = spared.get(p)
      if (removal || inherited) break
    }
    if (!removal) {
      const rule = rules.find((r) => r.matches(path)) ?? inherited
      const keptAs = keep.find((k) => k.path === path)
      if (keptAs) kept.push({path: `/${path}`, keep: keptAs.keep, reason: rule?.reason ?? pruneRuleFor(path, rules)?.reason, package: packageOf(inode)})
      if (!rule || isKept(path)) continue
      if (holdsKept(path)) {
        spared.set(path, rule)
        continue
      }
      removal = {reason: rule.reason, byPackage: new Map(), inodes: new Set<Inode>()}
      removals.set(path, removal)
    }
    const pkg = packageOf(inode)
    const tally = removal.byPackage.get(pkg) ?? {entries: 0, bytes: 0}
    tally.entries++
    if (inode.type === 'file' && !removal.inodes.has(inode)) tally.bytes += inode.content?.size ?? 0
    removal.inodes.add(inode)
    removal.byPackage.set(pkg, tally)
    doomed.push(path)
  }
  for (const path of doomed) tree.entries.delete(path)

  const removed: Removal[] = []
  for (const [path, removal] of removals)
    for (const [pkg, tally] of [...removal.byPackage].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      removed.push({path: `/${path}`, reason: removal.reason, package: pkg, entries: tally.entries, bytes: tally.bytes})
  return {removed, kept}
}

/** The removals grouped by package (sorted by name), each with its total bytes and entries. */
export function removalsByPackage(removed: readonly Removal[]): {package: string; entries: number; bytes: number; removed: Removal[]}[] {
  const groups = new Map<string, {package: string; entries: number; bytes: number; removed: Removal[]}>()
  for (const r of removed) {
    const group = groups.get(r.package) ?? {package: r.package, entries: 0, bytes: 0, removed: []}
    group.entries += r.entries
    group.bytes += r.bytes
    group.removed.push(r)
    groups.set(r.package, group)
  }
  return [...groups.values()].sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : 0))
}
