// QEMU runs in its own process group, so one kill reaches QEMU and anything it started. This
// module keeps the groups that are alive and kills them when our own process is interrupted or
// exits, so no QEMU outlives the command that started it.
import {readdirSync, readFileSync, rmSync} from 'node:fs'

interface LiveGroup {
  /** Leftovers to delete synchronously if we are interrupted (the run's temp dir). */
  cleanupPaths: string[]
}

const live = new Map<number, LiveGroup>()
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
let handlersInstalled = false

/** Sends a signal to a whole process group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}

/** True while any process of the group still exists (zombies included). */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Pids in the group that are still running. Zombies do not count: a killed member whose parent
 * died is reparented to init and lingers until init reaps it, which may take a second or two.
 * Reads /proc (Linux); elsewhere falls back to whether the group exists at all.
 */
export function liveGroupMembers(pgid: number): number[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return groupExists(pgid) ? [pgid] : []
  }
  const members: number[] = []
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
    } catch {
      continue // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(entry))
  }
  return members
}

function killEverythingNow(): void {
  for (const [pgid, group] of live) {
    signalGroup(pgid, 'SIGKILL')
    for (const path of group.cleanupPaths) rmSync(path, {recursive: true, force: true})
  }
  live.clear()
}

function onExit(): void {
  killEverythingNow()
}

function onSignal(signal: NodeJS.Signals): void {
  // No time for a graceful stop: we are going away, and QEMU holds nothing worth saving.
  killEverythingNow()
  uninstallHandlers()
  // Our listener replaced Node's default action (exit); if nobody else handles the signal, restore
  // it and re-raise, so the process still ends with the signal as the user asked.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', onExit)
  for (const signal of SIGNALS) process.on(signal, onSignal)
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return
  handlersInstalled = false
  process.off('exit', onExit)
  for (const signal of SIGNALS) process.off(signal, onSignal)
}

export function trackGroup(pgid: number, cleanupPaths: string[] = []): void {
  live.set(pgid, {cleanupPaths})
  installHandlers()
}

export function untrackGroup(pgid: number): void {
  live.delete(pgid)
  if (live.size === 0) uninstallHandlers()
}

/** The groups this process has started and not yet reaped (for tests). */
export const liveGroups = (): number[] => [...live.keys()]
