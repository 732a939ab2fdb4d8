// Deterministic inputs for the gzip tests (formats and the parallel writer share them, and the
// known answers pinned for them).
import {execFileSync} from 'node:child_process'
import {createCipheriv, createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export const MiB = 1 << 20

/** Deterministic random bytes: the AES-128-CTR keystream of a key made from `seed`. */
export function noise(n: number, seed: number): Uint8Array {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16))
  return new Uint8Array(cipher.update(Buffer.alloc(n)))
}

/** Exactly `n` bytes of numbered text lines with some xorshift variety. */
export function text(n: number, seed: number): Uint8Array {
  const parts: string[] = []
  let x = seed >>> 0 || 1
  let size = 0
  for (let i = 0; size < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    const line = `${i} ${x.toString(36)} /usr/lib/${'abcdefgh'.slice(x % 8)} mode=0644 size=${x % 100000}\n`
    parts.push(line)
    size += line.length
  }
  return new TextEncoder().encode(parts.join('')).subarray(0, n)
}

/**
 * The fixed mixed input: text 1.25 MiB, random 2 MiB, text 0.5 MiB + 123 bytes. Block 0 is
 * text, block 1 text then random (deflated), block 2 all random (stored), block 3 the rest (last).
 */
export function mixedInput(): Uint8Array {
  return new Uint8Array(Buffer.concat([text(1.25 * MiB, 7), noise(2 * MiB, 8), text(0.5 * MiB + 123, 9)]))
}

/** The host's gzip accepts `gz` (gzip -t) and decompresses it to bytes with the sha256 `want`. */
export function hostGunzipSha256(gz: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'gzip-host-'))
  try {
    const file = join(dir, 'x.gz')
    writeFileSync(file, gz)
    execFileSync('gzip', ['-t', file])
    return createHash('sha256').update(execFileSync('gzip', ['-dc', file], {maxBuffer: 64 << 20})).digest('hex')
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

/** `data` in chunks of the given sizes, cycling through them. */
export async function* chunked(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let i = 0
  let k = 0
  while (i < data.length) {
    const n = sizes[k++ % sizes.length]!
    yield data.subarray(i, i + n)
    i += n
  }
}
