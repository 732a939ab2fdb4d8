// What a killed run (SIGKILL, a power cut) left behind is removed by the next run that looks in the
// same place and finds it stale (owner.ts says how that is judged). Each place is looked at once per
// process, and what was removed is said in one line on stderr (stdout stays clean for --json).
import {lstatSync, readdirSync, rmSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {type OwnerMark, ownerOfTempName, readOwnerMark, whyStale} from './owner.js'

export interface Leftover {
  path: string
  why: string
}

export interface LeftoverPlace {
  /** The folder to look in. */
  dir: string
  /** Entries of ours: folder names with an owner mark inside, or temp file names carrying their owner. */
  kind: 'marked-folders' | 'temp-files'
  /** Only names starting with one of these. */
  prefixes?: string[]
  /** What one entry is, for a person: "work folder", "partial download". */
  what: string
}

const swept = new Set<string>()

/** Where the reports go; tests and library users may replace it. */
let report = (line: string): void => {
  process.stderr.write(`${line}\n`)
}

export function setLeftoverReport(write: (line: string) => void): void {
  report = write
}

/** Removes the stale leftovers in `place` (once per process and place) and says so in one line. */
export function sweepLeftovers(place: LeftoverPlace): Leftover[] {
  const key = `${place.kind}:${resolve(place.dir)}:${(place.prefixes ?? []).join(',')}`
  if (swept.has(key)) return []
  swept.add(key)
  const removed: Leftover[] = []
  for (const leftover of findStale(place)) {
    try {
      rmSync(leftover.path, {recursive: true, force: true})
      removed.push(leftover)
    } catch {
      // Not ours to remove after all (permissions): the owner mark said so, the file system disagrees.
    }
  }
  if (removed.length > 0) {
    const count = `${removed.length} stale ${place.what}${removed.length === 1 ? '' : 's'}`
    report(`stagex-image: removed ${count} that killed runs left in ${place.dir}: ${removed.map((l) => `${l.path} (${l.why})`).join(', ')}`)
  }
  return removed
}

/** The stale entries of `place`, without removing them. */
export function findStale(place: LeftoverPlace): Leftover[] {
  let names: string[]
  try {
    names = readdirSync(place.dir)
  } catch {
    return []
  }
  const stale: Leftover[] = []
  for (const name of names) {
    if (place.prefixes && !place.prefixes.some((p) => name.startsWith(p))) continue
    const path = join(place.dir, name)
    const owner = ownerOf(path, name, place.kind)
    const why = owner && whyStale(owner)
    if (why) stale.push({path, why})
  }
  return stale
}

function ownerOf(path: string, name: string, kind: LeftoverPlace['kind']): OwnerMark | undefined {
  let stat
  try {
    stat = lstatSync(path)
  } catch {
    return undefined // gone meanwhile
  }
  if (kind === 'marked-folders') return stat.isDirectory() ? readOwnerMark(path) : undefined
  return stat.isFile() ? ownerOfTempName(name, stat.mtimeMs) : undefined
}
