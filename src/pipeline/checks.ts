// The checks on the shaped tree that every build runs (and `check` reports): the ELF closure and the
// no-compiler check. `build` refuses an image that fails either (exit 4) before it writes anything;
// the build record keeps what the checks saw: the profile's keep: and allowMissing: exceptions used.
import {badInputError} from '../errors.js'
import type {Profile} from '../profile/types.js'
import {checkElfClosure, type ClosureReport, type ImageTree, providersOf} from '../rootfs/elf-closure.js'
import {flattenInto} from '../rootfs/flatten.js'
import {checkNoCompiler, type NoCompilerReport} from '../rootfs/no-compiler.js'
import {type Kept, packageOf, pruneRuleFor, resolveKeep} from '../rootfs/prune.js'
import {createTree, type Tree} from '../rootfs/tree.js'
import {openContentReader} from '../store/spool.js'
import type {PreparedRoot} from './pipeline.js'

export interface Checks {
  passed: boolean
  elf: ClosureReport
  compilers: NoCompilerReport
  /** The profile's keep: paths, each with the rule that would have removed it. */
  kept: Kept[]
}

/** What build.json keeps of the checks (a build that has it passed them). */
export interface RecordedChecks {
  elf: {files: number; dynamic: number; allowedMissing: {path: string; missing?: string}[]}
  noCompiler: {scanned: number}
  kept: Kept[]
}

type CheckInput = Pick<PreparedRoot, 'loaded' | 'fetched' | 'shaped' | 'spool' | 'reader'>

/** Runs both checks on the shaped tree; a missing file's problem names the image that has it. */
export async function checkStage(root: CheckInput): Promise<Checks> {
  const {profile} = root.loaded
  const tree = root.shaped.tree
  const keep = resolveKeep(tree, profile.keep ?? [], (i) => profile.locate(['keep', i]))
  const elf = checkElfClosure(tree, root.reader, {allowMissing: profile.allowMissing ?? []})
  // Only on failure: each fetched image flattened on its own, to say which one holds what is missing.
  if (elf.problems.some((p) => p.searched)) providersOf(elf.problems, tree, await imageTrees(root), root.shaped.report.pruned)
  // The content scan reads every file's data once and keeps nothing of it: into one buffer.
  const scanReader = openContentReader({transientChunks: true})
  let compilers
  try {
    compilers = checkNoCompiler(tree, scanReader, {keep: keep.map((k) => k.path)})
  } finally {
    scanReader.close()
  }
  return {passed: elf.problems.length === 0 && compilers.findings.length === 0, elf, compilers, kept: keptOf(tree, keep)}
}

/** The profile's keep: paths in the shaped tree, each with the rule that would have removed it. */
export function keptOf(tree: Tree, keep: readonly {path: string; keep: string}[]): Kept[] {
  return keep.map((k) => ({path: `/${k.path}`, keep: k.keep, reason: pruneRuleFor(k.path)?.reason, package: packageOf(tree.entries.get(k.path))}))
}

async function imageTrees(root: CheckInput): Promise<ImageTree[]> {
  const trees: ImageTree[] = []
  for (const image of root.fetched.images) {
    const tree = createTree()
    await flattenInto(tree, [{name: image.request.name, layers: image.layers}], root.spool)
    trees.push({name: image.request.name, role: image.request.role, tree})
  }
  return trees
}

/** One line per problem: the path, its package, and why. */
export function describeChecks(checks: Checks): string[] {
  return [
    ...checks.elf.problems.map((p) => `${p.path} (${p.package}): ${p.problem}`),
    ...checks.compilers.findings.map(
      (f) =>
        `${f.path} (${f.package}): ${f.reason}` +
        (f.by === 'content' ? ` (its content has "${f.marker}")` : ' (by its name; prune: default removes it)') +
        (f.kept ? '; keep: lists it, but a compiler or package manager is refused even when kept' : ''),
    ),
  ]
}

/** The failures of `checks` as one error (exit 4: the image is unsafe, not the profile malformed). */
export function checksError(profile: Profile, checks: Checks) {
  const failed = [checks.elf.problems.length > 0 && 'the ELF closure check', checks.compilers.findings.length > 0 && 'the no-compiler check'].filter(Boolean)
  const hint = checks.elf.problems.length > 0 ? '\nAdd the package that provides a missing file, or list the name in allowMissing: if the guest does without it.' : ''
  return badInputError(`${profile.name} fails ${failed.join(' and ')}:\n${describeChecks(checks).map((l) => `  ${l}`).join('\n')}${hint}`, {
    elf: checks.elf.problems,
    compilers: checks.compilers.findings,
  })
}

export function recordedChecks(checks: Checks): RecordedChecks {
  return {
    elf: {files: checks.elf.elfFiles, dynamic: checks.elf.dynamic, allowedMissing: checks.elf.allowed.map((p) => ({path: p.path, missing: p.missing}))},
    noCompiler: {scanned: checks.compilers.scanned},
    kept: checks.kept,
  }
}
