// `rootfs PROFILE --out FILE.tar` and `check PROFILE`: the stages up to the shaped tree, then a tar
// of it, or the checks on it (kernel config, ELF closure, no compilers), with no other output.
import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {writeRootfsTar} from '../image/rootfs-tar.js'
import {describeValue} from '../kernel/kconfig.js'
import {checkElfClosure, type ClosureProblem} from '../rootfs/elf-closure.js'
import {DEFAULT_PRUNE_RULES} from '../rootfs/prune.js'
import {treeDigest} from '../rootfs/digest.js'
import {sortedPaths} from '../rootfs/tree.js'
import {type BuildOptions, kernelMismatchError, prepareRoot} from './pipeline.js'

export interface RootfsTarResult {
  profile: string
  path: string
  sha256: string
  size: number
  entries: number
  treeSha256: string
}

export async function buildRootfsTar(options: Omit<BuildOptions, 'outDir'> & {outFile: string}): Promise<RootfsTarResult> {
  const work = await mkdtemp(join(tmpdir(), 'stagex-image-'))
  try {
    const root = await prepareRoot(options, work)
    const outPath = resolve(options.outFile)
    await mkdir(dirname(outPath), {recursive: true})
    options.progress?.('rootfs: writing the tar')
    const written = await writeRootfsTar(root.tree, root.sourceDateEpoch, outPath)
    return {
      profile: root.profile.name,
      path: outPath,
      sha256: written.sha256,
      size: written.size,
      entries: written.entries,
      treeSha256: treeDigest(root.tree, root.sourceDateEpoch),
    }
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}

export interface CheckResult {
  profile: string
  passed: boolean
  kernel: {package: string; required: number; mismatches: {option: string; required: string; actual: string; line: number}[]}
  elf: {files: number; dynamic: number; problems: ClosureProblem[]}
  compilers: {path: string; reason: string}[]
}

/** Runs every check; the caller decides the exit code from `passed` (kernel problems are the profile's). */
export async function checkProfile(options: Omit<BuildOptions, 'outDir'>): Promise<CheckResult> {
  const work = await mkdtemp(join(tmpdir(), 'stagex-image-'))
  try {
    const root = await prepareRoot(options, work)
    options.progress?.('check: ELF closure and compilers')
    const elf = await checkElfClosure(root.tree)
    const compilers = sortedPaths(root.tree).flatMap((path) => {
      const rule = DEFAULT_PRUNE_RULES.find((r) => r.matches(path))
      return rule ? [{path: `/${path}`, reason: rule.reason}] : []
    })
    const mismatches = root.kernelCheck.mismatches.map((m) => ({
      option: m.requirement.option,
      required: describeValue(m.requirement.value),
      actual: describeValue(m.actual),
      line: m.requirement.line,
    }))
    if (mismatches.length > 0) options.progress?.(kernelMismatchError(root).message)
    return {
      profile: root.profile.name,
      passed: mismatches.length === 0 && elf.problems.length === 0 && compilers.length === 0,
      kernel: {package: root.kernelPackage.request.name, required: root.kernelCheck.required, mismatches},
      elf: {files: elf.elfFiles, dynamic: elf.dynamic, problems: elf.problems},
      compilers,
    }
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}
