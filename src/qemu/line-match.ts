// What "a pattern matches a console line" means. A complete line is matched as a whole string
// (no `m` flag: `^` and `$` are the line's start and end). A partial line is matched with a
// sentinel after it, and a match that reaches into the sentinel does not count: so `$` (and
// `.*$`) can never match where the line merely stopped for now, while `OK` in `RESULT: OK` can.

/** U+E000 (private use): consoleText never produces it from a guest's ASCII console. */
const SENTINEL = '\uE000'

export function matchesLine(pattern: RegExp, line: string, partial: boolean): boolean {
  if (!partial) return pattern.test(line)
  const match = pattern.exec(line + SENTINEL)
  return match !== null && match.index + match[0].length <= line.length
}
