// Matching a serial console against expectations, in order, as text streams in. Pure: text and
// times in, events out; run.ts feeds it and decides what to do with the events.
import {StagexError} from '../errors.js'
import type {SeenExpectation} from './types.js'

export const KERNEL_PANIC_MARKER = 'Kernel panic - not syncing'

/** Text kept for matching when no expectation has matched for a long stretch: bounds memory and regex cost. */
const MAX_PENDING_CHARS = 64 * 1024

export type SerialEvent =
  | {kind: 'seen'; pattern: string; atSeconds: number}
  | {kind: 'all-seen'; atSeconds: number}
  | {kind: 'panic'; atSeconds: number}
  | {kind: 'fail-pattern'; pattern: string; atSeconds: number}

export interface SerialMatcher {
  /** Feeds console text (already through consoleText) that arrived at `atSeconds`. */
  feed(text: string, atSeconds: number): SerialEvent[]
  seen(): SeenExpectation[]
  missing(): string[]
  /** The panic line as far as it has arrived, once a panic was seen. */
  panicLine(): string | undefined
  /** The console line that matched a fail pattern, once one did. */
  failLine(): string | undefined
}

/**
 * Firmware and boot loaders paint the screen with escape sequences (SeaBIOS and OVMF clear it);
 * on a terminal they would wipe the user's scrollback, and in a regex they get in the way.
 * Removes CSI/OSC/other ESC sequences, carriage returns and C0 controls except newline and tab.
 */
export function consoleText(raw: string): string {
  return raw
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g, '')
    .replace(/\x1b[ -/]*[0-~]/g, '')
    .replace(/\x1b/g, '')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
}

/** Compiles pattern sources once, up front, so a typo is a usage error before QEMU starts. */
export function compilePatterns(sources: string[], what: string): RegExp[] {
  return sources.map((source) => {
    try {
      // 'm': ^ and $ mean line starts and ends, as a person reading a console expects.
      return new RegExp(source, 'm')
    } catch (error) {
      throw new StagexError('usage', `invalid ${what} regular expression ${JSON.stringify(source)}: ${(error as Error).message}`)
    }
  })
}

export function createSerialMatcher(expect: string[], failOn: string[] = []): SerialMatcher {
  const expectations = compilePatterns(expect, '--expect')
  const failures = compilePatterns(failOn, '--fail-on')
  const seen: SeenExpectation[] = []
  // Text after the end of the last match: the next expectation must appear after the previous one.
  let pending = ''
  // The current (unfinished) line and the line before, for the panic and fail-pattern checks,
  // which look at whole lines no matter where the expectations stand.
  let lineTail = ''
  let panic: {line: string; complete: boolean} | undefined
  let failure: {pattern: string; line: string} | undefined

  const lineAround = (text: string, index: number): string => {
    const start = text.lastIndexOf('\n', index) + 1
    const end = text.indexOf('\n', index)
    return text.slice(start, end === -1 ? undefined : end)
  }

  function feed(text: string, atSeconds: number): SerialEvent[] {
    const events: SerialEvent[] = []
    if (text === '') return events

    // Panic and fail patterns: scan the unfinished line plus the new text, so a marker split
    // across two chunks is still found.
    const window = lineTail + text
    if (panic && !panic.complete) {
      const end = text.indexOf('\n')
      panic.line += end === -1 ? text : text.slice(0, end)
      panic.complete = end !== -1
    }
    if (!panic) {
      const at = window.indexOf(KERNEL_PANIC_MARKER)
      if (at !== -1) {
        const line = lineAround(window, at)
        panic = {line, complete: window.indexOf('\n', at) !== -1}
        events.push({kind: 'panic', atSeconds})
      }
    }
    if (!failure) {
      for (const [index, regex] of failures.entries()) {
        const match = regex.exec(window)
        if (match) {
          failure = {pattern: failOn[index], line: lineAround(window, match.index)}
          events.push({kind: 'fail-pattern', pattern: failOn[index], atSeconds})
          break
        }
      }
    }
    const lastNewline = window.lastIndexOf('\n')
    lineTail = lastNewline === -1 ? window : window.slice(lastNewline + 1)
    if (lineTail.length > MAX_PENDING_CHARS) lineTail = lineTail.slice(-MAX_PENDING_CHARS)

    // Expectations, in order; one chunk may satisfy several.
    if (seen.length < expectations.length) {
      pending += text
      while (seen.length < expectations.length) {
        const match = expectations[seen.length].exec(pending)
        if (!match) break
        const pattern = expect[seen.length]
        seen.push({pattern, atSeconds})
        events.push({kind: 'seen', pattern, atSeconds})
        pending = pending.slice(match.index + match[0].length)
      }
      if (seen.length === expectations.length) {
        events.push({kind: 'all-seen', atSeconds})
        pending = ''
      } else if (pending.length > MAX_PENDING_CHARS) {
        pending = pending.slice(-MAX_PENDING_CHARS)
      }
    }
    return events
  }

  return {
    feed,
    seen: () => [...seen],
    missing: () => expect.slice(seen.length),
    panicLine: () => panic?.line,
    failLine: () => failure?.line,
  }
}
