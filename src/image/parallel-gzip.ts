// The blocked gzip method of src/formats/gzip.ts on every core. The input is cut on the fixed
// block grid (BlockSplitter), each block is compressed by the pure compressBlock, and the outputs
// are written in input order between one header and one trailer: one gzip member, byte for byte
// what gzipBlocksStream writes on one thread, for any thread count. Only the speed depends on the
// machine.
//
// `threads` counts the calling thread: threads - 1 worker threads (src/threads.ts's WorkerPool
// running ./gzip-worker) take blocks, and a block that finds every worker busy is compressed here,
// between reads of the input. The caller's own work (making the cpio stream) is light, so this
// keeps every core busy with one V8 heap fewer than a worker per core: on the benchmark's image
// that is about 50 MB less peak RSS, for the same time.
//
// Memory stays bounded: at most 2 x threads blocks are in flight (dispatched and not yet
// written). Block buffers are transferred to the workers and back, not copied. The pool is
// closed when the generator ends, fails or is abandoned (return()/throw()); a worker with
// nothing to do is unref'd by the pool, so even a generator dropped without return() does not
// keep the process alive.

import {availableParallelism} from 'node:os'
import {type BlockJob, BlockSplitter, checkLevel, compressBlock, GZIP_BLOCK_SIZE, gzipHeader} from '../formats/gzip.js'
import {WorkerPool, workerUrl} from '../threads.js'
import type {GzipJob, GzipReply} from './gzip-worker.js'

export {GZIP_BLOCK_SIZE, GZIP_BLOCKS_METHOD, gzipBlocksMethod} from '../formats/gzip.js'

export interface GzipParallelOptions {
  /** 0..9, default 9. */
  level?: number
  /** Threads that compress, this one included (threads - 1 workers); default os.availableParallelism(). Never changes the output. */
  threads?: number
  /** Default GZIP_BLOCK_SIZE. Changes the output: part of the method (gzipBlocksMethod). */
  blockSize?: number
}

/** A pool of up to `threads` gzip workers (started as needed), for gzipParallel and tests. */
export function gzipWorkerPool(threads: number): WorkerPool<GzipJob, GzipReply> {
  return new WorkerPool<GzipJob, GzipReply>(workerUrl(import.meta.url, 'gzip-worker'), 'gzip', threads)
}

/**
 * Compresses one block on `pool`. A buffer the job's view owns whole is transferred: the caller
 * must not use job.data afterwards. A view into a larger or shared buffer is copied instead
 * (moving the buffer would take the bytes around it too). The block comes back to `recycle`.
 */
export async function compressOn(pool: WorkerPool<GzipJob, GzipReply>, job: BlockJob, level: number, recycle?: (block: Uint8Array) => void): Promise<Uint8Array> {
  const {output, block} = await pool.run({data: job.data, last: job.last, level}, transferable(job.data))
  recycle?.(block)
  return output
}

/** The buffer that may move to the worker: owned whole by the view and not shared, or none. */
function transferable(view: Uint8Array): ArrayBuffer[] {
  const b = view.buffer
  return b instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === b.byteLength ? [b] : []
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
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`gzip: threads must be an integer >= 1, got ${threads}`)
  const splitter = new BlockSplitter(options.blockSize ?? GZIP_BLOCK_SIZE)
  const pool = threads > 1 ? gzipWorkerPool(threads - 1) : undefined
  const limit = 2 * threads
  const queue: InFlight[] = [] // in input order
  const recycle = (block: Uint8Array) => splitter.recycle(block)
  // A worker if one is free, else this thread, now.
  const compress = (job: BlockJob): InFlight => {
    if (pool?.hasIdleWorker) return track(compressOn(pool, job, level, recycle))
    const output = compressBlock(job, level)
    recycle(job.data)
    return {promise: Promise.resolve(output), done: true}
  }
  try {
    yield gzipHeader(level)
    for await (const chunk of source) {
      for (const job of splitter.push(chunk)) {
        while (queue.length >= limit) yield await queue.shift()!.promise
        queue.push(compress(job))
      }
      // Write what is ready without waiting, so finished blocks do not pile up.
      while (queue.length > 0 && queue[0].done) yield await queue.shift()!.promise
    }
    queue.push(compress(splitter.end()))
    while (queue.length > 0) yield await queue.shift()!.promise
    yield splitter.trailer()
  } finally {
    await pool?.close()
  }
}
