// `test PROFILE`: build, then boot the outputs with the profile's test steps as console expectations.
import {join} from 'node:path'
import {writeFileAtomically} from '../store/atomic.js'
import {bootAndExpect, type AccelChoice, type BootResult} from '../qemu/index.js'
import {profileError} from '../errors.js'
import type {Profile} from '../profile/types.js'
import {tmpdir} from 'node:os'
import {makeOwnedFolder, removeOwnedFolder} from '../cleanup/owned-folder.js'
import {extractEifForBoot, NITRO_NOT_HERE} from '../image/eif-boot.js'
import {build, type BuildOptions, type BuildResult, checkKernelForOutputs, loadStage, WORK_FOLDER_PREFIX} from './pipeline.js'

export interface BootTestOptions extends BuildOptions {
  accel: AccelChoice
  /** Overrides the profile's test.timeout. */
  timeoutSeconds?: number
  junitFile?: string
  echo?: (chunk: string) => void
  /** The raw serial console; default CONSOLE_LOG_FILE in the out folder, beside the outputs. */
  logFile?: string
}

/** The console log's name in the out folder when no path is given. */
export const CONSOLE_LOG_FILE = 'console.log'

export interface BootTestResult {
  build: BuildResult
  boot: BootResult
  steps: {expect: string; passed: boolean; atSeconds?: number}[]
}

/**
 * `test` boots a kernel: a profile without kernel: is refused before the build, naming the outputs
 * that need one, or (when its outputs need none) saying that nothing of it boots.
 */
export function checkBootable(profile: Profile): void {
  checkKernelForOutputs(profile)
  if (!profile.kernel)
    throw profileError(
      `${profile.locate(['outputs'])}: test boots the image, and the profile has no kernel: section, so none of its outputs (${profile.outputs.join(', ')}) boots. ` +
        'Add kernel: {package: NAME} and a bootable output (kernel and initramfs, uki or disk), or use build or rootfs for a root tree only',
    )
}

export async function buildAndBootTest(options: BootTestOptions): Promise<BootTestResult> {
  checkBootable((await loadStage(options)).profile)
  const built = await build(options)
  const {profile} = built
  const steps = profile.test.steps.length > 0 ? profile.test.steps : [{expect: 'Run /init|Freeing unused kernel'}]
  const boot = await withBootMedium(built, options, async (medium) => bootAndExpect({
    ...medium,
    expect: steps.map((s) => s.expect),
    timeoutSeconds: options.timeoutSeconds ?? profile.test.timeout,
    accel: options.accel,
    logFile: options.logFile ?? join(options.outDir, CONSOLE_LOG_FILE),
    echo: options.echo,
  }))
  const seen = new Map(boot.seen.map((s) => [s.pattern, s.atSeconds]))
  const result: BootTestResult = {
    build: built,
    boot,
    steps: steps.map((s) => ({expect: s.expect, passed: seen.has(s.expect), atSeconds: seen.get(s.expect)})),
  }
  if (options.junitFile) await writeFileAtomically(options.junitFile, Buffer.from(junitXml(profile.name, result), 'utf8'))
  return result
}

/**
 * An EIF without a disk or UKI beside it: its own kernel, command line and ramdisks, taken out into a
 * folder of ours for the boot and removed after it (src/image/eif-boot.ts); else bootMediumOf.
 */
async function withBootMedium<T>(built: BuildResult, options: BootTestOptions, use: (medium: ReturnType<typeof bootMediumOf>) => Promise<T>): Promise<T> {
  const eif = built.outputs.find((o) => o.kind === 'eif')?.path
  if (!eif || built.outputs.some((o) => o.kind === 'disk' || o.kind === 'uki')) return use(bootMediumOf(built))
  options.progress?.(`boot: ${NITRO_NOT_HERE}`)
  const dir = await makeOwnedFolder(tmpdir(), WORK_FOLDER_PREFIX, 'EIF boot files')
  try {
    return await use(await extractEifForBoot(eif, dir))
  } finally {
    await removeOwnedFolder(dir)
  }
}

/**
 * What the test boots: the disk under OVMF when the profile writes one, else the UKI under OVMF,
 * else the kernel and initramfs directly.
 */
export function bootMediumOf(built: BuildResult): {disk?: string; uki?: string; kernel?: string; initrd?: string; append?: string} {
  const output = (kind: string) => built.outputs.find((o) => o.kind === kind)?.path
  const disk = output('disk')
  if (disk) return {disk}
  const uki = output('uki')
  if (uki) return {uki}
  return {kernel: output('kernel'), initrd: output('initramfs'), append: built.profile.cmdline}
}

const xmlEscape = (text: string) =>
  text.replace(/[<>&"']/g, (c) => ({'<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;'})[c]!)

export function junitXml(name: string, result: BootTestResult): string {
  const failures = result.steps.filter((s) => !s.passed).length
  const cases = result.steps.map((step, i) => {
    const head = `    <testcase classname="${xmlEscape(name)}" name="step ${i + 1}: expect ${xmlEscape(step.expect)}" time="${(step.atSeconds ?? result.boot.seconds).toFixed(3)}">`
    const failure = step.passed ? '' : `\n      <failure message="${xmlEscape(result.boot.reason)}" type="${result.boot.outcome}"/>`
    return `${head}${failure}\n    </testcase>`
  })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${result.steps.length}" failures="${failures}">`,
    `  <testsuite name="${xmlEscape(name)}" tests="${result.steps.length}" failures="${failures}" time="${result.boot.seconds.toFixed(3)}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}
