// Running QEMU once: spawn it in its own process group, stream its console, enforce the deadline,
// and always kill the whole group at the end, whatever happened.
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {delimiter, join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {StagexError} from '../errors.js'
import {liveGroupMembers, signalGroup, trackGroup, untrackGroup} from './process-group.js'

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64'

/** What onConsole may ask for: stop QEMU now (0) or after a little more output (a panic's trace). */
export interface StopRequest {
  afterSeconds: number
}

export interface QemuRunOptions {
  binary: string
  argv: string[]
  deadlineSeconds: number
  /** Raw console bytes with the seconds since spawn. */
  onConsole: (chunk: Buffer, atSeconds: number) => StopRequest | undefined
  /** Deleted synchronously if our process is interrupted while QEMU runs. */
  cleanupPaths?: string[]
  /** Between SIGTERM and SIGKILL. QEMU exits on SIGTERM within milliseconds when it is healthy. */
  graceSeconds?: number
  /** Called once QEMU runs: a way to stop it later and to type on its serial console (stdin). */
  onSpawn?: (control: QemuControl) => void
}

export interface QemuControl {
  stop(afterSeconds: number): void
  write(text: string): void
}

export type QemuRunEnding =
  /** QEMU ended by itself (guest powered off, rebooted with -no-reboot, or QEMU failed). */
  | 'exited'
  /** onConsole asked to stop. */
  | 'stopped'
  /** The deadline came first. */
  | 'deadline'

export interface QemuRunEnd {
  ending: QemuRunEnding
  /** QEMU's own exit status when ending is 'exited'. */
  exit: {code: number | null; signal: string | null} | null
  seconds: number
  /** The last few KiB of QEMU's stderr: its own error messages (bad option, missing file). */
  stderrTail: string
  pid: number
}

const STDERR_TAIL_BYTES = 4096

/** util-linux's setpriv, when installed: it ties QEMU's life to ours (prctl PR_SET_PDEATHSIG). */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path))

/** The command that runs `binary` so that it is killed when we die; as is when setpriv is missing. */
export function diesWithUs(binary: string, argv: string[]): [string, string[]] {
  // A missing binary is left to spawn, which says ENOENT (setpriv would only exit 127).
  return SETPRIV && onPath(binary) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...argv]] : [binary, argv]
}

const onPath = (binary: string): boolean =>
  binary.includes('/') ? existsSync(binary) : (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, binary)))

export const defaultQemuBinary = (): string => process.env.STAGEX_QEMU || DEFAULT_QEMU_BINARY

/** A promise with its resolve function outside, for events that arrive from callbacks. */
function signalPromise<T>(): {promise: Promise<T>; resolve: (value: T) => void} {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return {promise, resolve}
}

const sleep = (seconds: number) => new Promise<void>((r) => setTimeout(r, seconds * 1000))

/** True if `promise` settles within `seconds`. Clears its timer, so a caller's process can exit at once. */
async function settlesWithin(promise: Promise<unknown>, seconds: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), seconds * 1000)))
  try {
    return await Promise.race([promise.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

export async function runQemu(options: QemuRunOptions): Promise<QemuRunEnd> {
  const graceSeconds = options.graceSeconds ?? 3
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000

  // detached: QEMU leads a new process group, so process.kill(-pid) reaches everything it spawned.
  // setpriv sets QEMU's parent-death signal and execs it (same pid): if we die, SIGKILL included, so does QEMU.
  const [command, argv] = diesWithUs(options.binary, options.argv)
  const child = spawn(command, argv, {detached: true, stdio: ['pipe', 'pipe', 'pipe']})

  const exited = signalPromise<{code: number | null; signal: string | null}>()
  const closed = signalPromise<void>()
  const spawnFailed = signalPromise<Error>()
  child.once('exit', (code, signal) => exited.resolve({code, signal}))
  child.once('close', () => closed.resolve())
  child.once('error', (error) => spawnFailed.resolve(error))

  const spawnOutcome = await Promise.race([
    new Promise<'spawned'>((r) => child.once('spawn', () => r('spawned'))),
    spawnFailed.promise,
  ])
  if (spawnOutcome !== 'spawned') {
    const code = (spawnOutcome as NodeJS.ErrnoException).code
    throw new StagexError(
      'internal',
      code === 'ENOENT'
        ? `${options.binary} not found: install qemu-system-x86 (bash scripts/setup.sh) or set STAGEX_QEMU`
        : `could not start ${options.binary}: ${spawnOutcome.message}`,
    )
  }
  const pid = child.pid!
  trackGroup(pid, options.cleanupPaths)

  let stderrTail = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES)
  })

  const stopRequested = signalPromise<void>()
  let stopTimer: NodeJS.Timeout | undefined
  // An exception in the caller's handler must not escape from an event callback (it would crash
  // the process and leave QEMU running): it stops the run and is rethrown once QEMU is gone.
  let handlerError: {error: unknown} | undefined
  // "Now" wins over a pending "later"; a second "later" does not move the first.
  const stop = (afterSeconds: number) => {
    if (afterSeconds <= 0) {
      clearTimeout(stopTimer)
      stopRequested.resolve()
    } else stopTimer ??= setTimeout(() => stopRequested.resolve(), afterSeconds * 1000)
  }
  // The guest may stop reading, or QEMU exit, while we write: neither is our error.
  child.stdin!.on('error', () => undefined)
  options.onSpawn?.({stop, write: (text) => void child.stdin!.write(text)})
  child.stdout!.on('data', (chunk: Buffer) => {
    if (handlerError) return
    let request: StopRequest | undefined
    try {
      request = options.onConsole(chunk, elapsed())
    } catch (error) {
      handlerError = {error}
      stopRequested.resolve()
      return
    }
    if (request) stop(request.afterSeconds)
  })

  let deadlineTimer: NodeJS.Timeout | undefined
  const deadline = new Promise<'deadline'>((r) => (deadlineTimer = setTimeout(() => r('deadline'), options.deadlineSeconds * 1000)))

  let ending: QemuRunEnding = 'exited'
  let exitStatus: QemuRunEnd['exit'] = null
  let seconds = 0
  try {
    const first = await Promise.race([
      exited.promise.then((status) => ({kind: 'exited' as const, status})),
      stopRequested.promise.then(() => ({kind: 'stopped' as const})),
      deadline.then(() => ({kind: 'deadline' as const})),
    ])
    seconds = elapsed()
    ending = first.kind
    if (first.kind === 'exited') exitStatus = first.status
    else await stopGroup(pid, exited.promise, graceSeconds)
  } finally {
    clearTimeout(deadlineTimer)
    clearTimeout(stopTimer)
    // Also when QEMU exited by itself: anything left in its group goes too.
    signalGroup(pid, 'SIGKILL')
    await waitForGroupToVanish(pid, 2)
    // Let the last console bytes drain into onConsole, but never wait on a pipe held open forever.
    await settlesWithin(closed.promise, 2)
    child.stdin!.destroy()
    child.stdout!.destroy()
    child.stderr!.destroy()
    untrackGroup(pid)
  }
  if (handlerError) throw handlerError.error
  return {ending, exit: exitStatus, seconds, stderrTail, pid}
}

/** SIGKILL is delivered asynchronously; the caller is promised a group with no running member, so wait (briefly) for that. */
async function waitForGroupToVanish(pgid: number, seconds: number): Promise<void> {
  const until = performance.now() + seconds * 1000
  while (liveGroupMembers(pgid).length > 0 && performance.now() < until) await sleep(0.02)
}

/** SIGTERM lets QEMU close its files; SIGKILL follows if it has not exited within the grace period. */
async function stopGroup(pid: number, exited: Promise<unknown>, graceSeconds: number): Promise<void> {
  signalGroup(pid, 'SIGTERM')
  if (await settlesWithin(exited, graceSeconds)) return
  signalGroup(pid, 'SIGKILL')
  // A process in uninterruptible sleep may take a moment even after SIGKILL.
  await settlesWithin(exited, graceSeconds)
}
