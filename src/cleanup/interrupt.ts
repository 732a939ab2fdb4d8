// What to undo when the process is interrupted: the one registry of every temp folder, temp file and
// child process group a run holds. Whoever makes one registers it and unregisters it when done
// (withWorkFolder, openStaging, the store's downloads, the atomic writers, QEMU's process groups).
//
// On SIGINT, SIGTERM or SIGHUP everything registered is undone synchronously (children killed first,
// then paths removed with rmSync): a second signal cannot interrupt a half-done cleanup, because Node
// runs the next signal's handler only after this one returned, and this one ends the process.
//
// A command arms the registry (armInterrupts): then the process prints one line on stderr (and, with
// --json, the failure document on stdout) and exits 128 + the signal's number: 130 for SIGINT, 143
// for SIGTERM. Unarmed (the pipeline used as a library), handlers exist only while something is
// registered, and the signal is raised again afterwards, so the process still ends as its default says.
import {existsSync, rmSync, writeSync} from 'node:fs'
import {constants} from 'node:os'
import {dirname} from 'node:path'

export interface Cleanup {
  /** What a person reads: "work folder", "staging folder", "partial download", "temp file". */
  what: string
  /** Removed recursively. */
  path?: string
  /** A child to stop, synchronously; says what it stopped ("QEMU (process group 123)"). */
  stop?: () => string
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
const pending = new Map<string, Cleanup>()
let installed = false
let armed: {json: () => boolean} | undefined

/** The exit status of a process that ended on `signal` after cleaning up: 130 (SIGINT), 143 (SIGTERM). */
export const interruptExitCode = (signal: NodeJS.Signals): number => 128 + (constants.signals[signal] ?? 0)

/** Registers a cleanup under `key` (a path, or a name of the child). */
export function registerCleanup(key: string, cleanup: Cleanup): void {
  pending.set(key, cleanup)
  installHandlers()
}

export function unregisterCleanup(key: string): void {
  pending.delete(key)
  if (pending.size === 0 && !armed) uninstallHandlers()
}

/** `path` is removed if the process is interrupted before unregisterPath(path). */
export const registerPath = (path: string, what: string): void => registerCleanup(path, {what, path})
export const unregisterPath = (path: string): void => unregisterCleanup(path)

export const isRegistered = (key: string): boolean => pending.has(key)

/** What is registered now (for tests). */
export const registeredCleanups = (): string[] => [...pending.keys()]

/** Called by a command: from now on a signal ends the process with 130/143 and one line saying what was removed. */
export function armInterrupts(options: {json: () => boolean}): void {
  armed = options
  installHandlers()
}

function installHandlers(): void {
  if (installed) return
  installed = true
  process.on('exit', onExit)
  for (const signal of SIGNALS) process.on(signal, onSignal)
}

function uninstallHandlers(): void {
  if (!installed) return
  installed = false
  process.off('exit', onExit)
  for (const signal of SIGNALS) process.off(signal, onSignal)
}

/** Undoes everything registered, children first (they may hold files in the folders), and says what it did. */
function undoAll(): {stopped: string[]; removed: Cleanup[]} {
  const entries = [...pending.values()]
  pending.clear()
  const stopped: string[] = []
  const removed: Cleanup[] = []
  for (const entry of entries) {
    if (!entry.stop) continue
    try {
      stopped.push(entry.stop())
    } catch {
      // Going away anyway: one child that cannot be signalled must not keep the rest.
    }
  }
  for (const entry of entries) {
    if (!entry.path || !existsSync(entry.path)) continue
    try {
      // A worker thread may still create a file in the folder while it is removed: retry briefly.
      rmSync(entry.path, {recursive: true, force: true, maxRetries: 3, retryDelay: 10})
      removed.push(entry)
    } catch {
      // Left for the next run, which finds it stale (leftovers.ts).
    }
  }
  return {stopped, removed}
}

/** "stopped QEMU (process group 9); removed the work folder /tmp/x and 2 partial downloads in /store/tmp" */
export function describeUndone(stopped: string[], removed: Pick<Cleanup, 'what' | 'path'>[]): string {
  const parts: string[] = []
  if (stopped.length > 0) parts.push(`stopped ${joinWords(stopped)}`)
  const byWhat = new Map<string, string[]>()
  for (const entry of removed) byWhat.set(entry.what, [...(byWhat.get(entry.what) ?? []), entry.path!])
  const phrases = [...byWhat].map(([what, paths]) => {
    if (paths.length === 1) return `the ${what} ${paths[0]}`
    const dirs = new Set(paths.map((p) => dirname(p)))
    return dirs.size === 1 ? `${paths.length} ${what}s in ${[...dirs][0]}` : `${paths.length} ${what}s`
  })
  if (phrases.length > 0) parts.push(`removed ${joinWords(phrases)}`)
  return parts.length > 0 ? parts.join('; ') : 'nothing to remove'
}

const joinWords = (words: string[]): string => (words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`)

function onExit(): void {
  // process.exit() while something is registered (a bug, or an exit path that skipped a finally): no child outlives us.
  undoAll()
}

function onSignal(signal: NodeJS.Signals): void {
  const {stopped, removed} = undoAll()
  if (!armed) {
    uninstallHandlers()
    // Our listener replaced Node's default action (exit); if nobody else handles the signal, raise
    // it again, so the process still ends as the signal asked.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    return
  }
  const exitCode = interruptExitCode(signal)
  const message = `interrupted (${signal}); ${describeUndone(stopped, removed)}`
  writeQuietly(2, `stagex-image: ${message}\n`)
  if (armed.json()) writeQuietly(1, `${JSON.stringify({error: {kind: 'interrupted', exitCode, message, signal}}, null, 2)}\n`)
  process.exit(exitCode)
}

/** Synchronous, so the line is out before the exit; a closed pipe must not stop the exit. */
function writeQuietly(fd: number, text: string): void {
  try {
    writeSync(fd, text)
  } catch {
    // stderr or stdout is gone: nobody to tell.
  }
}
