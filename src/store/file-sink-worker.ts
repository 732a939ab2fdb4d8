// Worker thread of src/store/file-sink.ts: one output file per worker. Bytes and spool ranges are
// gathered into one large buffer (ranges are read straight into it), which is hashed and written
// when full: a few large writes, whatever the size of the pieces.
import {createHash, type Hash} from 'node:crypto'
import {closeSync, openSync, readSync, writeSync} from 'node:fs'
import type {ContentRef} from '../rootfs/tree.js'
import {serveJobs} from '../threads.js'
import {diskFullError} from './disk-full.js'
import type {SinkJob, SinkReply} from './file-sink.js'

const BUFFER_BYTES = 4 * 1024 * 1024

let out: {fd: number; path: string; hash: Hash; size: number} | undefined
const readFds = new Map<string, number>()
const buffer = Buffer.allocUnsafe(BUFFER_BYTES)
let fill = 0

function flush(): void {
  if (fill === 0) return
  const file = out!
  const bytes = buffer.subarray(0, fill)
  file.hash.update(bytes)
  let done = 0
  try {
    while (done < bytes.length) done += writeSync(file.fd, bytes, done, bytes.length - done)
  } catch (error) {
    throw diskFullError(error, file.path, 'the output') ?? error
  }
  file.size += bytes.length
  fill = 0
}

function put(bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; ) {
    if (fill === BUFFER_BYTES) flush()
    const n = Math.min(BUFFER_BYTES - fill, bytes.length - at)
    buffer.set(bytes.subarray(at, at + n), fill)
    fill += n
    at += n
  }
}

function copyRange(ref: ContentRef): void {
  let fd = readFds.get(ref.path)
  if (fd === undefined) readFds.set(ref.path, (fd = openSync(ref.path, 'r')))
  for (let at = 0; at < ref.size; ) {
    if (fill === BUFFER_BYTES) flush()
    const n = readSync(fd, buffer, fill, Math.min(BUFFER_BYTES - fill, ref.size - at), ref.offset + at)
    if (n === 0) throw new Error(`${ref.path}: ends before byte ${ref.offset + ref.size}`)
    fill += n
    at += n
  }
}

function closeAll(): void {
  if (out) closeSync(out.fd)
  out = undefined
  fill = 0
  for (const fd of readFds.values()) closeSync(fd)
  readFds.clear()
}

serveJobs<SinkJob, SinkReply>((job) => {
  switch (job.op) {
    case 'open':
      out = {fd: openSync(job.path, 'w', 0o644), path: job.path, hash: createHash('sha256'), size: 0}
      fill = 0
      return {written: 0}
    case 'write':
      for (const segment of job.segments) {
        if (segment instanceof Uint8Array) put(segment)
        else copyRange(segment)
      }
      return {written: out!.size + fill}
    case 'close': {
      flush()
      const written = {size: out!.size, sha256: out!.hash.digest('hex')}
      closeAll()
      return written
    }
    case 'abort':
      closeAll()
      return {written: 0}
  }
})
