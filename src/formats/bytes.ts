// Small byte helpers shared by the writers. Pure.

/** Bytes that a writer reads when it gets to them: the size is known up front (layouts are planned from sizes). */
export interface SizedSource {
  size: number
  /** The bytes, exactly `size` of them, as chunks of any length. */
  open(): Iterable<Uint8Array> | AsyncIterable<Uint8Array>
}

/** A SizedSource over bytes already in memory (small files: configs, loaders' text). */
export const bytesSource = (bytes: Uint8Array): SizedSource => ({size: bytes.length, open: () => [bytes]})

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
 * ones. The bytes are the same; only their grouping changes.
 */
export async function* coalesce(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, size = 1024 * 1024): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(size)
  let fill = 0
  for await (const chunk of chunks) {
    if (chunk.length >= SMALL_PIECE) {
      if (fill > 0) {
        yield buffer.subarray(0, fill)
        buffer = new Uint8Array(size)
        fill = 0
      }
      yield chunk
      continue
    }
    if (fill + chunk.length > size) {
      yield buffer.subarray(0, fill)
      buffer = new Uint8Array(size)
      fill = 0
    }
    buffer.set(chunk, fill)
    fill += chunk.length
  }
  if (fill > 0) yield buffer.subarray(0, fill)
}
