// `rootfs PROFILE --out FILE.tar` and `check PROFILE`: the stages up to the kernel, then a tar
// of it, or the checks on it (kernel config, ELF closure, no compilers), with no other output.
import {mkdir} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'
import {writeRootfsTar} from '../image/rootfs-tar.js'
import {describeValue} from '../kernel/kconfig.js'
import {checkElfClosure, type ClosureProblem} from '../rootfs/elf-closure.js'
import {DEFAULT_PRUNE_RULES} from '../rootfs/prune.js'
import {sortedPaths} from '../rootfs/tree.js'
import {kernelMismatchError, type PipelineOptions, prepareRoot, withWorkFolder} from './pipeline.js'

export interface RootfsTarResult {
  profile: string
  path: string
  sha256: string
  size: number
  entries: number
  treeSha256: string
}

/** The stages up to the kernel, then the shaped tree as a deterministic tar. */
export async function buildRootfsTar(options: PipelineOptions & {outFile: string}): Promise<RootfsTarResult> {
  return withWorkFolder(async (work) => {
    const root = await prepareRoot(options, work)
    try {
      const outPath = resolve(options.outFile)
      await mkdir(dirname(outPath), {recursive: true})
      options.progress?.('rootfs: writing the tar')
      const written = await writeRootfsTar(root.shaped.tree, root.loaded.sourceDateEpoch, outPath)
      return {
        profile: root.loaded.profile.name,
        path: outPath,
        sha256: written.sha256,
        size: written.size,
        entries: written.entries,
        treeSha256: root.shaped.sha256,
      }
    } finally {
      root.reader.close()
    }
  })
}

export interface CheckResult {
  profile: string
  passed: boolean
  kernel: {package: string; required: number; mismatches: {option: string; required: string; actual: string; line: number}[]}
  elf: {files: number; dynamic: number; problems: ClosureProblem[]}
  compilers: {path: string; reason: string}[]
}

/** Runs every check; the caller decides the exit code from `passed` (kernel problems are the profile's). */
export async function checkProfile(options: PipelineOptions): Promise<CheckResult> {
  return withWorkFolder(async (work) => {
    const root = await prepareRoot(options, work)
    try {
      const tree = root.shaped.tree
      options.progress?.('check: ELF closure and compilers')
      const elf = checkElfClosure(tree, root.reader)
      const compilers = sortedPaths(tree).flatMap((path) => {
        const rule = DEFAULT_PRUNE_RULES.find((r) => r.matches(path))
        return rule ? [{path: `/${path}`, reason: rule.reason}] : []
      })
      const mismatches = root.kernel.check.mismatches.map((m) => ({
        option: m.requirement.option,
        required: describeValue(m.requirement.value),
        actual: describeValue(m.actual),
        line: m.requirement.line,
      }))
      if (mismatches.length > 0) options.progress?.(kernelMismatchError(root.loaded.profile, root.kernel).message)
      return {
        profile: root.loaded.profile.name,
        passed: mismatches.length === 0 && elf.problems.length === 0 && compilers.length === 0,
        kernel: {package: root.kernel.package.request.name, required: root.kernel.check.required, mismatches},
        elf: {files: elf.elfFiles, dynamic: elf.dynamic, problems: elf.problems},
        compilers,
      }
    } finally {
      root.reader.close()
    }
  })
}
