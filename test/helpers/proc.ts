// What Linux's /proc says of processes: for tests that check no child (QEMU) outlives a run.
import {readdirSync, readFileSync} from 'node:fs'

/** Pids whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }
  return children
}

/** The command name of `pid`, or '' once it is gone. */
export const commandOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8')
  } catch {
    return ''
  }
}
