// `test PROFILE`: build, then boot every bootable output the profile writes (disk and UKI under
// OVMF, kernel + initramfs directly), each with the profile's test steps, several at once (--jobs).
// Each run has its own run folder, OVMF variable store, disk snapshot, console log and deadline.
import {basename, extname, join} from 'node:path'
import {tmpdir} from 'node:os'
import {writeFileAtomically} from '../store/atomic.js'
import {bootAndExpect, type AccelChoice, type BootResult, type ConsoleStep} from '../qemu/index.js'
import {profileError, usageError} from '../errors.js'
import type {Profile} from '../profile/types.js'
import {makeOwnedFolder, removeOwnedFolder} from '../cleanup/owned-folder.js'
import {extractEifForBoot, NITRO_NOT_HERE} from '../image/eif-boot.js'
import {junitXml} from './junit.js'
import {build, type BuildOptions, type BuildResult, checkKernelForOutputs, loadStage, WORK_FOLDER_PREFIX} from './pipeline.js'
import {runLimited} from './run-limited.js'

export interface BootTestOptions extends BuildOptions {
  accel: AccelChoice
  /** Overrides the profile's test.timeout. */
  timeoutSeconds?: number
  junitFile?: string
  echo?: (chunk: string) => void
  /** The raw serial console; default CONSOLE_LOG_FILE in the out folder (one per output when there are several). */
  logFile?: string
  /** Boots at once (default 1). */
  jobs?: number
  /** Keep every run folder (failed runs keep theirs anyway). */
  keep?: boolean
  /** Firmware for the outputs that boot through firmware (disk, UKI, ISO); default uefi. A UKI is skipped under bios. */
  firmware?: 'uefi' | 'bios'
  /** Boot the ISO output as optical media (default: as a disk, like a USB stick). */
  cdrom?: boolean
  /** OVMF with Secure Boot enforced for the firmware-booted outputs (src/qemu/firmware.ts). */
  secureBoot?: boolean
  /** OVMF files instead of the installed ones (both or neither), e.g. a variable store with your own db certificate. */
  firmwareCode?: string
  firmwareVars?: string
  /** Boot the ISO every way it boots (BIOS and UEFI, as a CD-ROM and as a disk) rather than once; excludes firmware and cdrom. */
  allWays?: boolean
}

/** The console log's name in the out folder when no path is given. */
export const CONSOLE_LOG_FILE = 'console.log'

/** The steps when the profile names none: the kernel reached userspace. */
const DEFAULT_STEPS: ConsoleStep[] = [{expect: 'Run /init|Freeing unused kernel'}]

export type BootTestOutcome = 'passed' | 'failed' | 'timeout'

export interface OutputRun {
  /** The output booted: disk, uki, iso, initramfs (kernel + initramfs). */
  output: string
  /** How a firmware-booted output was started ("uefi, as a disk"), for the result line. */
  via?: string
  boot: BootResult
}

export interface BootTestResult {
  build: BuildResult
  outcome: BootTestOutcome
  runs: OutputRun[]
}

/** A medium bootAndExpect takes, with whatever must be undone after the boot. */
type Medium = {disk?: string; uki?: string; kernel?: string; initrd?: string; append?: string}
interface BootTarget {
  /** The output kind booted: disk, uki, iso, initramfs, eif. */
  kind: string
  /** The run's name (logs, result lines, JUnit): the kind, or "iso-bios-cdrom" and so on with --all-ways. */
  output: string
  prepare: () => Promise<{medium: Medium; done?: () => Promise<void>}>
}

/** Outputs QEMU boots through firmware (the rest boot directly): --firmware, --secure-boot and --cdrom apply to these. */
const FIRMWARE_BOOTED = new Set(['disk', 'uki', 'iso'])

type FirmwareSettings = {firmware?: 'uefi' | 'bios'; secureBoot?: boolean; cdrom?: boolean; firmwareCode?: string; firmwareVars?: string}

/**
 * --all-ways: the ISO under each firmware, from a CD-ROM and as a disk (a BIOS-only one, iso.uefi
 * false, under SeaBIOS only), each a run of its own ("iso-bios-cdrom", ...). UEFI runs take
 * --secure-boot and the OVMF files. Other outputs boot the one way they boot.
 */
function isoWays(target: BootTarget, options: BootTestOptions, uefiToo: boolean): (BootTarget & {settings: FirmwareSettings})[] {
  const ways: [firmware: 'uefi' | 'bios', cdrom: boolean][] = [['uefi', false], ['uefi', true], ['bios', false], ['bios', true]]
  return ways
    .filter(([firmware]) => uefiToo || firmware === 'bios')
    .map(([firmware, cdrom]) => ({
      ...target,
      output: `${target.kind}-${firmware}-${cdrom ? 'cdrom' : 'disk'}`,
      settings: {
        firmware,
        cdrom,
        ...(firmware === 'uefi' && {secureBoot: options.secureBoot, firmwareCode: options.firmwareCode, firmwareVars: options.firmwareVars}),
      },
    }))
}

/** The firmware settings of one run, or why the output is not booted under them. */
function firmwareFor(kind: string, options: BootTestOptions): FirmwareSettings | {skip: string} {
  if (!FIRMWARE_BOOTED.has(kind)) return {}
  if (kind === 'uki' && options.firmware === 'bios') return {skip: 'a UKI is an EFI program and does not boot under --firmware bios'}
  const ovmf = options.firmware === 'bios' ? {} : {firmwareCode: options.firmwareCode, firmwareVars: options.firmwareVars}
  return {firmware: options.firmware, secureBoot: options.secureBoot, cdrom: kind === 'iso' ? options.cdrom : undefined, ...ovmf}
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

/** Every output of the build that boots, in a fixed order: disk, UKI, then kernel + initramfs. */
export function bootTargetsOf(built: BuildResult, progress?: (message: string) => void): BootTarget[] {
  const output = (kind: string) => built.outputs.find((o) => o.kind === kind)?.path
  const ready = (medium: Medium) => async () => ({medium})
  const targets: BootTarget[] = []
  const disk = output('disk') ?? output('qcow2')
  if (disk) targets.push({kind: 'disk', output: 'disk', prepare: ready({disk})})
  const uki = output('uki')
  if (uki) targets.push({kind: 'uki', output: 'uki', prepare: ready({uki})})
  // The ISO boots as the disk image it also is (a USB stick), or as optical media with --cdrom.
  const iso = output('iso')
  if (iso) targets.push({kind: 'iso', output: 'iso', prepare: ready({disk: iso})})
  const kernel = output('kernel')
  const initrd = output('initramfs')
  if (kernel && initrd) targets.push({kind: 'initramfs', output: 'initramfs', prepare: ready({kernel, initrd, append: built.profile.cmdline})})
  const eif = output('eif')
  if (eif) targets.push({kind: 'eif', output: 'eif', prepare: () => eifMedium(eif, progress)})
  return targets
}

/** An EIF's own kernel, command line and ramdisks, taken out into a folder of ours for the boot (src/image/eif-boot.ts). */
async function eifMedium(eif: string, progress?: (message: string) => void): Promise<{medium: Medium; done: () => Promise<void>}> {
  progress?.(`boot: ${NITRO_NOT_HERE}`)
  const dir = await makeOwnedFolder(tmpdir(), WORK_FOLDER_PREFIX, 'EIF boot files')
  try {
    return {medium: await extractEifForBoot(eif, dir), done: () => removeOwnedFolder(dir)}
  } catch (error) {
    await removeOwnedFolder(dir)
    throw error
  }
}

/** "uefi, as a disk" / "bios, as a cdrom" / "uefi secure boot, as a disk": how a firmware-booted output started. */
function viaOf(kind: string, settings: FirmwareSettings): string | undefined {
  if (!FIRMWARE_BOOTED.has(kind)) return undefined
  const firmware = `${settings.firmware ?? 'uefi'}${settings.secureBoot ? ' secure boot' : ''}`
  return kind === 'iso' ? `${firmware}, as ${settings.cdrom ? 'a cdrom' : 'a disk'}` : firmware
}

/** console.log for one run; console-<output>.log beside it when several outputs boot. */
function logFileFor(options: BootTestOptions, output: string, several: boolean): string {
  const file = options.logFile ?? join(options.outDir, CONSOLE_LOG_FILE)
  if (!several) return file
  const ext = extname(file)
  return join(file.slice(0, file.length - basename(file).length), `${basename(file, ext)}-${output}${ext}`)
}

export const outcomeOf = (runs: OutputRun[]): BootTestOutcome =>
  runs.some((r) => r.boot.outcome === 'failed' || r.boot.outcome === 'panic') ? 'failed' : runs.some((r) => r.boot.outcome === 'timeout') ? 'timeout' : 'passed'

export async function buildAndBootTest(options: BootTestOptions): Promise<BootTestResult> {
  const loaded = (await loadStage(options)).profile
  checkBootable(loaded)
  const built = await build(options)
  const {profile} = built
  const targets = bootTargetsOf(built, options.progress)
  if (targets.length === 0)
    throw profileError(`${loaded.locate(['outputs'])}: none of the outputs (${loaded.outputs.join(', ')}) boots: add disk, uki, or kernel and initramfs`)
  const steps = profile.test.steps.length > 0 ? profile.test.steps : DEFAULT_STEPS
  if (options.allWays && (options.firmware || options.cdrom))
    throw usageError('--all-ways boots the ISO under both firmwares, from a CD-ROM and as a disk: leave out --firmware and --cdrom')
  const booted: (BootTarget & {settings: FirmwareSettings})[] = []
  for (const target of targets) {
    if (options.allWays && target.kind === 'iso') {
      booted.push(...isoWays(target, options, loaded.iso.uefi))
      continue
    }
    const settings = firmwareFor(target.kind, options)
    if ('skip' in settings) options.progress?.(`boot: ${target.output} skipped: ${settings.skip}`)
    else booted.push({...target, settings})
  }
  if (booted.length === 0) throw profileError(`${loaded.locate(['outputs'])}: none of the outputs (${loaded.outputs.join(', ')}) boots under --firmware ${options.firmware}`)
  // A signed UKI boots without Secure Boot too; say how to make the test check the signature.
  if (loaded.boot.secureBoot && !options.secureBoot && booted.some((t) => FIRMWARE_BOOTED.has(t.kind)) && options.firmware !== 'bios')
    options.progress?.('boot: the UKI is signed (boot.secureBoot); --secure-boot boots it with Secure Boot enforced, so the firmware checks the signature')
  const runs = await runLimited(booted, options.jobs ?? 1, async (target): Promise<OutputRun> => {
    const {medium, done} = await target.prepare()
    try {
      options.progress?.(`boot: ${target.output}`)
      const boot = await bootAndExpect({
        ...medium,
        ...target.settings,
        expect: [],
        steps,
        failOn: profile.test.failOn,
        timeoutSeconds: options.timeoutSeconds ?? profile.test.timeout,
        accel: options.accel,
        logFile: logFileFor(options, target.output, booted.length > 1),
        // Several consoles at once would interleave on one terminal.
        echo: booted.length > 1 && (options.jobs ?? 1) > 1 ? undefined : options.echo,
        keepRunFolder: options.keep ? 'always' : 'on-failure',
      })
      return {output: target.output, boot, via: viaOf(target.kind, target.settings)}
    } finally {
      await done?.()
    }
  })
  const result: BootTestResult = {build: built, outcome: outcomeOf(runs), runs}
  if (options.junitFile) {
    const xml = junitXml(
      profile.name,
      runs.map((r) => ({output: r.output, seconds: r.boot.seconds, reason: r.boot.reason, steps: r.boot.steps, consoleTail: r.boot.consoleTail, runFolder: r.boot.runFolder})),
    )
    await writeFileAtomically(options.junitFile, Buffer.from(xml, 'utf8'))
  }
  return result
}
