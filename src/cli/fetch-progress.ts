// Download progress for pull, lock and build: on a terminal, one line redrawn in place (images and
// bytes); elsewhere one line per finished image; nothing at all with --json.
import type {FetchEvent} from '../pipeline/resolve.js'

const megabytes = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`

export function fetchProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): {onEvent: (event: FetchEvent) => void; done: () => void} {
  if (!enabled) return {onEvent: () => {}, done: () => {}}
  const tty = stream.isTTY === true
  let images = 0
  let fetched = 0
  let bytes = 0
  let totalBytes = 0
  let drawn = false
  let lastDraw = 0
  const draw = (force = false) => {
    if (!tty) return
    const now = Date.now()
    if (!force && now - lastDraw < 100) return
    lastDraw = now
    stream.write(`\r\u001B[2Kfetch: ${fetched}/${images} images, ${megabytes(bytes)} of ${megabytes(totalBytes)}`)
    drawn = true
  }
  const line = (text: string) => {
    if (drawn) stream.write('\r\u001B[2K')
    stream.write(`${text}\n`)
    drawn = false
    draw(true)
  }
  return {
    onEvent(event) {
      switch (event.type) {
        case 'resolved':
          images++
          totalBytes += event.bytesToFetch
          draw()
          break
        case 'bytes':
          bytes += event.count
          draw()
          break
        case 'image-fetched':
          fetched++
          if (tty) draw(true)
          else stream.write(`fetch: ${event.name} (${fetched}/${images})\n`)
          break
        case 'tag-moved':
          line(`warning: ${event.identity}:${event.tag} moved from ${event.from} to ${event.to}`)
          break
        case 'store-repair':
          line(`fetch: ${event.digest} in the store (${event.path}) no longer matches its name (it hashes to ${event.hashesTo}); downloading it again`)
          break
        case 'retry':
          line(`fetch: ${event.what}: ${event.reason}, retrying (attempt ${event.attempt + 1})`)
          break
      }
    },
    done() {
      if (drawn) stream.write('\n')
      drawn = false
    },
  }
}

/** Runs a fetching pipeline call with progress shown (unless `enabled` is false) and always closed. */
export async function withFetchProgress<T>(enabled: boolean, run: (onFetch: (event: FetchEvent) => void) => Promise<T>): Promise<T> {
  const progress = fetchProgress(enabled)
  try {
    return await run(progress.onEvent)
  } finally {
    progress.done()
  }
}
