// The no-compiler check, run on the shaped tree by `build` and `check`. Names are not enough: a
// compiler renamed to usr/bin/helper passes every name rule, so the check also reads content.
//  - by name: any path a prune rule (prune.ts) would remove is still there (a `prune: none` image);
//  - by content: an ELF file whose data and string sections (its strings, symbol and section names;
//    code is skipped, see dataRanges) carry a marker below, or a script whose shebang or first lines
//    run a package manager.
// A path the profile keeps (keep:) is exempt from the name rules, never from the content markers: a
// kept compiler is still a compiler, and the build refuses it by name (exit 4).
import {isElf} from '../formats/elf.js'
import type {ContentReader} from '../store/spool.js'
import {DEFAULT_PRUNE_RULES, packageOf, type PruneRule} from './prune.js'
import {type ContentRef, type Tree, isUnder, parentOf, rangeOf, ROOT, sortedPaths} from './tree.js'

/**
 * Byte strings that only a compiler driver, a code generator, a linker or a package manager carries.
 * Each was chosen against real binaries (test/rootfs/no-compiler.test.ts runs them on Debian's): present in
 * gcc-12, g++-12, cpp-12, cc1, cc1plus, collect2, lto1, ld.bfd, ld.gold and as; in Debian's clang-14,
 * lld-14, llc, lli, llvm-mc, rustc, go, compile, link, asm (golang-1.19) and tcc; absent from busybox,
 * glibc, openssl, libcrypto, python, perl, node, qemu, skopeo and every other ELF file in the machine's
 * /usr/bin, /usr/sbin, /usr/libexec and /usr/lib/x86_64-linux-gnu but libclang (clang as a library).
 * The obvious candidates are not markers:
 * "GCC: (...)" is in the .comment section of everything GCC built, "-fno-" and "rustc" are in node
 * (V8's flags, Rust panic paths are in every Rust program), "LLVM" is in libLLVM, which mesa loads.
 */
export const CONTENT_MARKERS: readonly {marker: string; identifies: string; with?: string}[] = [
  // The GCC driver passes the command line to its passes in this variable: gcc, g++, cpp, cc1, cc1plus, lto1, collect2.
  {marker: 'COLLECT_GCC_OPTIONS', identifies: 'the GCC compiler driver or one of its passes (cc1, collect2, lto1)'},
  // GNU as prints it in --version and its listings.
  {marker: 'GNU assembler', identifies: 'the GNU assembler'},
  // The linker-script keyword: in ld.bfd's built-in scripts and in the parsers of gold and lld.
  {marker: 'SEARCH_DIR', identifies: 'a linker with a linker-script language (GNU ld, gold, lld)'},
  // lld's multi-call entry point.
  {marker: 'lld is a generic driver', identifies: 'the LLVM linker lld'},
  // LLVM's code generators name themselves in their command-line overview: llc, lli, llvm-mc.
  {marker: 'llvm system compiler', identifies: "LLVM's static compiler llc"},
  {marker: 'llvm interpreter & dynamic compiler', identifies: "LLVM's JIT compiler lli"},
  {marker: 'llvm machine code playground', identifies: "LLVM's assembler llvm-mc"},
  // clang's driver dispatches its integrated assembler by this argument (also in libclang-cpp's driver).
  {marker: '-cc1as', identifies: 'the clang compiler driver'},
  // rustc is a thin program around librustc_driver; its symbols and NEEDED name carry it.
  {marker: 'rustc_driver', identifies: 'the Rust compiler rustc'},
  {marker: 'rustc_codegen_llvm', identifies: "the Rust compiler's code generator"},
  // Go programs keep their function names (pclntab); these functions exist only in Go's toolchain.
  // (The bare package paths are not markers: Go programs that embed Go's sources mention them.)
  {marker: 'cmd/compile/internal/gc.Main', identifies: 'the Go compiler'},
  {marker: 'cmd/go/internal/work.(*Builder)', identifies: 'the go command (builds and fetches modules)'},
  {marker: 'cmd/link/internal/ld.Main', identifies: 'the Go linker'},
  {marker: 'cmd/asm/internal/asm.(*Parser)', identifies: 'the Go assembler'},
  // tcc's banner, in its --version and usage text (and in libtcc, the same compiler as a library).
  {marker: 'Tiny C Compiler', identifies: 'the Tiny C Compiler'},
  // apk-tools: its version line, "apk-tools 2.14.4, compiled for x86_64." (the path of its database,
  // lib/apk/db, is not a marker: container scanners that read it carry it too).
  {marker: 'apk-tools ', with: ', compiled for ', identifies: 'the apk package manager'},
]

/** Every literal searched: the markers and the strings some of them need beside them. */
const LITERALS = [...new Set(CONTENT_MARKERS.flatMap((m) => (m.with ? [m.marker, m.with] : [m.marker])))].map((text) => ({text, bytes: Buffer.from(text, 'latin1')}))
const MAX_MARKER = Math.max(...LITERALS.map((l) => l.bytes.length))

/** Programs a script must not hand itself to (the shebang's interpreter, or env's first argument). */
const PACKAGE_MANAGER_INTERPRETERS = /^(?:pip|pip\d+(?:\.\d+)?|easy_install(?:-\d+(?:\.\d+)?)?|npm|npx|pnpm|yarn|corepack|apk|gem|cargo|go)$/
/** The first lines of a script that runs a package manager: pip's and easy_install's entry points, `-m pip`, npm's CLI. */
const SCRIPT_BODY_MARKERS: readonly {re: RegExp; identifies: string}[] = [
  {re: /^\s*(?:from pip(?:\._internal[.\w]*)? import|import pip\b)/m, identifies: "pip's entry point"},
  {re: /setuptools\.command\.easy_install|^\s*from easy_install import/m, identifies: "easy_install's entry point"},
  {re: /-m\s+(?:pip|ensurepip)\b/, identifies: 'python -m pip'},
  {re: /npm-cli\.js|require\(\s*['"]npm['"]\s*\)/, identifies: "npm's command line"},
]
/** How much of a script is read: the shebang and a console script's imports. */
const SCRIPT_HEAD = 4096

export interface CompilerFinding {
  /** Tree path ("/usr/bin/helper"). */
  path: string
  package: string
  /** "name" when a prune rule names it, "content" when its bytes identify it. */
  by: 'name' | 'content'
  /** What it is ("compiler", "the GCC compiler driver ...") and, for content, the marker that showed it. */
  reason: string
  marker?: string
  /** The profile's keep: lists it (a name finding is then waived; a content finding never is). */
  kept: boolean
}

export interface NoCompilerReport {
  /** Regular files whose content was read (ELF files and scripts). */
  scanned: number
  findings: CompilerFinding[]
}

export interface NoCompilerOptions {
  /** Tree paths (root-relative) the profile keeps; a kept folder covers what is below it. */
  keep?: readonly string[]
  rules?: readonly PruneRule[]
}

export function checkNoCompiler(tree: Tree, reader: ContentReader, options: NoCompilerOptions = {}): NoCompilerReport {
  const keep = options.keep ?? []
  const rules = options.rules ?? DEFAULT_PRUNE_RULES
  const isKept = (p: string) => keep.some((k) => p === k || isUnder(p, k))
  const holdsKept = (p: string) => keep.some((k) => isUnder(k, p))
  // The rule of a path or of a folder above it, memoized: parents come first in sorted order.
  const ruleOf = new Map<string, PruneRule | undefined>([[ROOT, undefined]])
  // A path is named when a rule covers it, it is not kept, and nothing below it is kept (then its
  // other children are named instead); only the topmost such path, which stands for what is below it.
  const named = new Map<string, boolean>([[ROOT, false]])
  const report: NoCompilerReport = {scanned: 0, findings: []}
  // A hardlink group is read once: its content finding is reported on every path of it.
  const seen = new Map<ContentRef, Identified | undefined>()
  for (const path of sortedPaths(tree)) {
    if (path === ROOT) continue
    const inode = tree.entries.get(path)!
    const parent = parentOf(path)
    const rule = rules.find((r) => r.matches(path)) ?? ruleOf.get(parent)
    ruleOf.set(path, rule)
    const kept = isKept(path)
    const nameable = rule !== undefined && !kept && !holdsKept(path)
    named.set(path, nameable)
    if (nameable && !named.get(parent)) report.findings.push({path: `/${path}`, package: packageOf(inode), by: 'name', reason: rule.reason, kept})
    if (inode.type !== 'file' || !inode.content || inode.content.size < 4) continue
    let hit = seen.get(inode.content)
    if (!seen.has(inode.content)) {
      const found = identifyContent(reader, inode.content)
      if (found !== null) report.scanned++
      hit = found ?? undefined
      seen.set(inode.content, hit)
    }
    if (hit) report.findings.push({path: `/${path}`, package: packageOf(inode), by: 'content', reason: hit.identifies, marker: hit.marker, kept})
  }
  return report
}

export interface Identified {
  marker: string
  identifies: string
}

/** What the content shows; undefined when it was read and is clean, null when it is neither ELF nor script. */
export function identifyContent(reader: ContentReader, content: ContentRef): Identified | undefined | null {
  const head = reader.head(content, 4)
  if (isElf(head)) return scanElf(reader, content)
  if (head[0] === 0x23 && head[1] === 0x21) return scanScript(reader.head(content, SCRIPT_HEAD).toString('latin1'))
  return null
}

/**
 * Looks for every marker in the file's data and string sections (dataRanges), chunk by chunk, without
 * holding the file whole: each chunk is searched on its own, and the seam between two chunks of a range
 * in a small buffer of the bytes either side.
 */
export function scanElf(reader: ContentReader, content: ContentRef): Identified | undefined {
  const found = new Set<string>()
  const hit = () => CONTENT_MARKERS.find((m) => found.has(m.marker) && (m.with === undefined || found.has(m.with)))
  for (const range of dataRanges(reader, content)) {
    let tail = Buffer.alloc(0)
    for (const chunk of reader.chunks(range)) {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      const seam = tail.length > 0 ? Buffer.concat([tail, bytes.subarray(0, MAX_MARKER - 1)]) : undefined
      for (const l of LITERALS) if (!found.has(l.text) && (bytes.includes(l.bytes) || seam?.includes(l.bytes))) found.add(l.text)
      const marker = hit()
      if (marker) return {marker: marker.with ? `${marker.marker}... ${marker.with}` : marker.marker, identifies: marker.identifies}
      tail = Buffer.from(bytes.subarray(Math.max(0, bytes.length - (MAX_MARKER - 1))))
    }
  }
  return undefined
}

const SHT_NULL = 0
const SHT_NOBITS = 8
const SHF_EXECINSTR = 4n


/**
 * Where an ELF file keeps its strings: every section but code (SHF_EXECINSTR) and NOBITS, merged into
 * ranges: .rodata, .data, .dynstr, .strtab, .symtab, .shstrtab (the section names), .comment, Go's
 * .gopclntab. Skipping code halves the bytes to search in a typical program. A file whose section
 * headers are absent (sstrip), out of bounds or not ELF64 little-endian is searched whole.
 */
export function dataRanges(reader: ContentReader, content: ContentRef): ContentRef[] {
  const whole = [content]
  const header = reader.head(content, 64)
  if (header.length < 64 || header[4] !== 2 || header[5] !== 1) return whole
  const shoff = Number(header.readBigUInt64LE(40))
  const shentsize = header.readUInt16LE(58)
  const shnum = header.readUInt16LE(60)
  if (shnum === 0 || shentsize < 64 || shoff + shnum * shentsize > content.size) return whole
  const table = reader.head(rangeOf(content, shoff, shnum * shentsize), shnum * shentsize)
  const sections: {start: number; end: number}[] = []
  for (let i = 0; i < shnum; i++) {
    const at = i * shentsize
    const type = table.readUInt32LE(at + 4)
    const flags = table.readBigUInt64LE(at + 8)
    const start = Number(table.readBigUInt64LE(at + 24))
    const size = Number(table.readBigUInt64LE(at + 32))
    if (type === SHT_NULL || type === SHT_NOBITS || (flags & SHF_EXECINSTR) !== 0n || size === 0) continue
    if (start + size > content.size) return whole
    sections.push({start, end: start + size})
  }
  sections.sort((a, b) => a.start - b.start)
  const merged: {start: number; end: number}[] = []
  for (const s of sections) {
    const last = merged.at(-1)
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end)
    else merged.push({...s})
  }
  return merged.map((r) => rangeOf(content, r.start, r.end - r.start))
}

/** A script runs a package manager when its shebang names one (directly or through env) or its first lines call one. */
export function scanScript(text: string): Identified | undefined {
  const shebang = text.slice(2, text.indexOf('\n') < 0 ? text.length : text.indexOf('\n')).trim()
  const words = shebang.split(/\s+/).filter(Boolean)
  const programOf = (word: string | undefined) => word?.slice(word.lastIndexOf('/') + 1) ?? ''
  let interpreter = programOf(words[0])
  if (interpreter === 'env') interpreter = programOf(words.slice(1).find((w) => !w.startsWith('-')))
  if (PACKAGE_MANAGER_INTERPRETERS.test(interpreter)) return {marker: `#!${shebang}`, identifies: `a script run by ${interpreter}, a package manager or build tool`}
  for (const {re, identifies} of SCRIPT_BODY_MARKERS) {
    const match = re.exec(text)
    if (match) return {marker: match[0].trim(), identifies: `a script that runs a package manager (${identifies})`}
  }
  return undefined
}
