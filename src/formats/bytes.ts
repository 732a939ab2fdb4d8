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
