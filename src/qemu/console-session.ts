// Running a boot's console steps: lines in (console-lines.ts), patterns tried in the worker
// (pattern-matcher.ts), steps advanced in order, each `expect` with its own timeout, `send` typed on
// the serial console, `expect-exit` judged when QEMU ends, and fail-on patterns ending the run at
// once whatever step is current. The session says when QEMU should stop; boot.ts owns QEMU.
import {ConsoleLineSplitter, type ConsoleLine} from './console-lines.js'
import {PatternMatcher} from './pattern-matcher.js'
import type {ConsoleStep, StepResult} from './types.js'

/** The guest is "quiet" after this long without output: then an unfinished line is tried (a prompt). */
export const QUIET_MS = 300
/** After a fail-on line, read this much longer for the lines that follow it (a panic's trace). */
const FAIL_CONTEXT_SECONDS = 1
/** Console lines kept for a failure report (JUnit, --json). */
const TAIL_LINES = 40

export const DEFAULT_FAIL_ON = ['Kernel panic', 'Oops', 'BUG:', 'Attempted to kill init']

export type SessionEnd =
  | {outcome: 'passed'; atSeconds: number}
  | {outcome: 'failed'; atSeconds: number; reason: string; failLine?: string}
  | {outcome: 'timeout'; atSeconds: number; reason: string}

export interface SessionControl {
  /** Stop QEMU now (0) or after a little more output. */
  stop(afterSeconds: number): void
  /** Type a line on the serial console. */
  send(text: string): void
  /** Seconds since QEMU started. */
  now(): number
}

export const describeStep = (step: ConsoleStep): string =>
  'expect' in step ? `expect /${step.expect}/` : 'send' in step ? `send ${JSON.stringify(step.send)}` : `expect-exit ${step.expectExit === true ? '(power off)' : step.expectExit}`

const round = (seconds: number): number => Math.round(seconds * 100) / 100

export class ConsoleSession {
  private readonly lines = new ConsoleLineSplitter()
  private readonly matcher: PatternMatcher
  private readonly expectIndex: Map<number, number>
  private readonly failOnBase: number
  private readonly results: StepResult[]
  private current = 0
  private stepStarted = 0
  private stepTimer: NodeJS.Timeout | undefined
  private quietTimer: NodeJS.Timeout | undefined
  private chain: Promise<void> = Promise.resolve()
  private ended: SessionEnd | undefined
  private control: SessionControl | undefined
  /** Of the current line, the part an expectation already consumed (when a partial line matched). */
  private consumed = 0
  readonly tail: string[] = []
  readonly warnings: string[] = []

  constructor(
    private readonly steps: ConsoleStep[],
    private readonly failOn: string[],
  ) {
    const sources: string[] = []
    this.expectIndex = new Map()
    steps.forEach((step, i) => {
      if ('expect' in step) this.expectIndex.set(i, sources.push(step.expect) - 1)
    })
    this.failOnBase = sources.length
    sources.push(...failOn)
    this.matcher = new PatternMatcher(sources)
    this.results = steps.map((step) => ({step: describeStep(step), kind: stepKind(step), outcome: 'not-run'}))
  }

  /** QEMU is up: steps start now (a leading send goes out at once). */
  start(control: SessionControl): void {
    this.control = control
    this.enterStep(0)
  }

  /** Console text (already through consoleText) that arrived at `atSeconds`. */
  feed(text: string, atSeconds: number): void {
    if (this.ended || text === '') return
    for (const line of this.lines.feed(text)) this.enqueue(line, atSeconds)
    clearTimeout(this.quietTimer)
    this.quietTimer = setTimeout(() => {
      const partial = this.lines.quietPartial()
      if (partial) this.enqueue(partial, atSeconds)
    }, QUIET_MS)
  }

  /** How the steps ended, once QEMU is gone: waits for the lines still being matched, at most `seconds`. */
  async finish(qemu: {exited: boolean; exitCode: number | null; atSeconds: number; stderr?: string}, deadlineSeconds: number, seconds: number): Promise<SessionEnd> {
    clearTimeout(this.quietTimer)
    const rest = this.lines.unfinished
    if (rest) this.enqueue({text: rest, partial: false}, qemu.atSeconds)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.chain, new Promise<void>((r) => (timer = setTimeout(r, seconds * 1000)))])
    clearTimeout(timer)
    clearTimeout(this.stepTimer)
    await this.matcher.close()
    if (this.ended) return this.ended
    const step = this.steps[this.current]
    if (qemu.exited && step && 'expectExit' in step) return this.judgeExit(step, qemu.exitCode, qemu.atSeconds, qemuErrorOf(qemu.stderr))
    if (qemu.exited) {
      const said = qemu.exitCode === null ? 'was killed' : `exited (code ${qemu.exitCode})`
      return this.endWith({outcome: 'failed', atSeconds: qemu.atSeconds, reason: `QEMU ${said} after ${round(qemu.atSeconds)}s${step ? ` during step ${this.current + 1} (${describeStep(step)})` : ''}`})
    }
    return this.endWith({
      outcome: 'timeout',
      atSeconds: qemu.atSeconds,
      reason: `deadline of ${deadlineSeconds}s reached${step ? ` during step ${this.current + 1} (${describeStep(step)})` : ''}`,
    })
  }

  /** The firmware gave up before any guest ran (a line from its own log, not the console): the run fails now. */
  firmwareFailed(reason: string, line: string, atSeconds: number): void {
    if (this.ended) return
    this.endWith({outcome: 'failed', atSeconds, reason, failLine: line}, 0)
  }

  stepResults(): StepResult[] {
    return this.results.map((r) => ({...r}))
  }

  get end(): SessionEnd | undefined {
    return this.ended
  }

  private enqueue(line: ConsoleLine, atSeconds: number): void {
    if (!line.partial) this.keepTail(line.text)
    this.chain = this.chain.then(() => this.process(line, atSeconds))
  }

  private keepTail(text: string): void {
    this.tail.push(text)
    if (this.tail.length > TAIL_LINES) this.tail.shift()
  }

  private async process(line: ConsoleLine, atSeconds: number): Promise<void> {
    if (this.ended) return
    for (const [i, source] of this.failOn.entries()) {
      if ((await this.verdict(this.failOnBase + i, line, source)) !== 'match' || this.ended) continue
      this.endWith({outcome: 'failed', atSeconds, reason: `fail-on /${source}/ at ${round(atSeconds)}s: ${line.text.trim()}`, failLine: line.text}, FAIL_CONTEXT_SECONDS)
      return
    }
    const pattern = this.expectIndex.get(this.current)
    if (pattern === undefined) return
    const text = line.text.slice(this.consumed)
    const consumedBefore = this.consumed
    this.consumed = line.partial ? line.text.length : 0
    const source = (this.steps[this.current] as {expect: string}).expect
    if ((await this.verdict(pattern, {text, partial: line.partial}, source)) !== 'match') {
      if (line.partial) this.consumed = consumedBefore
      return
    }
    if (this.ended) return
    this.pass(atSeconds)
  }

  private async verdict(pattern: number, line: ConsoleLine, source: string) {
    const verdict = await this.matcher.match(pattern, line)
    if (verdict === 'over-budget')
      this.warnings.push(`/${source}/ took over its budget on a console line (catastrophic backtracking?); the line counted as no match: ${JSON.stringify(line.text.slice(0, 80))}`)
    return verdict
  }

  private pass(atSeconds: number): void {
    clearTimeout(this.stepTimer)
    const result = this.results[this.current]!
    result.outcome = 'passed'
    result.atSeconds = round(atSeconds)
    result.seconds = round(Math.max(0, atSeconds - this.stepStarted))
    this.enterStep(this.current + 1)
  }

  private enterStep(index: number): void {
    this.current = index
    const control = this.control!
    this.stepStarted = control.now()
    const step = this.steps[index]
    if (!step) {
      this.endWith({outcome: 'passed', atSeconds: control.now()}, 0)
      return
    }
    if ('send' in step) {
      control.send(`${step.send}\n`)
      this.pass(control.now())
      return
    }
    if ('expect' in step && step.timeout !== undefined) {
      const timeout = step.timeout
      this.stepTimer = setTimeout(() => {
        if (this.ended) return
        this.endWith({outcome: 'timeout', atSeconds: control.now(), reason: `step ${index + 1} (${describeStep(step)}) not seen within its timeout of ${timeout}s`}, 0)
      }, timeout * 1000)
    }
  }

  private judgeExit(step: Extract<ConsoleStep, {expectExit: unknown}>, exitCode: number | null, atSeconds: number, qemuError: string | undefined): SessionEnd {
    // QEMU's own failure exits 1, which isa-debug-exit also gives for status 0: its error line tells them apart.
    if (exitCode === 1 && qemuError)
      return this.endWith({outcome: 'failed', atSeconds, reason: `step ${this.current + 1} (${describeStep(step)}): QEMU itself failed (exit 1, not a guest status): ${qemuError}`})
    const status = guestStatusOf(exitCode)
    const wanted = step.expectExit
    const ok = wanted === true ? exitCode === 0 || status === 0 : status === wanted
    const result = this.results[this.current]!
    result.status = status
    if (ok) {
      this.pass(atSeconds)
      return this.ended ?? {outcome: 'passed', atSeconds}
    }
    const got = status === undefined ? `QEMU exit code ${exitCode} (no isa-debug-exit status)` : `status ${status}`
    return this.endWith({outcome: 'failed', atSeconds, reason: `step ${this.current + 1} (${describeStep(step)}): the guest powered off with ${got}`})
  }

  private endWith(end: SessionEnd, stopAfterSeconds?: number): SessionEnd {
    if (this.ended) return this.ended
    this.ended = end
    clearTimeout(this.stepTimer)
    const result = this.results[this.current]
    if (result && end.outcome !== 'passed') {
      result.outcome = end.outcome
      result.atSeconds = round(end.atSeconds)
      result.seconds = round(Math.max(0, end.atSeconds - this.stepStarted))
      result.detail = end.reason
    }
    if (stopAfterSeconds !== undefined) this.control?.stop(stopAfterSeconds)
    return end
  }
}

const stepKind = (step: ConsoleStep): StepResult['kind'] => ('expect' in step ? 'expect' : 'send' in step ? 'send' : 'expect-exit')

/** QEMU's own error line on stderr ("qemu-system-x86_64: -drive ...: Could not open ..."); warnings do not count. */
export function qemuErrorOf(stderr: string | undefined): string | undefined {
  return stderr?.split('\n').find((line) => /^qemu-system[^:]*: (?!warning:|terminating on signal)/.test(line))?.trim()
}

/**
 * The status the guest wrote to QEMU's isa-debug-exit port: QEMU exits with (status << 1) | 1.
 * An even code (0: a plain power-off) carries no status.
 */
export const guestStatusOf = (exitCode: number | null): number | undefined =>
  exitCode !== null && exitCode % 2 === 1 ? exitCode >> 1 : undefined
