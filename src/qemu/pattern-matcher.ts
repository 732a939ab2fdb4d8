// Console patterns run in a worker thread (pattern-worker.ts), one line at a time, each line with a
// time budget. A pattern that backtracks catastrophically (`(a+)+b` against a long run of `a`s)
// would block whichever thread runs it; on the main thread that would hold up the deadline timer
// and the SIGTERM handler. In the worker it only costs the budget: the worker is terminated, a
// fresh one takes the next line, and the line counts as not matching (with a warning).
import type {Worker} from 'node:worker_threads'
import {StagexError} from '../errors.js'
import {startWorker, workerUrl} from '../threads.js'
import type {ConsoleLine} from './console-lines.js'

/** Far above what any sane pattern needs on one line (microseconds), far below any deadline. */
export const LINE_BUDGET_MS = 1000

export type LineVerdict = 'match' | 'no-match' | 'over-budget'

/** Compiles every source once on the main thread (compiling never backtracks): a typo is a usage error before QEMU starts. */
export function checkPatterns(sources: string[], what: string): void {
  for (const source of sources) {
    try {
      new RegExp(source)
    } catch (error) {
      throw new StagexError('usage', `invalid ${what} regular expression ${JSON.stringify(source)}: ${(error as Error).message}`)
    }
  }
}

interface Running {
  worker: Worker
  ready: Promise<void>
}

export class PatternMatcher {
  private running: Running | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private nextId = 0
  private closed = false

  constructor(
    private readonly sources: string[],
    private readonly budgetMs = LINE_BUDGET_MS,
  ) {}

  /** Whether pattern number `pattern` matches `line`; jobs run one after another, in the order asked. */
  match(pattern: number, line: ConsoleLine): Promise<LineVerdict> {
    const job = this.queue.then(() => this.run(pattern, line))
    this.queue = job.catch(() => undefined)
    return job
  }

  async close(): Promise<void> {
    this.closed = true
    const running = this.running
    this.running = undefined
    await running?.worker.terminate()
  }

  private start(): Running {
    const worker = startWorker(workerUrl(import.meta.url, 'pattern-worker'), {sources: this.sources})
    worker.unref()
    // The budget starts when the worker can answer: loading it (tsx in tests) is not the pattern's time.
    const ready = new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve())
      worker.once('error', reject)
    })
    worker.postMessage({id: -1, pattern: 0, line: '', partial: false})
    return {worker, ready}
  }

  private async run(pattern: number, line: ConsoleLine): Promise<LineVerdict> {
    if (this.closed) return 'no-match'
    this.running ??= this.start()
    const {worker, ready} = this.running
    await ready
    const id = this.nextId++
    return new Promise<LineVerdict>((resolve, reject) => {
      const onMessage = (reply: {id: number; matched: boolean}) => {
        if (reply.id !== id) return
        finish()
        resolve(reply.matched ? 'match' : 'no-match')
      }
      const onError = (error: Error) => {
        finish()
        if (this.running?.worker === worker) this.running = undefined
        reject(error)
      }
      const timer = setTimeout(() => {
        finish()
        // The worker may be stuck in the pattern for minutes: end it; the next line gets a new one.
        if (this.running?.worker === worker) this.running = undefined
        void worker.terminate()
        resolve('over-budget')
      }, this.budgetMs)
      const finish = () => {
        clearTimeout(timer)
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.unref()
      }
      worker.ref()
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.postMessage({id, pattern, line: line.text, partial: line.partial})
    })
  }
}
