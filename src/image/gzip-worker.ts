// Worker thread of src/image/parallel-gzip.ts: compresses one block of the blocked gzip method per
// job with the pure compressBlock (through src/threads.ts's serveJobs), and sends the bytes back
// transferred, not copied. A failure is reported for its job and the worker carries on.

import {type BlockJob, compressBlock} from '../formats/gzip.js'
import {serveJobs} from '../threads.js'

/** main -> worker: one block (its buffers transferred) and the level. */
export interface GzipJob extends BlockJob {
  level: number
}

// compressBlock returns a buffer of its own, so moving it costs nothing and shares nothing.
serveJobs<GzipJob, Uint8Array>(
  (job) => compressBlock(job, job.level),
  (output) => [output.buffer as ArrayBuffer],
)
