// Small byte helpers shared by the writers. Pure.

/** Bytes that a writer reads when it gets to them: the size is known up front (layouts are planned from sizes). */
export interface SizedSource {
  size: number
  /** The bytes, exactly `size` of them, as chunks of any length. */
  open(): Iterable<Uint8Array> | AsyncIterable<Uint8Array>
}

/** A SizedSource over bytes already in memory (small files: configs, loaders' text). */
export const bytesSource = (bytes: Uint8Array): SizedSource => ({size: bytes.length, open: () => [bytes]})

/** `n` zero bytes as views of one reused buffer of zeros (never one allocation of the whole run). */
export function* zeroFill(zero: Uint8Array, n: number): Generator<Uint8Array> {
  while (n > 0) {
    const k = Math.min(n, zero.length)
    yield zero.subarray(0, k)
    n -= k
  }
}

/** One Uint8Array holding the parts in order. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/**
 * Passes the chunks through and fails when their total is not `size` (a source that changed under us):
 * `onWrongSize` makes the error, so each caller names what it was reading.
 */
export async function* exactly(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  size: number,
  onWrongSize: (seen: number) => Error,
): AsyncGenerator<Uint8Array> {
  let seen = 0
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue
    seen += chunk.length
    if (seen > size) throw onWrongSize(seen)
    yield chunk
  }
  if (seen !== size) throw onWrongSize(seen)
}

/** Pieces this small are copied into a shared chunk; larger ones pass through as they are. */
const SMALL_PIECE = 64 * 1024

/**
 * Joins small pieces (headers, padding, small files) into chunks of about `size` bytes, so that what
 * consumes the stream (a hash, a compressor, a file) sees a few large chunks instead of many tiny
 * ones. The bytes are the same; only their grouping changes. A yielded chunk may be a view of part
 * of a larger buffer whose other part is filled later: consumers copy such a view, never take it over.
 */
export async function* coalesce<T = never>(chunks: Iterable<Uint8Array | T> | AsyncIterable<Uint8Array | T>, size = 1024 * 1024): AsyncGenerator<Uint8Array | T> {
  let buffer = new Uint8Array(size)
  let start = 0 // buffer[start, fill) is not yielded yet
  let fill = 0
  function* flush(): Generator<Uint8Array> {
    if (fill > start) yield buffer.subarray(start, fill)
    start = fill
  }
  for await (const chunk of chunks) {
    // Anything that is not bytes (a marker for content the consumer supplies) passes through in order.
    if (!(chunk instanceof Uint8Array)) {
      yield* flush()
      yield chunk
      continue
    }
    if (chunk.length >= SMALL_PIECE) {
      yield* flush()
      yield chunk
      continue
    }
    if (fill + chunk.length > size) {
      yield* flush()
      buffer = new Uint8Array(size)
      start = fill = 0
    }
    buffer.set(chunk, fill)
    fill += chunk.length
  }
  yield* flush()
}
