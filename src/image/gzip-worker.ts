// Worker thread of src/image/parallel-gzip.ts: compresses one block of the blocked gzip method
// per message with the pure compressBlock, and sends the bytes back, transferred (not copied).
// A failure is reported for its job and the worker carries on; the pool decides what to do.

import {parentPort} from 'node:worker_threads'
import {compressBlock} from '../formats/gzip.js'

/** main -> worker: one block (its buffers transferred). */
export interface GzipWorkerRequest {
  id: number
  data: Uint8Array
  dictionary: Uint8Array
  last: boolean
  level: number
}

/** worker -> main: the block's compressed bytes, or why there are none. */
export type GzipWorkerReply = {id: number; output: Uint8Array} | {id: number; error: {name: string; message: string; stack?: string}}

if (!parentPort) throw new Error('gzip-worker: must run as a worker thread (src/image/parallel-gzip.ts starts it)')
const port = parentPort

port.on('message', (request: GzipWorkerRequest) => {
  let reply: GzipWorkerReply
  try {
    reply = {id: request.id, output: compressBlock(request, request.level)}
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error))
    port.postMessage({id: request.id, error: {name: e.name, message: e.message, stack: e.stack}} satisfies GzipWorkerReply)
    return
  }
  // compressBlock returns a buffer of its own, so moving it costs nothing and shares nothing.
  port.postMessage(reply, [reply.output.buffer as ArrayBuffer])
})
