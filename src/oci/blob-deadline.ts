// A blob download's overall deadline, besides the connection's idle timeout: a registry that sends
// one byte now and then never trips the idle timeout, but it cannot keep a pull waiting forever.
import {unreachableError, type StagexError} from '../errors.js'

/** The slowest transfer a download may average before it is given up. */
export const BLOB_FLOOR_BYTES_PER_SECOND = 256 * 1024

/** Time every download gets on top of its size at the floor rate (connecting, a slow first byte). */
export const BLOB_DEADLINE_BASE_MS = 30_000

export interface BlobDeadlinePolicy {
  baseMs: number
  floorBytesPerSecond: number
}

export const DEFAULT_BLOB_DEADLINE: BlobDeadlinePolicy = {baseMs: BLOB_DEADLINE_BASE_MS, floorBytesPerSecond: BLOB_FLOOR_BYTES_PER_SECOND}

/** Base time + the blob's size at the floor rate. */
export const blobDeadlineMs = (size: number, policy: BlobDeadlinePolicy): number =>
  policy.baseMs + Math.ceil((size / policy.floorBytesPerSecond) * 1000)

const describeRate = (bytesPerSecond: number) =>
  bytesPerSecond % 1024 === 0 ? `${bytesPerSecond / 1024} KiB/s` : `${bytesPerSecond} bytes/s`

/** One download's clock: counts the bytes received, and aborts `signal` with a typed error at the deadline. */
export interface BlobDeadline {
  readonly signal: AbortSignal
  /** Adds bytes that arrived. */
  received(count: number): void
  /** The download ended (done or failed): the clock stops. */
  stop(): void
}

/**
 * `what` names the registry and repository, `label` the download ("blob sha256:...", "manifest latest").
 * `size` is what the download should bring, when known; a manifest's is not, so its deadline is
 * reckoned from `deadlineBytes` (the most a manifest may be). The error is exit 7, worth a retry.
 */
export function startBlobDeadline(
  what: string,
  label: string,
  size: number | undefined,
  policy: BlobDeadlinePolicy,
  deadlineBytes: number = size ?? 0,
): BlobDeadline {
  const ms = blobDeadlineMs(deadlineBytes, policy)
  const controller = new AbortController()
  let bytes = 0
  const expired = (): StagexError =>
    unreachableError(
      `${what}: ${label} is too slow: ${bytes}${size === undefined ? '' : ` of ${size}`} bytes arrived within its ${(ms / 1000).toFixed(1)} s deadline ` +
        `(${policy.baseMs / 1000} s + ${size === undefined ? 'the largest manifest' : 'its size'} at ${describeRate(policy.floorBytesPerSecond)}); the registry is stalled or overloaded, try again later`,
      {bytesReceived: bytes, size, deadlineMs: ms},
    )
  const timer = setTimeout(() => controller.abort(expired()), ms)
  return {
    signal: controller.signal,
    received: (count) => {
      bytes += count
    },
    stop: () => clearTimeout(timer),
  }
}
