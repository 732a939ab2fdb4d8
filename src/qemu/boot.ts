// bootAndExpect: one boot test. Checks the request, picks the accelerator and firmware, boots
// under QEMU with a deadline, watches the serial console, and returns what happened.
import {createWriteStream, type WriteStream} from 'node:fs'
import {copyFile, mkdir, open, rm} from 'node:fs/promises'
import {performance} from 'node:perf_hooks'
import {unregisterPath} from '../cleanup/interrupt.js'
import {sweepLeftovers} from '../cleanup/leftovers.js'
import {makeOwnedFolder, removeOwnedFolder} from '../cleanup/owned-folder.js'
import {OWNER_FILE} from '../cleanup/owner.js'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {describeFile, describeKind, type FileKind, INITRD_KINDS, isIso9660, OUTPUT_SNIFF_BYTES, SNIFF_BYTES} from '../formats/sniff.js'
import {StagexError} from '../errors.js'
import {chooseAccel} from './accel.js'
import {buildQemuArgv, DEFAULT_MEMORY_MIB, directBootAppend, type BootMedium, type QemuPlan} from './command-line.js'
import {copyVarsTemplate, findOvmf, OVMF_CANDIDATES, SECURE_BOOT_OVMF_CANDIDATES} from './firmware.js'
import {defaultQemuBinary, runQemu, type StopRequest} from './run.js'
import {consoleText} from './serial-expect.js'
import {ConsoleSession, DEFAULT_FAIL_ON, type SessionEnd} from './console-session.js'
import {checkPatterns} from './pattern-matcher.js'
import {followSeabiosLog} from './seabios-log.js'
import type {BootOptions, BootOutcome, BootResult, ConsoleStep, FirmwareMode} from './types.js'


/** TMPDIR/stagex-boot-*: one folder per QEMU run (ESP, OVMF variables, SeaBIOS's log, the console log when not kept elsewhere). */
const RUN_FOLDER_PREFIX = 'stagex-boot-'
/** SeaBIOS's own messages (its debug console), in the run folder: kept with it when a run fails. */
const BIOS_LOG_FILE = 'seabios.log'

/** What the request asks to boot, once checked. */
type BootTarget =
  | {kind: 'kernel'; kernel: string; initrd?: string}
  | {kind: 'disk'; disk: string}
  | {kind: 'cdrom'; image: string}
  | {kind: 'uki'; uki: string}

async function readHead(path: string, what: string, bytes: number): Promise<Buffer> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    throw new StagexError('usage', `${what} not readable: ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  }
  try {
    const head = Buffer.alloc(bytes)
    const {bytesRead} = await handle.read(head, 0, bytes, 0)
    return head.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

async function checkTarget(options: BootOptions): Promise<BootTarget> {
  const given = [options.kernel && '--kernel', options.disk && 'a disk', options.uki && 'a UKI'].filter(Boolean)
  if (given.length !== 1)
    throw new StagexError('usage', given.length === 0 ? 'nothing to boot: give a disk image, a UKI, or --kernel' : `give only one of ${given.join(', ')}`)
  if (!options.kernel && (options.initrd || options.append))
    throw new StagexError('usage', '--initrd and --append go with --kernel (a disk or UKI carries its own)')
  if (options.cdrom && !options.disk)
    throw new StagexError('usage', `--cdrom attaches an ISO image as optical media; ${options.kernel ? 'a kernel boots directly' : 'a UKI is put on a FAT disk'}, so give an ISO instead`)
  if (!(options.timeoutSeconds > 0)) throw new StagexError('usage', `--timeout must be a positive number of seconds, got ${options.timeoutSeconds}`)
  if (options.memoryMiB !== undefined && !(Number.isInteger(options.memoryMiB) && options.memoryMiB >= 64))
    throw new StagexError('usage', `--memory must be a whole number of MiB, at least 64; got ${options.memoryMiB}`)

  // Refused at once, saying what the file looks like, rather than left to time out in the firmware.
  const kindOf = async (path: string, what: string) => describeFile(await readHead(path, what, SNIFF_BYTES))
  const refuse = (path: string, kind: FileKind, wanted: string) =>
    new StagexError('bad-input', `${path} is not ${wanted}: it looks like ${describeKind(kind)}`)
  if (options.kernel) {
    const kernelKind = await kindOf(options.kernel, 'kernel')
    if (kernelKind !== 'linux-kernel') throw refuse(options.kernel, kernelKind, 'a Linux kernel (no bzImage boot header)')
    if (options.initrd) {
      const initrdKind = await kindOf(options.initrd, 'initrd')
      if (!INITRD_KINDS.includes(initrdKind)) throw refuse(options.initrd, initrdKind, 'an initramfs (a cpio archive, plain or compressed)')
    }
    return {kind: 'kernel', kernel: resolve(options.kernel), initrd: options.initrd && resolve(options.initrd)}
  }
  if (options.uki) {
    const ukiKind = await kindOf(options.uki, 'UKI')
    if (ukiKind !== 'pe' && ukiKind !== 'linux-kernel') throw refuse(options.uki, ukiKind, 'a PE file, so not a UKI')
    return {kind: 'uki', uki: resolve(options.uki)}
  }
  if (options.cdrom) {
    // Optical media is read by its volume descriptors, not its MBR: an ISO without isohybrid boots too.
    const head = await readHead(options.disk!, 'ISO image', OUTPUT_SNIFF_BYTES)
    if (!isIso9660(head)) throw refuse(options.disk!, describeFile(head.subarray(0, SNIFF_BYTES)), 'an ISO 9660 image (no CD001 volume descriptor at byte 32768)')
    return {kind: 'cdrom', image: resolve(options.disk!)}
  }
  const diskKind = await kindOf(options.disk!, 'disk image')
  if (diskKind !== 'disk' && diskKind !== 'qcow2') throw refuse(options.disk!, diskKind, 'a disk image (no MBR or GPT)')
  return {kind: 'disk', disk: resolve(options.disk!)}
}

/** A boot image given by path alone: a PE file ("MZ") is a UKI, anything else a disk image (checked when booted). */
export async function classifyBootImage(path: string): Promise<'uki' | 'disk'> {
  const kind = describeFile(await readHead(path, 'boot image', SNIFF_BYTES))
  return kind === 'pe' || kind === 'linux-kernel' ? 'uki' : 'disk'
}

const isQcow2 = (head: Buffer): boolean => head.length >= 4 && head.readUInt32BE(0) === 0x514649fb // "QFI\xfb"

/** Lays out the medium QEMU boots from, creating any scratch files under runDir. */
async function prepareMedium(target: BootTarget, options: BootOptions, runDir: string): Promise<BootMedium> {
  switch (target.kind) {
    case 'kernel':
      return {kind: 'direct', kernel: target.kernel, initrd: target.initrd, append: directBootAppend(options.append)}
    case 'disk':
      return {kind: 'disk', disk: target.disk, format: isQcow2(await readHead(target.disk, 'disk image', 4)) ? 'qcow2' : 'raw'}
    case 'cdrom':
      return {kind: 'cdrom', image: target.image}
    case 'uki': {
      // The removable-media path: OVMF boots EFI/BOOT/BOOTX64.EFI from any FAT disk without boot entries.
      const esp = join(runDir, 'esp')
      await mkdir(join(esp, 'EFI', 'BOOT'), {recursive: true})
      await copyFile(target.uki, join(esp, 'EFI', 'BOOT', 'BOOTX64.EFI'))
      return {kind: 'fat-dir', dir: esp}
    }
  }
}

/** A console escape sequence may be split between two reads; hold back an unfinished one. */
const COMPLETE_ESCAPE = /^\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])/
function splitUnfinishedEscape(text: string): [ready: string, carry: string] {
  const at = text.lastIndexOf('\x1b')
  if (at === -1 || text.length - at > 64 || COMPLETE_ESCAPE.test(text.slice(at))) return [text, '']
  return [text.slice(0, at), text.slice(at)]
}

async function openLog(path: string): Promise<WriteStream> {
  const stream = createWriteStream(path)
  await new Promise<void>((ok, fail) => {
    stream.once('open', () => ok())
    stream.once('error', (error) => fail(new StagexError('usage', `cannot write the console log ${path}: ${error.message}`)))
  })
  return stream
}

const closeLog = (stream: WriteStream): Promise<void> => new Promise((ok) => stream.end(() => ok()))

const round = (seconds: number): number => Math.round(seconds * 100) / 100

/** The steps a request runs: its own, or one expect step per --expect pattern. */
const stepsOf = (options: BootOptions): ConsoleStep[] => options.steps ?? options.expect.map((expect) => ({expect}))

function checkSteps(steps: ConsoleStep[], failOn: string[]): void {
  checkPatterns(steps.flatMap((s) => ('expect' in s ? [s.expect] : [])), '--expect')
  checkPatterns(failOn, '--fail-on')
  for (const step of steps)
    if ('expect' in step && step.timeout !== undefined && !(step.timeout > 0))
      throw new StagexError('usage', `expect /${step.expect}/: timeout must be a positive number of seconds, got ${step.timeout}`)
}

/** One sentence for the result: the session's end, with the warnings that may explain it. */
function reasonOf(end: SessionEnd, steps: ConsoleStep[], warnings: string[]): string {
  const base =
    end.outcome === 'passed'
      ? `all ${steps.length} step(s) passed within ${round(end.atSeconds)}s`
      : end.reason
  return warnings.length > 0 && end.outcome !== 'passed' ? `${base} (${warnings[0]})` : base
}

/** The firmware a request boots with, once it fits the target. */
function checkFirmware(target: BootTarget, options: BootOptions): FirmwareMode {
  const firmware = options.firmware ?? (target.kind === 'kernel' ? 'direct' : 'uefi')
  const what = {kernel: 'a kernel', disk: 'a disk', cdrom: 'an ISO', uki: 'a UKI'}[target.kind]
  if (firmware === 'direct' && target.kind !== 'kernel')
    throw new StagexError('usage', `${what} needs firmware (--firmware uefi or bios); direct boot is for --kernel`)
  if (firmware === 'bios' && target.kind === 'uki') throw new StagexError('usage', 'a UKI is an EFI program: it boots under --firmware uefi, not bios')
  if (firmware === 'bios' && target.kind === 'kernel') throw new StagexError('usage', '--kernel boots directly (--firmware direct); give a disk or ISO for bios')
  if (options.secureBoot && firmware !== 'uefi')
    throw new StagexError('usage', `--secure-boot is OVMF's Secure Boot: it needs --firmware uefi, not ${firmware}`)
  return firmware
}

/** A console line by which the firmware says it gave up, and what that means in words. */
interface FirmwareFailure {
  pattern: string
  means: (secureBoot: boolean) => string
}

/**
 * Console lines that end a run at once whatever the guest's own fail-on patterns are: the firmware
 * crashed, refused the boot image (Secure Boot) or found nothing to start, after which it would only
 * sit in its menu or shell until the deadline. (SeaBIOS says so on its own log: seabios-log.ts.)
 */
export const FIRMWARE_FAILURES: Record<FirmwareMode, readonly FirmwareFailure[]> = {
  uefi: [
    {pattern: 'X64 Exception Type', means: () => 'the firmware or the EFI program it started crashed'},
    {
      pattern: 'BdsDxe: failed to (?:load|start) Boot[0-9A-F]{4} .*: (?:Access Denied|Security Violation)',
      means: (secureBoot) =>
        secureBoot ? 'the firmware refused the boot image under Secure Boot (not signed by a key in its db, or changed after signing)' : 'the firmware refused the boot image',
    },
    {pattern: 'BdsDxe: No bootable option or device was found', means: () => 'the firmware found nothing to boot'},
    // Every boot option before it failed (nothing on the medium OVMF can start): the shell would wait at its prompt.
    {
      pattern: 'BdsDxe: (?:loading|starting) Boot[0-9A-F]{4} "EFI Internal Shell"',
      means: () => 'the firmware found nothing it could start on the medium (no EFI/BOOT/BOOTX64.EFI, or it failed) and fell back to its shell',
    },
  ],
  bios: [],
  direct: [],
}

/** What the fail-on line means when it is one of the firmware's (FIRMWARE_FAILURES), else undefined. */
function firmwareFailure(firmware: FirmwareMode, line: string, secureBoot: boolean): string | undefined {
  return FIRMWARE_FAILURES[firmware].find((failure) => new RegExp(failure.pattern).test(line))?.means(secureBoot)
}

export async function bootAndExpect(options: BootOptions): Promise<BootResult> {
  const target = await checkTarget(options)
  const firmware = checkFirmware(target, options)
  const steps = stepsOf(options)
  const failOn = [...(options.failOn ?? DEFAULT_FAIL_ON), ...FIRMWARE_FAILURES[firmware].map((failure) => failure.pattern)]
  // Compiling the patterns now turns a bad regex into a usage error before anything starts.
  checkSteps(steps, failOn)
  const qemuBinary = options.qemuBinary ?? defaultQemuBinary()
  const ovmf =
    firmware === 'uefi'
      ? await findOvmf({code: options.firmwareCode, vars: options.firmwareVars}, options.secureBoot ? SECURE_BOOT_OVMF_CANDIDATES : OVMF_CANDIDATES)
      : undefined
  const accel = await chooseAccel(options.accel, target.kind === 'kernel' ? target.kernel : undefined, qemuBinary)

  // Without a path the console goes to console.log in the run folder, removed with it when the run
  // ends (or is interrupted): a boot never leaves a log behind in the temp directory.
  let runDir: string | undefined
  let log: WriteStream | undefined
  let keep = false
  try {
    // What a killed run (SIGKILL: QEMU died with it, by pdeathsig) left here goes first.
    sweepLeftovers({dir: tmpdir(), kind: 'marked-folders', prefixes: [RUN_FOLDER_PREFIX], what: 'QEMU run folder'})
    runDir = await makeOwnedFolder(tmpdir(), RUN_FOLDER_PREFIX, 'QEMU run folder')
    const keptLog = options.logFile === undefined ? null : resolve(options.logFile)
    const logFile = keptLog ?? join(runDir, 'console.log')
    log = await openLog(logFile)
    const plan: QemuPlan = {
      accel: accel.accel,
      memoryMiB: options.memoryMiB ?? DEFAULT_MEMORY_MIB,
      medium: await prepareMedium(target, options, runDir),
      uefi: ovmf && {code: ovmf.code, varsCopy: await copyVarsTemplate(ovmf, runDir), secureBoot: options.secureBoot},
      debugExit: true,
      biosLog: firmware === 'bios' ? join(runDir, BIOS_LOG_FILE) : undefined,
    }
    const qemuArgv = buildQemuArgv(plan)

    const session = new ConsoleSession(steps, failOn)
    const decoder = new TextDecoder('utf-8')
    let carry = ''
    const onConsole = (chunk: Buffer, atSeconds: number): StopRequest | undefined => {
      log!.write(chunk)
      const [ready, rest] = splitUnfinishedEscape(carry + decoder.decode(chunk, {stream: true}))
      carry = rest
      const text = consoleText(ready)
      if (text) options.echo?.(text)
      session.feed(text, atSeconds)
      return undefined
    }

    options.onStart?.({accel: accel.accel, accelReason: accel.reason, logFile: keptLog, qemuArgv: [qemuBinary, ...qemuArgv]})
    let started = 0
    const biosLog = plan.biosLog
      ? followSeabiosLog(plan.biosLog, (gaveUp) =>
          session.firmwareFailed(`the BIOS found nothing to boot (SeaBIOS: ${gaveUp.summary})`, `SeaBIOS: ${gaveUp.line}`, (performance.now() - started) / 1000),
        )
      : undefined
    const run = await runQemu({
      binary: qemuBinary,
      argv: qemuArgv,
      deadlineSeconds: options.timeoutSeconds,
      onConsole,
      cleanupPaths: [runDir],
      onSpawn: (qemu) => {
        started = performance.now()
        session.start({stop: qemu.stop, send: qemu.write, now: () => (performance.now() - started) / 1000})
      },
    }).finally(() => biosLog?.stop())

    // Lines still in the matcher count only while the deadline lasts.
    const end = await session.finish(
      {exited: run.ending === 'exited', exitCode: run.exit?.code ?? null, atSeconds: run.seconds, stderr: run.stderrTail},
      options.timeoutSeconds,
      Math.max(0.5, options.timeoutSeconds - run.seconds),
    )
    const stderr = run.stderrTail.trim()
    let reason = reasonOf(end, steps, session.warnings)
    if (end.outcome === 'failed' && end.failLine) {
      const means = firmwareFailure(firmware, end.failLine, options.secureBoot ?? false)
      if (means) reason = `${means} at ${round(end.atSeconds)}s: ${end.failLine.trim()}`
    }
    if (end.outcome === 'failed' && run.ending === 'exited' && stderr && !end.failLine) reason += `; QEMU said: ${stderr}`
    const outcome: BootOutcome = end.outcome === 'failed' && end.failLine && /Kernel panic/.test(end.failLine) ? 'panic' : end.outcome
    const stepResults = session.stepResults()
    const passed = outcome === 'passed'
    keep = options.keepRunFolder === 'always' || (options.keepRunFolder === 'on-failure' && !passed)
    if (keep) await keepRunFolder(runDir, keptLog)
    return {
      passed,
      outcome,
      reason,
      steps: stepResults,
      seen: stepResults.filter((r) => r.kind === 'expect' && r.outcome === 'passed').map((r) => ({pattern: r.step.slice('expect /'.length, -1), atSeconds: r.atSeconds!})),
      missing: steps.flatMap((s, i) => ('expect' in s && stepResults[i]!.outcome !== 'passed' ? [s.expect] : [])),
      consoleTail: [...session.tail],
      warnings: [...session.warnings],
      runFolder: keep ? runDir : null,
      seconds: round(run.seconds),
      accel: accel.accel,
      accelReason: accel.reason,
      logFile: keptLog,
      qemuArgv: [qemuBinary, ...qemuArgv],
      qemuPid: run.pid,
      qemuExit: run.exit,
    }
  } finally {
    if (log) await closeLog(log)
    if (runDir && !keep) await removeOwnedFolder(runDir)
  }
}

/**
 * A kept run folder is the user's now: without its owner mark the next run does not take it for a
 * killed run's leftover, and it holds a copy of the console log beside the firmware's variables.
 */
async function keepRunFolder(runDir: string, keptLog: string | null): Promise<void> {
  await rm(join(runDir, OWNER_FILE), {force: true})
  unregisterPath(runDir)
  if (keptLog) await copyFile(keptLog, join(runDir, 'console.log')).catch(() => undefined)
}
