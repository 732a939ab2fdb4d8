// Worker thread of src/image/parallel-gzip.ts: compresses one block of the blocked gzip method per
// job with the pure compressBlock (through src/threads.ts's serveJobs), and sends the bytes back
// transferred, not copied, with the block's own buffer, which the main thread fills again (so a
// run allocates a few blocks, not one per MiB). A failure is reported for its job and the worker
// carries on.

import {type BlockJob, compressBlock} from '../formats/gzip.js'
import {serveJobs} from '../threads.js'

/** main -> worker: one block (its buffer transferred) and the level. */
export interface GzipJob extends BlockJob {
  level: number
}

/** worker -> main: the compressed bytes, and the block's buffer back. */
export interface GzipReply {
  output: Uint8Array
  block: Uint8Array
}

// compressBlock returns a buffer of its own, so moving it costs nothing and shares nothing.
serveJobs<GzipJob, GzipReply>(
  (job) => ({output: compressBlock(job, job.level), block: job.data}),
  ({output, block}) => [output.buffer as ArrayBuffer, ...ownedBuffer(block)],
)

/** The buffer a view owns whole (so it can move), or none. */
function ownedBuffer(view: Uint8Array): ArrayBuffer[] {
  const b = view.buffer
  return b instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === b.byteLength ? [b] : []
}
