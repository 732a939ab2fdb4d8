// QEMU runs in its own process group, so one kill reaches QEMU and anything it started. This
// module keeps the groups that are alive and registers them with the interrupt registry
// (cleanup/interrupt.ts), which kills them when our own process is interrupted or exits, so no QEMU
// outlives the command that started it.
import {readdirSync, readFileSync} from 'node:fs'
import {isRegistered, registerCleanup, registerPath, unregisterCleanup, unregisterPath} from '../cleanup/interrupt.js'

interface LiveGroup {
  /** Leftovers to delete synchronously if we are interrupted (the run's temp dir) that nobody else registered. */
  ownPaths: string[]
}

const live = new Map<number, LiveGroup>()

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

/** Waits synchronously (a signal handler cannot await) until the group has no running member, at most `seconds`. */
function waitForGroupSync(pgid: number, seconds: number): void {
  const until = Date.now() + seconds * 1000
  const pause = new Int32Array(new SharedArrayBuffer(4))
  while (liveGroupMembers(pgid).length > 0 && Date.now() < until) Atomics.wait(pause, 0, 0, 10)
}

const cleanupKey = (pgid: number) => `qemu-process-group:${pgid}`

/** The group is killed (and its paths removed) if we are interrupted or exit while it runs (cleanup/interrupt.ts). */
export function trackGroup(pgid: number, cleanupPaths: string[] = []): void {
  // A path its owner registered already (boot.ts's run folder) stays the owner's to unregister.
  const ownPaths = cleanupPaths.filter((path) => !isRegistered(path))
  live.set(pgid, {ownPaths})
  registerCleanup(cleanupKey(pgid), {
    what: 'QEMU',
    stop: () => {
      // No time for a graceful stop: we are going away, and QEMU holds nothing worth saving.
      signalGroup(pgid, 'SIGKILL')
      waitForGroupSync(pgid, 1)
      return `QEMU (process group ${pgid})`
    },
  })
  for (const path of ownPaths) registerPath(path, 'QEMU run folder')
}

export function untrackGroup(pgid: number): void {
  for (const path of live.get(pgid)?.ownPaths ?? []) unregisterPath(path)
  live.delete(pgid)
  unregisterCleanup(cleanupKey(pgid))
}

/** The groups this process has started and not yet reaped (for tests). */
export const liveGroups = (): number[] => [...live.keys()]
