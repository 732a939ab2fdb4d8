// An OCI image layout folder (oci-layout, index.json, blobs/sha256/...) as an ImageSource.
import {createReadStream} from 'node:fs'
import {readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {badInputError, usageError} from '../errors.js'
import {type Digest, checkBytes, digestCheckingStream, digestHex} from './digest.js'
import {type Descriptor, documentMediaType, parseIndex} from './manifest.js'
import type {ImageSource} from './source.js'

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name'
/** Manifests and configs are small; anything larger than this is refused before it is read. */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

export function openLayout(path: string): ImageSource {
  const blobPath = (digest: Digest) => join(path, 'blobs', 'sha256', digestHex(digest))
  const what = `OCI layout ${path}`

  async function readIndex() {
    let layoutFile: string
    try {
      layoutFile = await readFile(join(path, 'oci-layout'), 'utf8')
    } catch {
      throw usageError(`${what}: not an OCI image layout (no oci-layout file)`)
    }
    let version: unknown
    try {
      version = JSON.parse(layoutFile).imageLayoutVersion
    } catch {
      throw badInputError(`${what}: oci-layout is not valid JSON`)
    }
    if (version !== '1.0.0') throw badInputError(`${what}: unsupported imageLayoutVersion ${JSON.stringify(version)}`)
    return parseIndex(await readFile(join(path, 'index.json')), `${what} index.json`)
  }

  async function blobSize(digest: Digest): Promise<number> {
    try {
      return (await stat(blobPath(digest))).size
    } catch {
      throw usageError(`${what}: has no blob ${digest}`)
    }
  }

  return {
    description: what,

    async resolve({tag, digest}) {
      const index = await readIndex()
      if (digest) {
        const listed = index.manifests.find((m) => m.digest === digest)
        if (listed) return listed
        // A digest below the top level (a platform manifest inside an index): read it to learn its type.
        const size = await blobSize(digest)
        if (size > MAX_DOCUMENT_BYTES) throw badInputError(`${what}: ${digest} is too large to be a manifest`)
        const bytes = await readFile(blobPath(digest))
        checkBytes(bytes, digest, size, what)
        return {mediaType: documentMediaType(bytes, undefined, `${what} ${digest}`), digest, size}
      }
      const named = tag ? index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag) : index.manifests
      if (named.length === 1) return named[0]!
      const names = index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean)
      if (named.length === 0)
        throw usageError(`${what}: no image tagged "${tag}" (tags here: ${names.join(', ') || 'none'})`)
      throw usageError(`${what}: holds ${named.length} images; name one with :TAG (tags here: ${names.join(', ')})`)
    },

    async readBytes(descriptor: Descriptor) {
      if (descriptor.size > MAX_DOCUMENT_BYTES) throw badInputError(`${what}: ${descriptor.digest} is too large to be a manifest or config`)
      let bytes: Buffer
      try {
        bytes = await readFile(blobPath(descriptor.digest))
      } catch {
        throw usageError(`${what}: has no blob ${descriptor.digest}`)
      }
      checkBytes(bytes, descriptor.digest, descriptor.size, what)
      return bytes
    },

    async openBlob(descriptor: Descriptor): Promise<Readable> {
      await blobSize(descriptor.digest)
      const check = digestCheckingStream(descriptor.digest, descriptor.size, what)
      const file = createReadStream(blobPath(descriptor.digest))
      file.on('error', (error) => check.destroy(error))
      return file.pipe(check)
    },
  }
}
