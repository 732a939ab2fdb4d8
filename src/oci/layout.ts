// An OCI image layout folder (oci-layout, index.json, blobs/sha256/...) as an ImageSource.
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {badInputError, usageError} from '../errors.js'
import {openBlobFolder} from './blob-folder.js'
import {parseIndex} from './manifest.js'
import type {ImageSource} from './source.js'

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name'

export function openLayout(path: string): ImageSource {
  const what = `OCI layout ${path}`
  const blobs = openBlobFolder(path, what)

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

  return {
    description: what,

    async resolve({tag, digest}) {
      const index = await readIndex()
      if (digest) {
        // A digest below the top level (a platform manifest inside an index): read it to learn its type.
        return index.manifests.find((m) => m.digest === digest) ?? blobs.describe(digest)
      }
      const named = tag ? index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag) : index.manifests
      if (named.length === 1) return named[0]!
      const names = index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter(Boolean)
      if (named.length === 0)
        throw usageError(`${what}: no image tagged "${tag}" (tags here: ${names.join(', ') || 'none'})`)
      throw usageError(`${what}: holds ${named.length} images; name one with :TAG (tags here: ${names.join(', ')})`)
    },
    readBytes: (descriptor) => blobs.readDocument(descriptor),
    openBlob: (descriptor) => blobs.open(descriptor),
    blobFile: (descriptor) => blobs.path(descriptor.digest),
  }
}
