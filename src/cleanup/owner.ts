// Who owns a temp folder or temp file, and whether that owner is gone (then what it left is stale).
//
// How staleness is judged (README, "Interruptions and leftovers"):
// - Every work folder (TMPDIR/stagex-image-*, TMPDIR/stagex-boot-*) and staging folder
//   (--out/.stagex-build-*) holds an owner mark, owner.json: {tool, pid, host, pidStart, startedAt}.
//   Every temp file (the store's tmp/, a file written beside its final name) names its owner:
//   `.<name>.tmp-<host>-<pid>-<random>`.
// - On this host, a leftover is stale when its pid is no longer alive (kill(pid, 0) fails with
//   ESRCH), or when that pid now belongs to another process (its start time in /proc differs from
//   the one recorded: the pid was reused).
// - From another host (a shared --out or store), we cannot see its processes: the leftover is stale
//   once it is older than FOREIGN_STALE_HOURS.
// - Anything without a mark of ours is never touched: it may be someone else's.
import {readFileSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'

export const OWNER_FILE = 'owner.json'
const TOOL = 'stagex-image'
/** A run on another host is not expected to last longer than this. */
export const FOREIGN_STALE_HOURS = 24

export interface OwnerMark {
  tool: typeof TOOL
  pid: number
  /** This host's name as a file name can carry it (see hostTag). */
  host: string
  /** The pid's start time in clock ticks since boot (Linux /proc), to tell a reused pid. */
  pidStart?: number
  /** Milliseconds since 1970. */
  startedAt: number
}

/** The host's name with only file-name-safe characters, as temp names and owner marks carry it. */
export const hostTag = (): string => hostname().replace(/[^A-Za-z0-9.]/g, '_').slice(0, 48) || 'host'

/** Field 22 of /proc/<pid>/stat: when the process started. Undefined off Linux or when it is gone. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // "pid (comm) state ppid ..." : comm may hold spaces and parentheses, so count after the last ')'.
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
    return Number.isFinite(start) ? start : undefined
  } catch {
    return undefined
  }
}

export const currentOwner = (): OwnerMark => ({tool: TOOL, pid: process.pid, host: hostTag(), pidStart: processStartTicks(process.pid), startedAt: Date.now()})

/** Written synchronously right after the folder is made, so a kill leaves (almost) no unmarked folder. */
export function writeOwnerMark(dir: string): void {
  writeFileSync(join(dir, OWNER_FILE), `${JSON.stringify(currentOwner())}\n`, {mode: 0o644})
}

/** The folder's owner mark, or undefined when it has none of ours. */
export function readOwnerMark(dir: string): OwnerMark | undefined {
  try {
    const mark = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as Partial<OwnerMark>
    if (mark.tool !== TOOL || !Number.isSafeInteger(mark.pid) || mark.pid! <= 0 || typeof mark.host !== 'string' || typeof mark.startedAt !== 'number') return undefined
    return mark as OwnerMark
  } catch {
    return undefined
  }
}

/** The suffix of a temp file's name: `.tmp-<host>-<pid>-<8 hex>`. */
export const TEMP_SUFFIX = /\.tmp-([A-Za-z0-9._]+)-(\d+)-[0-9a-f]{8}$/

export const tempSuffix = (random: string): string => `.tmp-${hostTag()}-${process.pid}-${random}`

/** The owner a temp file's name carries (its mtime stands for its start), or undefined for names not ours. */
export function ownerOfTempName(name: string, mtimeMs: number): OwnerMark | undefined {
  const match = TEMP_SUFFIX.exec(name)
  if (!match || Number(match[2]) <= 0) return undefined
  return {tool: TOOL, host: match[1]!, pid: Number(match[2]), startedAt: mtimeMs}
}

/** Why the owner is gone ("pid 123 has exited"), or undefined while it may still be working. */
export function whyStale(owner: OwnerMark, now = Date.now()): string | undefined {
  if (owner.host !== hostTag()) {
    const hours = (now - owner.startedAt) / 3_600_000
    return hours > FOREIGN_STALE_HOURS ? `from host ${owner.host}, ${Math.floor(hours)} h old` : undefined
  }
  if (!isAlive(owner.pid)) return `pid ${owner.pid} has exited`
  const start = processStartTicks(owner.pid)
  if (owner.pidStart !== undefined && start !== undefined && start !== owner.pidStart) return `pid ${owner.pid} is another process now`
  return undefined
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}
