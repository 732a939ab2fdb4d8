// The content store: every blob (indexes, manifests, configs, layers) under its sha256, and the
// tags it last resolved. A blob enters only through a temp file that is renamed once its digest
// matched, so two builds pulling the same blob at once both end with the same good file, and a
// name under blobs/ always holds the bytes it names.
//
//   <store>/blobs/sha256/<hex>                      verified content
//   <store>/refs/<registry>/<repository>/<tag>.json  {mediaType, digest, size} the tag last resolved to
//   <store>/tmp/                                    downloads in progress (same file system: rename)
import {createWriteStream} from 'node:fs'
import {mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {usageError} from '../errors.js'
import {type Digest, checkBytes, digestCheckingStream, digestHex, isCheckedAs} from '../oci/digest.js'
import {openBlobFolder} from '../oci/blob-folder.js'
import {type Descriptor, parseDescriptor} from '../oci/manifest.js'
import type {ImageSource} from '../oci/source.js'
import {DEFAULT_TAG} from '../oci/reference.js'
import {sweepLeftovers} from '../cleanup/leftovers.js'
import {claimTempPath, releaseTempPath, removeTempFile, writeFileAtomically} from './atomic.js'
import {alteredBlobError, inspectStoredBlob, type StoredBlob} from './stored-blob.js'
import {diskFullError} from './disk-full.js'

/**
 * What a blob's temp file buffers before the download waits: with the 16 KiB default, every network
 * chunk waits for its own write; with more, the chunks that arrive meanwhile go out in one writev.
 */
const WRITE_BUFFER_BYTES = 1024 * 1024

export interface ContentStore {
  dir: string
  blobPath(digest: Digest): string
  has(digest: Digest): Promise<boolean>
  /** Re-hashes a stored blob (streaming): intact, missing, or altered (its bytes no longer match its name). */
  inspect(digest: Digest): Promise<StoredBlob>
  /** Streams a blob in; it appears under its name only when size and digest matched. */
  ingest(descriptor: Descriptor, content: Readable, onBytes?: (count: number) => void): Promise<void>
  /** Small, already checked content (manifests, configs); replaces a stored copy that was altered. */
  putBytes(descriptor: Descriptor, bytes: Uint8Array): Promise<void>
  readTag(identity: string, tag: string): Promise<Descriptor | undefined>
  writeTag(identity: string, tag: string, descriptor: Descriptor): Promise<void>
  /** The images of one repository (its canonical identity), as they are in the store. */
  source(identity: string): ImageSource
}

/** `$XDG_CACHE_HOME/stagex-image`, else `~/.cache/stagex-image`. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache')
  return join(cache, 'stagex-image')
}

export async function openStore(path: string): Promise<ContentStore> {
  const dir = resolve(path)
  const blobsDir = join(dir, 'blobs', 'sha256')
  const tmpDir = join(dir, 'tmp')
  try {
    await mkdir(blobsDir, {recursive: true})
    await mkdir(tmpDir, {recursive: true})
  } catch (error) {
    throw usageError(`store ${dir}: cannot create it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  }
  const what = `store ${dir}`
  const blobs = openBlobFolder(dir, what)
  const blobPath = blobs.path
  const has = blobs.has
  const inspect = (digest: Digest) => inspectStoredBlob(blobPath(digest), digest)
  // Downloads a killed run left in tmp/ (their names say whose they are: cleanup/owner.ts).
  sweepLeftovers({dir: tmpDir, kind: 'temp-files', what: 'partial download'})
  const tempPath = (digest: Digest) => claimTempPath(join(tmpDir, digestHex(digest)), 'partial download')
  const tagPath = (identity: string, tag: string) => {
    if (identity.split('/').some((part) => part === '' || part === '.' || part === '..') || !/^[\w][\w.-]*$/.test(tag))
      throw usageError(`store: "${identity}:${tag}" cannot name a tag record`)
    return join(dir, 'refs', ...identity.split('/'), `${tag}.json`)
  }

  const store: ContentStore = {
    dir,
    blobPath,
    has,
    inspect,

    async ingest(descriptor, content, onBytes) {
      const temp = tempPath(descriptor.digest)
      // A stream that already checks this digest and size (a registry's blob) is not hashed twice:
      // it fails before its end when the bytes differ, and the rename below waits for that end.
      const checked = isCheckedAs(content, descriptor.digest, descriptor.size)
      const check = checked ? content : digestCheckingStream(descriptor.digest, descriptor.size, descriptor.digest)
      if (onBytes) check.on('data', (chunk: Buffer) => onBytes(chunk.length))
      const out = createWriteStream(temp, {mode: 0o644, highWaterMark: WRITE_BUFFER_BYTES})
      try {
        await pipeline([...(checked ? [] : [content]), check, out])
        await rename(temp, blobPath(descriptor.digest))
        releaseTempPath(temp)
      } catch (error) {
        await removeTempFile(temp, out)
        throw diskFullError(error, temp, `the store ${dir}`) ?? error
      }
    },

    async putBytes(descriptor, bytes) {
      checkBytes(bytes, descriptor.digest, descriptor.size, what)
      if ((await inspect(descriptor.digest)).state === 'intact') return
      const temp = tempPath(descriptor.digest)
      try {
        await writeFile(temp, bytes, {mode: 0o644})
        await rename(temp, blobPath(descriptor.digest))
        releaseTempPath(temp)
      } catch (error) {
        await rm(temp, {force: true})
        releaseTempPath(temp)
        throw diskFullError(error, temp, `the store ${dir}`) ?? error
      }
    },

    async readTag(identity, tag) {
      const path = tagPath(identity, tag)
      let text: string
      try {
        text = await readFile(path, 'utf8')
      } catch {
        return undefined
      }
      try {
        return parseDescriptor(JSON.parse(text), `${what} tag record ${identity}:${tag}`)
      } catch {
        // A damaged record is as good as none: the next online resolve rewrites it.
        return undefined
      }
    },

    async writeTag(identity, tag, descriptor) {
      const path = tagPath(identity, tag)
      await mkdir(dirname(path), {recursive: true})
      const record = {mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size}
      await writeFileAtomically(path, Buffer.from(`${JSON.stringify(record)}\n`, 'utf8'))
    },

    source(identity) {
      const where = `${what} (${identity})`
      // Blobs are checked again on the way out: the store is a folder anyone may have touched.
      const blobs = openBlobFolder(dir, where, (digest) => usageError(`${where}: ${digest} is not in the store; pull it first (without --offline)`))
      /** Without a registry to ask, an altered blob is refused, saying how to mend it. */
      const refuseAltered = async (digest: Digest) => {
        const found = await inspect(digest)
        if (found.state === 'altered') throw alteredBlobError(digest, blobPath(digest), found)
      }
      return {
        description: where,
        async resolve({tag, digest}) {
          if (digest) {
            await refuseAltered(digest)
            return blobs.describe(digest)
          }
          const name = tag ?? DEFAULT_TAG
          const recorded = await store.readTag(identity, name)
          if (!recorded) throw usageError(`${where}: the tag "${name}" was never resolved into this store; pull it first (without --offline)`)
          return recorded
        },
        async readBytes(descriptor) {
          await refuseAltered(descriptor.digest)
          return blobs.readDocument(descriptor)
        },
        openBlob: (descriptor) => blobs.open(descriptor),
        blobFile: (descriptor) => blobs.path(descriptor.digest),
      }
    },
  }
  return store
}
