// Choosing the accelerator. `/dev/kvm` existing is not enough: on some hosts (these CI machines
// among them) a KVM guest starts and then hangs. So `auto` boots a real kernel under KVM with a
// short deadline and takes KVM only if the kernel prints its first line in time; otherwise TCG.
import {access, constants} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {StagexError} from '../errors.js'
import {buildQemuArgv} from './command-line.js'
import {runQemu} from './run.js'
import type {AccelChoice, AccelDecision} from './types.js'

/** A working KVM prints the kernel banner well under a second; the rest is room for a busy host. */
export const KVM_PROBE_SECONDS = 3

/** The kernel's first console line, printed before anything can go wrong in the guest. */
const SIGN_OF_LIFE = /Linux version \d/

/** earlyprintk makes the banner appear at the very start of the kernel, before the console driver. */
const PROBE_APPEND = 'console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1'

const KVM_DEVICE = '/dev/kvm'

let cachedProbe: Promise<AccelDecision> | undefined

const accessible = async (path: string, mode: number): Promise<boolean> =>
  access(path, mode).then(
    () => true,
    () => false,
  )

/**
 * A kernel to probe with when the boot itself has none (disk and UKI boots):
 * $STAGEX_PROBE_KERNEL, then the test world's Debian kernel, then the host's.
 */
export async function findProbeKernel(): Promise<string | undefined> {
  const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
  const candidates = [
    process.env.STAGEX_PROBE_KERNEL,
    join(projectRoot, '.cache', 'world', 'kernel', 'vmlinuz'),
    '/boot/vmlinuz',
    '/vmlinuz',
  ].filter((p): p is string => Boolean(p))
  for (const path of candidates) if (await accessible(path, constants.R_OK)) return path
  return undefined
}

export interface KvmProbe {
  alive: boolean
  /** What happened, for the reason shown to the user. */
  finding: string
}

/** Boots `kernel` under KVM, with the same machine as a real run, for at most `seconds`. */
export async function probeKvmWithKernel(kernel: string, qemuBinary: string, seconds = KVM_PROBE_SECONDS): Promise<KvmProbe> {
  const argv = buildQemuArgv({accel: 'kvm', memoryMiB: 256, medium: {kind: 'direct', kernel, append: PROBE_APPEND}})
  let text = ''
  let alive = false
  const run = await runQemu({
    binary: qemuBinary,
    argv,
    deadlineSeconds: seconds,
    graceSeconds: 1,
    onConsole: (chunk) => {
      text = (text + chunk.toString('latin1')).slice(-4096)
      if (!SIGN_OF_LIFE.test(text)) return undefined
      alive = true
      return {afterSeconds: 0}
    },
  })
  if (alive) return {alive, finding: `the kernel banner appeared after ${run.seconds.toFixed(1)}s`}
  if (run.ending === 'exited') {
    const firstError = run.stderrTail.split('\n').find((line) => line.trim()) ?? ''
    return {alive, finding: `QEMU exited at once under KVM${firstError ? ` (${firstError.trim()})` : ''}`}
  }
  return {alive, finding: `a KVM guest showed no sign of life within ${seconds}s`}
}

async function probeKvm(probeKernel: string | undefined, qemuBinary: string): Promise<AccelDecision> {
  if (!(await accessible(KVM_DEVICE, constants.R_OK | constants.W_OK)))
    return {accel: 'tcg', reason: `auto: ${KVM_DEVICE} is missing or not accessible, using tcg`}
  const kernel = probeKernel ?? (await findProbeKernel())
  if (!kernel) return {accel: 'tcg', reason: 'auto: no kernel to probe KVM with (set STAGEX_PROBE_KERNEL), using tcg'}
  const probe = await probeKvmWithKernel(kernel, qemuBinary)
  return probe.alive ? {accel: 'kvm', reason: `auto: KVM works (${probe.finding})`} : {accel: 'tcg', reason: `auto: ${probe.finding}; using tcg`}
}

/**
 * The accelerator for a run. An explicit choice is taken as given (kvm only checks the device);
 * `auto` probes once per process: whether KVM works is a property of the host.
 */
export async function chooseAccel(choice: AccelChoice, probeKernel: string | undefined, qemuBinary: string): Promise<AccelDecision> {
  if (choice === 'tcg') return {accel: 'tcg', reason: 'tcg: asked for'}
  if (choice === 'kvm') {
    if (!(await accessible(KVM_DEVICE, constants.R_OK | constants.W_OK)))
      throw new StagexError('usage', `--accel kvm: ${KVM_DEVICE} is missing or not accessible; use --accel tcg or auto`)
    return {accel: 'kvm', reason: 'kvm: asked for'}
  }
  cachedProbe ??= probeKvm(probeKernel, qemuBinary).catch((error) => {
    cachedProbe = undefined
    throw error
  })
  return cachedProbe
}

/** Forgets the cached probe (tests). */
export const forgetAccelProbe = (): void => {
  cachedProbe = undefined
}
