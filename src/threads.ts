// Worker threads for the data path (layer reading, block compression): a small pool that runs one
// module's job handler on up to N threads, with results in the order asked for by whoever awaits
// them. Typed errors cross the thread boundary with their kind, so a bad layer read in a worker
// still exits 4 with its message.
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {availableParallelism} from 'node:os'
import {pathToFileURL} from 'node:url'
import {parentPort, Worker} from 'node:worker_threads'
import {type ErrorKind, isStagexError, StagexError} from './errors.js'

/** How an error travels between threads. */
export interface ThreadError {
  name: string
  message: string
  stack?: string
  kind?: ErrorKind
  details?: Record<string, unknown>
}

export function toThreadError(error: unknown): ThreadError {
  const e = error instanceof Error ? error : new Error(String(error))
  return isStagexError(e) ? {name: e.name, message: e.message, kind: e.kind, details: e.details} : {name: e.name, message: e.message, stack: e.stack}
}

export function fromThreadError(error: ThreadError): Error {
  if (error.kind) return new StagexError(error.kind, error.message, error.details)
  return Object.assign(new Error(`${error.name}: ${error.message}`), {stack: error.stack})
}

type Reply<R> = {id: number; result: R} | {id: number; error: ThreadError}

/** Inside a worker module: answers each job with `handle`. */
export function serveJobs<J, R>(handle: (job: J) => Promise<R> | R, transferOf: (result: R) => ArrayBuffer[] = () => []): void {
  if (!parentPort) throw new Error('this module runs as a worker thread')
  const port = parentPort
  port.on('message', async ({id, job}: {id: number; job: J}) => {
    try {
      const result = await handle(job)
      port.postMessage({id, result} satisfies Reply<R>, transferOf(result))
    } catch (error) {
      port.postMessage({id, error: toThreadError(error)} satisfies Reply<R>)
    }
  })
}

/** The worker module `file` beside `base` (an import.meta.url): .ts under tsx (tests), .js in dist/. */
export function workerUrl(base: string, file: string): URL {
  return new URL(base.endsWith('.ts') ? `./${file}.ts` : `./${file}.js`, base)
}

/**
 * A data-path worker's young generation, in MB. V8's default (up to 48 MB on 64-bit) is sized for
 * throughput on a heap that holds objects; these workers hold few (headers, a block or two) and
 * their bulk is buffers outside the heap, so a small one costs them nothing measurable and saves
 * about 10 MB of RSS per worker (measured on the benchmark's image).
 */
const WORKER_YOUNG_GENERATION_MB = 8

/** Starts the worker module `url` (from workerUrl), with `workerData` when given. */
export function startWorker(url: URL, workerData?: unknown): Worker {
  const resourceLimits = {maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB}
  if (!url.pathname.endsWith('.ts')) return new Worker(url, {resourceLimits, workerData})
  // tsx registers its hooks on the main thread only, so a worker started from the TypeScript
  // sources cannot load a .ts entry: the worker registers tsx through its API first.
  const code = `import(${JSON.stringify(tsxApiUrl())}).then((api) => { api.register(); return import(${JSON.stringify(url.href)}) })`
  return new Worker(code, {eval: true, resourceLimits, workerData})
}

/** tsx's `tsx/esm/api` ESM file, from its package.json (this module may run as CommonJS under tsx). */
function tsxApiUrl(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json')
  const exported = (JSON.parse(readFileSync(manifest, 'utf8')) as {exports: Record<string, {import: {default: string}}>}).exports
  return new URL(exported['./esm/api'].import.default, pathToFileURL(manifest)).href
}

interface Slot {
  worker: Worker
  pending: number
}

/**
 * Up to `threads` workers of one module, started as needed. A worker that dies fails every job
 * waiting and every later one. Idle workers do not keep the process alive; close() ends them.
 */
export class WorkerPool<J, R> {
  readonly threads: number
  private readonly slots: Slot[] = []
  private readonly waiting = new Map<number, {slot: Slot; resolve: (result: R) => void; reject: (error: Error) => void}>()
  private nextId = 0
  private failure: Error | undefined
  private closed = false

  constructor(
    private readonly url: URL,
    private readonly what: string,
    threads = availableParallelism(),
  ) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`${what}: threads must be an integer >= 1, got ${threads}`)
    this.threads = threads
  }

  /** Workers started so far (at most `threads`): tests check that a pool stays within its bound. */
  get size(): number {
    return this.slots.length
  }

  /** Whether a job run now would start at once: a worker is idle, or one more may start. */
  get hasIdleWorker(): boolean {
    return this.slots.length < this.threads || this.slots.some((s) => s.pending === 0)
  }

  /** Runs one job; buffers in `transfer` move to the worker and must not be used afterwards. */
  run(job: J, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.closed) return Promise.reject(new Error(`${this.what}: the worker pool is closed`))
    const slot = this.pick()
    const id = this.nextId++
    return new Promise<R>((resolve, reject) => {
      this.waiting.set(id, {slot, resolve, reject})
      if (slot.pending++ === 0) slot.worker.ref()
      slot.worker.postMessage({id, job}, transfer)
    })
  }

  /** Ends every worker; jobs still waiting reject. Safe to call more than once. */
  async close(): Promise<void> {
    this.closed = true
    this.rejectAll(new Error(`${this.what}: the worker pool was closed before the job ended`))
    await Promise.all(this.slots.map((s) => s.worker.terminate()))
  }

  private pick(): Slot {
    const idle = this.slots.find((s) => s.pending === 0)
    if (idle) return idle
    if (this.slots.length < this.threads) return this.start()
    return this.slots.reduce((a, b) => (b.pending < a.pending ? b : a))
  }

  private start(): Slot {
    const slot: Slot = {worker: startWorker(this.url), pending: 0}
    const {worker} = slot
    worker.on('message', (reply: Reply<R>) => this.answer(reply))
    worker.on('error', (error) => this.fail(error))
    worker.on('messageerror', (error) => this.fail(error))
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`${this.what}: a worker thread exited (code ${code})`))
    })
    this.slots.push(slot)
    return slot
  }

  private answer(reply: Reply<R>): void {
    const waiter = this.waiting.get(reply.id)
    if (!waiter) return
    this.waiting.delete(reply.id)
    // Idle workers must not keep the process alive (a caller that never calls close()).
    if (--waiter.slot.pending === 0) waiter.slot.worker.unref()
    if ('error' in reply) waiter.reject(fromThreadError(reply.error))
    else waiter.resolve(reply.result)
  }

  private fail(error: Error): void {
    if (this.failure) return
    this.failure = error instanceof Error ? error : new Error(String(error))
    this.rejectAll(this.failure)
    for (const s of this.slots) void s.worker.terminate()
  }

  private rejectAll(error: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(error)
    this.waiting.clear()
  }
}
