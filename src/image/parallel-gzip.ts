// The blocked gzip method of src/formats/gzip.ts on every core. The input is cut on the fixed
// block grid (BlockSplitter), each block is compressed by the pure compressBlock on a pool of
// worker threads (./gzip-worker), and the outputs are written in input order between one header
// and one trailer: one gzip member, byte for byte what gzipBlocksStream writes on one thread,
// for any thread count. Only the speed depends on the machine.
//
// Memory stays bounded: at most 2 x threads blocks are in flight (dispatched and not yet
// written). Block buffers are transferred to the workers and back, not copied. The pool is
// terminated when the generator ends, fails or is abandoned (return()/throw()); a worker with
// nothing to do is unref'd, so even a generator dropped without return() does not keep the
// process alive.

import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {availableParallelism} from 'node:os'
import {pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'
import {type BlockJob, BlockSplitter, checkLevel, GZIP_BLOCK_SIZE, gzipHeader} from '../formats/gzip.js'
import type {GzipWorkerReply, GzipWorkerRequest} from './gzip-worker.js'

export {GZIP_BLOCK_SIZE, GZIP_BLOCKS_METHOD, gzipBlocksMethod} from '../formats/gzip.js'

export interface GzipParallelOptions {
  /** 0..9, default 9. */
  level?: number
  /** Worker threads; default os.availableParallelism(). Never changes the output. */
  threads?: number
  /** Default GZIP_BLOCK_SIZE. Changes the output: part of the method (gzipBlocksMethod). */
  blockSize?: number
}

// The worker sits beside this module: .ts under tsx (tests, bin/dev.js), .js in dist/.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './gzip-worker.ts' : './gzip-worker.js', import.meta.url)

function startWorker(): Worker {
  if (!WORKER_URL.pathname.endsWith('.ts')) return new Worker(WORKER_URL)
  // tsx registers its hooks on the main thread only, so a worker started from the TypeScript
  // sources cannot load a .ts entry ("Unknown file extension .ts"): the worker registers tsx
  // through its API first, then imports the worker module.
  const code = `import(${JSON.stringify(tsxApiUrl())}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}) })`
  return new Worker(code, {eval: true})
}

/**
 * The ESM file of tsx's `tsx/esm/api` export, read from tsx's package.json: tsx may run this
 * module as CommonJS, where import.meta.resolve is missing and require.resolve would give the
 * CommonJS build, which does not work when imported.
 */
function tsxApiUrl(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json')
  const exported = (JSON.parse(readFileSync(manifest, 'utf8')) as {exports: Record<string, {import: {default: string}}>}).exports
  return new URL(exported['./esm/api'].import.default, pathToFileURL(manifest)).href
}

/** Buffers that may move to the worker: owned whole by the view, not shared, each listed once. */
function transferable(views: Uint8Array[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = []
  for (const v of views) {
    const b = v.buffer
    if (b instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === b.byteLength && !out.includes(b)) out.push(b)
  }
  return out
}

interface Slot {
  worker: Worker
  /** Jobs sent to this worker and not answered yet. */
  pending: number
}

interface Waiter {
  slot: Slot
  resolve: (output: Uint8Array) => void
  reject: (error: Error) => void
}

/**
 * A pool of up to `threads` gzip workers, started as needed. compress() runs compressBlock on one
 * of them. A worker that crashes fails the pool: every waiting job and every later one rejects.
 */
export class DeflatePool {
  readonly threads: number
  private readonly slots: Slot[] = []
  private readonly waiting = new Map<number, Waiter>()
  private nextId = 0
  private failure: Error | undefined
  private closed = false

  constructor(threads: number) {
    checkThreads(threads)
    this.threads = threads
  }

  /** Workers started so far. */
  get size(): number {
    return this.slots.length
  }

  /**
   * Compresses one block on a worker. Buffers the job owns whole are transferred: the caller
   * must not use job.data or job.dictionary afterwards.
   */
  compress(job: BlockJob, level: number): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.closed) return Promise.reject(new Error('gzip: the worker pool is closed'))
    const slot = this.pick()
    const id = this.nextId++
    return new Promise<Uint8Array>((resolve, reject) => {
      this.waiting.set(id, {slot, resolve, reject})
      if (slot.pending++ === 0) slot.worker.ref()
      const request: GzipWorkerRequest = {id, data: job.data, dictionary: job.dictionary, last: job.last, level}
      slot.worker.postMessage(request, transferable([job.data, job.dictionary]))
    })
  }

  /** Terminates every worker; jobs still waiting reject. Safe to call more than once. */
  async close(): Promise<void> {
    this.closed = true
    this.rejectAll(new Error('gzip: the worker pool was closed before the block was compressed'))
    await Promise.all(this.slots.map((s) => s.worker.terminate()))
  }

  /** An idle worker, else a new one while under `threads`, else the least busy. */
  private pick(): Slot {
    const idle = this.slots.find((s) => s.pending === 0)
    if (idle) return idle
    if (this.slots.length < this.threads) return this.start()
    return this.slots.reduce((a, b) => (b.pending < a.pending ? b : a))
  }

  private start(): Slot {
    const slot: Slot = {worker: startWorker(), pending: 0}
    const {worker} = slot
    worker.on('message', (reply: GzipWorkerReply) => this.answer(reply))
    worker.on('error', (error) => this.fail(error))
    worker.on('messageerror', (error) => this.fail(error))
    worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`gzip: a worker thread exited (code ${code}) while compressing`))
    })
    this.slots.push(slot)
    return slot
  }

  private answer(reply: GzipWorkerReply): void {
    const waiter = this.waiting.get(reply.id)
    if (!waiter) return
    this.waiting.delete(reply.id)
    // Idle workers must not keep the process alive (an abandoned generator never calls close()).
    if (--waiter.slot.pending === 0) waiter.slot.worker.unref()
    if ('error' in reply) {
      const error = new Error(`gzip worker: ${reply.error.name}: ${reply.error.message}`, {cause: reply.error.stack})
      waiter.reject(error)
    } else {
      waiter.resolve(reply.output)
    }
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

function checkThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`gzip: threads must be an integer >= 1, got ${threads}`)
}

interface InFlight {
  promise: Promise<Uint8Array>
  done: boolean
}

function track(promise: Promise<Uint8Array>): InFlight {
  const entry: InFlight = {promise, done: false}
  // Also marks a rejection as handled: it is rethrown where the entry is awaited, in order.
  promise.then(
    () => (entry.done = true),
    () => (entry.done = true),
  )
  return entry
}

/**
 * Gzips a stream with the blocked method on a pool of worker threads. The bytes equal
 * gzipBlocksStream's with the same level and block size, whatever `threads` and the chunking.
 */
export async function* gzipParallel(source: AsyncIterable<Uint8Array>, options: GzipParallelOptions = {}): AsyncGenerator<Uint8Array> {
  const level = options.level ?? 9
  checkLevel(level)
  const threads = options.threads ?? Math.max(1, availableParallelism())
  checkThreads(threads)
  const splitter = new BlockSplitter(options.blockSize ?? GZIP_BLOCK_SIZE)
  const pool = new DeflatePool(threads)
  const limit = 2 * threads
  const queue: InFlight[] = [] // in input order
  try {
    yield gzipHeader(level)
    for await (const chunk of source) {
      for (const job of splitter.push(chunk)) {
        while (queue.length >= limit) yield await queue.shift()!.promise
        queue.push(track(pool.compress(job, level)))
      }
      // Write what is ready without waiting, so finished blocks do not pile up.
      while (queue.length > 0 && queue[0].done) yield await queue.shift()!.promise
    }
    queue.push(track(pool.compress(splitter.end(), level)))
    while (queue.length > 0) yield await queue.shift()!.promise
    yield splitter.trailer()
  } finally {
    await pool.close()
  }
}
