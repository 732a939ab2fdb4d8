// The spool: file bytes of the tree, on disk, named by their sha256. The tree only refers to them.
import {createHash, randomBytes} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {mkdir, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {badInputError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import type {ContentRef} from '../rootfs/tree.js'
import {removeTempFile} from './atomic.js'

export interface Spool {
  dir: string
  /** Stores a stream's bytes; fails (exit 4) when their count differs from `expectedSize`. */
  putStream(source: AsyncIterable<Uint8Array>, expectedSize: number, what: string): Promise<ContentRef>
  putBytes(bytes: Uint8Array): Promise<ContentRef>
}

export async function openSpool(dir: string): Promise<Spool> {
  await mkdir(dir, {recursive: true})
  const tempPath = () => join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
  const finalPath = (hex: string) => join(dir, hex)

  return {
    dir,
    async putStream(source, expectedSize, what) {
      const temp = tempPath()
      const hash = createHash('sha256')
      let size = 0
      async function* counted() {
        for await (const chunk of source) {
          size += chunk.length
          hash.update(chunk)
          yield chunk
        }
      }
      const out = createWriteStream(temp)
      try {
        await pipeline(counted(), out)
      } catch (error) {
        await removeTempFile(temp, out)
        throw error
      }
      if (size !== expectedSize) {
        await rm(temp, {force: true})
        throw badInputError(`${what}: ${size} bytes of content where the header declares ${expectedSize}`)
      }
      const hex = hash.digest('hex')
      await rename(temp, finalPath(hex))
      return {digest: `sha256:${hex}` as Digest, size, path: finalPath(hex)}
    },
    async putBytes(bytes) {
      const hex = createHash('sha256').update(bytes).digest('hex')
      const temp = tempPath()
      await writeFile(temp, bytes)
      await rename(temp, finalPath(hex))
      return {digest: `sha256:${hex}` as Digest, size: bytes.length, path: finalPath(hex)}
    },
  }
}
