// Writing a large output off the main thread. A writer (the rootfs tar) yields its own bytes
// (headers, padding) and references to file content in the spool; a sink worker reads those ranges,
// hashes everything and writes it, so the main thread only makes headers. The file appears under
// its name only when complete (temp file + rename), as writeFileAtomically does.
import {rename, rm} from 'node:fs/promises'
import type {ContentRef} from '../rootfs/tree.js'
import {WorkerPool, workerUrl} from '../threads.js'
import {claimTempPath, releaseTempPath, type WrittenFile} from './atomic.js'
import {diskFullError} from './disk-full.js'

/** Content the sink reads from the spool itself. */
export interface SpoolRange {
  spool: ContentRef
}

export type SinkSegment = Uint8Array | SpoolRange

export type SinkJob =
  | {op: 'open'; path: string}
  | {op: 'write'; segments: (Uint8Array | ContentRef)[]}
  | {op: 'close'}
  | {op: 'abort'}

export type SinkReply = {written: number} | WrittenFile

/** Bytes (or referenced bytes) sent to the worker in one message. */
const BATCH_BYTES = 4 * 1024 * 1024
/** Messages in flight before the producer waits: bounds the memory a fast producer can fill. */
const IN_FLIGHT = 4

const isRange = (segment: SinkSegment): segment is SpoolRange => !(segment instanceof Uint8Array)

/** Streams `segments` to `path` through a worker; returns the size and sha256 of what was written. */
export async function writeSegmentsAtomically(path: string, segments: AsyncIterable<SinkSegment> | Iterable<SinkSegment>): Promise<WrittenFile> {
  const temp = claimTempPath(path)
  const pool = new WorkerPool<SinkJob, SinkReply>(workerUrl(import.meta.url, 'file-sink-worker'), 'output writer', 1)
  const inFlight: Promise<SinkReply>[] = []
  try {
    await pool.run({op: 'open', path: temp})
    let batch: (Uint8Array | ContentRef)[] = []
    let transfer: ArrayBuffer[] = []
    let bytes = 0
    const send = async () => {
      if (batch.length === 0) return
      inFlight.push(pool.run({op: 'write', segments: batch}, transfer))
      batch = []
      transfer = []
      bytes = 0
      if (inFlight.length >= IN_FLIGHT) await inFlight.shift()
    }
    for await (const segment of segments) {
      if (isRange(segment)) {
        batch.push(segment.spool)
        bytes += segment.spool.size
      } else {
        // A view of part of a buffer is copied; a whole buffer moves to the worker.
        const whole = segment.byteOffset === 0 && segment.byteLength === segment.buffer.byteLength && segment.buffer instanceof ArrayBuffer
        const owned = whole ? segment : segment.slice()
        batch.push(owned)
        if (!transfer.includes(owned.buffer as ArrayBuffer)) transfer.push(owned.buffer as ArrayBuffer)
        bytes += owned.length
      }
      if (bytes >= BATCH_BYTES) await send()
    }
    await send()
    await Promise.all(inFlight.splice(0))
    const written = (await pool.run({op: 'close'})) as WrittenFile
    await rename(temp, path)
    releaseTempPath(temp)
    return written
  } catch (error) {
    await Promise.allSettled(inFlight)
    await pool.run({op: 'abort'}).catch(() => {})
    await rm(temp, {force: true})
    releaseTempPath(temp)
    throw diskFullError(error, path, 'the output') ?? error
  } finally {
    await pool.close()
  }
}
