// Reads a writer's stream to its end while sampling the process's RSS every 16 MiB: how the
// streaming tests show that memory does not grow with the image.
const MiB = 1024 * 1024

export interface DrainedStream {
  size: number
  /** The highest RSS seen while reading, less the RSS before. */
  rssGrowth: number
}

export async function drainSamplingRss(stream: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, onChunk?: (chunk: Uint8Array) => void): Promise<DrainedStream> {
  const before = process.memoryUsage().rss
  let peak = before
  let size = 0
  for await (const chunk of stream) {
    onChunk?.(chunk)
    size += chunk.length
    if ((size & (16 * MiB - 1)) < chunk.length) peak = Math.max(peak, process.memoryUsage().rss)
  }
  peak = Math.max(peak, process.memoryUsage().rss)
  return {size, rssGrowth: peak - before}
}
