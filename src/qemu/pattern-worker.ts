// The thread that runs console patterns (pattern-matcher.ts). A regular expression that
// backtracks catastrophically blocks the thread it runs on; here that is this worker, which the
// main thread terminates when a line takes longer than its budget, so the deadline timer and the
// signal handlers on the main thread always run.
import {parentPort, workerData} from 'node:worker_threads'
import {matchesLine} from './line-match.js'

const patterns = (workerData as {sources: string[]}).sources.map((source) => new RegExp(source))

export interface PatternJob {
  id: number
  pattern: number
  line: string
  partial: boolean
}

parentPort!.on('message', (job: PatternJob) => {
  // id -1 asks whether the worker is up (pattern-matcher.ts starts a line's budget only then).
  if (job.id < 0) return parentPort!.postMessage({id: job.id, matched: false})
  parentPort!.postMessage({id: job.id, matched: matchesLine(patterns[job.pattern]!, job.line, job.partial)})
})
