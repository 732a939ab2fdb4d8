// The config a kernel carries inside itself (CONFIG_IKCONFIG=y): kernel/configs.c embeds the
// .config, gzip-compressed, between the markers "IKCFG_ST" and "IKCFG_ED". In a bzImage the
// kernel (with those markers) is itself compressed, so, like scripts/extract-ikconfig in the Linux
// tree, we have to decompress the payload to look for them. extract-ikconfig tries every
// decompressor at every magic it finds; we read the payload's place from the boot protocol
// header (setup_sects, payload_offset, payload_length), name its compression by its magic, and
// decompress only gzip (node:zlib, reading only: no output byte comes from it). For xz, zstd, lz4,
// bzip2, lzma and lzo the check is skipped with a note: we do not carry those decompressors.
import {createInflateRaw, gunzipSync} from 'node:zlib'

export type KernelCompression = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'bzip2' | 'lzma' | 'lzo'

export type IkconfigResult =
  /** The embedded config's text. */
  | {kind: 'found'; compression: KernelCompression | 'none'; config: string}
  /** The kernel was read whole and has no markers: IKCONFIG not set (or =m: then it is in configs.ko). */
  | {kind: 'absent'; compression: KernelCompression | 'none'; note: string}
  /** Not read: a compression we do not decompress, or not a bzImage we understand. */
  | {kind: 'skipped'; compression?: KernelCompression; note: string}

const START = Buffer.from('IKCFG_ST')
const END = Buffer.from('IKCFG_ED')
/** The embedded config is a few tens of KiB; anything longer between the markers is not one. */
const MAX_EMBEDDED = 4 << 20

// The magics extract-ikconfig and lib/decompress.c look for.
const MAGICS: readonly [KernelCompression, number[]][] = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
]

export function compressionOf(bytes: Uint8Array): KernelCompression | undefined {
  return MAGICS.find(([, magic]) => magic.every((b, i) => bytes[i] === b))?.[0]
}

export interface BzImagePayload {
  /** Byte offset of the compressed kernel in the file. */
  offset: number
  length: number
}

/** The compressed kernel's place, from the x86 boot protocol header (2.08 and later have payload_offset). */
export function bzImagePayload(image: Uint8Array): BzImagePayload | undefined {
  if (image.length < 0x250) return undefined
  const view = Buffer.from(image.buffer, image.byteOffset, image.byteLength)
  if (view.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined
  if (view.readUInt16LE(0x206) < 0x0208) return undefined
  // setup_sects 0 means 4 (boot protocol); the protected-mode kernel follows the boot sector and setup.
  const setupSects = view[0x1f1] || 4
  const offset = (setupSects + 1) * 512 + view.readUInt32LE(0x248)
  const length = view.readUInt32LE(0x24c)
  if (length === 0 || offset + length > image.length) return undefined
  return {offset, length}
}

export async function readIkconfig(image: Uint8Array): Promise<IkconfigResult> {
  const payload = bzImagePayload(image)
  if (!payload) {
    // An uncompressed kernel (vmlinux) has the markers as they are. A bzImage is not searched so:
    // deflate's stored blocks can hold the markers literally, cut from the config they enclose.
    const plain = embeddedBetweenMarkers(Buffer.from(image.buffer, image.byteOffset, image.byteLength))
    if (plain) return found('none', plain)
    return {kind: 'skipped', note: 'not a bzImage (no "HdrS" boot header of protocol 2.08 or later) and no IKCFG_ST marker in it'}
  }
  const bytes = image.subarray(payload.offset, payload.offset + payload.length)
  const compression = compressionOf(bytes)
  if (compression === undefined)
    return {kind: 'skipped', note: `the bzImage's payload (at byte ${payload.offset}) starts with no compression magic we know`}
  if (compression !== 'gzip')
    return {kind: 'skipped', compression, note: `the kernel is ${compression}-compressed; only gzip kernels are read here, so its embedded config (if any) is not compared`}
  const deflate = gzipBodyOffset(bytes)
  if (deflate === undefined) return {kind: 'skipped', compression, note: 'the gzip payload has a broken header'}
  return scanDeflate(bytes.subarray(deflate))
}

/** Where a gzip member's deflate data starts (RFC 1952: fixed header, then FEXTRA, FNAME, FCOMMENT, FHCRC). */
function gzipBodyOffset(bytes: Uint8Array): number | undefined {
  if (bytes.length < 10) return undefined
  const flags = bytes[3]!
  let at = 10
  if (flags & 0x04) at += 2 + (bytes[at]! | (bytes[at + 1]! << 8))
  for (const flag of [0x08, 0x10]) {
    if (!(flags & flag)) continue
    while (at < bytes.length && bytes[at] !== 0) at++
    at++
  }
  if (flags & 0x02) at += 2
  return at < bytes.length ? at : undefined
}

function found(compression: KernelCompression | 'none', gz: Buffer): IkconfigResult {
  try {
    return {kind: 'found', compression, config: gunzipSync(gz).toString('utf8')}
  } catch {
    return {kind: 'skipped', compression: compression === 'none' ? undefined : compression, note: 'IKCFG_ST..IKCFG_ED holds no readable gzip data'}
  }
}

function embeddedBetweenMarkers(bytes: Buffer): Buffer | undefined {
  const start = bytes.indexOf(START)
  if (start < 0) return undefined
  const end = bytes.indexOf(END, start + START.length)
  if (end < 0 || end - start > MAX_EMBEDDED) return undefined
  return bytes.subarray(start + START.length, end)
}

/**
 * Inflates the kernel piece by piece and stops at IKCFG_ED: the decompressed kernel (tens of MiB)
 * is never held whole, only the bytes between the markers and a marker-long tail of the last piece.
 * Raw inflate of the member's deflate data, not gunzip: a bzImage's gzip payload ends with 4 size
 * bytes after the member, which node's gunzip takes for a broken second member (and then drops its
 * last output), while raw inflate stops at the end of the deflate stream and ignores what follows.
 */
function scanDeflate(payload: Uint8Array): Promise<IkconfigResult> {
  return new Promise((resolve) => {
    const gunzip = createInflateRaw()
    let settled = false
    let tail = Buffer.alloc(0)
    let collected: Buffer[] | undefined
    let collectedLength = 0
    const finish = (result: IkconfigResult) => {
      if (settled) return
      settled = true
      gunzip.destroy()
      resolve(result)
    }
    gunzip.on('data', (chunk: Buffer) => {
      if (settled) return
      // Search the previous tail + this chunk, so that a marker split across pieces is found.
      const window = Buffer.concat([tail, chunk])
      if (collected === undefined) {
        const start = window.indexOf(START)
        if (start < 0) {
          tail = window.subarray(Math.max(0, window.length - (START.length - 1)))
          return
        }
        collected = [window.subarray(start + START.length)]
        collectedLength = collected[0]!.length
      } else {
        collected.push(chunk)
        collectedLength += chunk.length
      }
      const joined = Buffer.concat(collected)
      const end = joined.indexOf(END)
      if (end >= 0) return finish(found('gzip', joined.subarray(0, end)))
      if (collectedLength > MAX_EMBEDDED) return finish({kind: 'skipped', compression: 'gzip', note: 'IKCFG_ST without IKCFG_ED within 4 MiB'})
      collected = [joined]
      tail = Buffer.alloc(0)
    })
    gunzip.on('end', () =>
      finish({kind: 'absent', compression: 'gzip', note: 'the decompressed kernel holds no IKCFG_ST marker: it carries no config (IKCONFIG not built in)'}))
    gunzip.on('error', (error) =>
      finish({kind: 'skipped', compression: 'gzip', note: `the gzip payload could not be read to its end (${error.message})`}))
    gunzip.end(payload)
  })
}
