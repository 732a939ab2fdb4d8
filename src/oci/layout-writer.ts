// Writes images into an OCI image layout (oci-layout, index.json, blobs/sha256/...), the form that
// carries them into an airgapped room. Blobs go in through a temp file and a rename each, and
// index.json is replaced last, so an interrupted export never leaves index.json naming a blob
// that is not complete.
import {mkdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {badInputError} from '../errors.js'
import {writeFileAtomically} from '../store/atomic.js'
import {type Digest, digestCheckingStream, digestHex} from './digest.js'
import {REF_NAME_ANNOTATION} from './layout.js'
import type {Descriptor} from './manifest.js'
import {MediaType} from './media-types.js'

export interface LayoutImage {
  /** What index.json lists: the image index, or the manifest. */
  top: Descriptor
  /** The org.opencontainers.image.ref.name annotation; none for an image pinned by digest. */
  tag?: string
  /** Every blob the image needs, small documents and layers alike. */
  blobs: Descriptor[]
  open: (descriptor: Descriptor) => Promise<Readable>
}

async function exists(path: string, size: number): Promise<boolean> {
  try {
    const info = await stat(path)
    return info.isFile() && info.size === size
  } catch {
    return false
  }
}

/** Adds one image to the layout at `dir` (made when missing); an image with the same tag is replaced. */
export async function writeLayoutImage(dir: string, image: LayoutImage): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256')
  await mkdir(blobs, {recursive: true})
  const seen = new Set<Digest>()
  for (const blob of image.blobs) {
    if (seen.has(blob.digest)) continue
    seen.add(blob.digest)
    const path = join(blobs, digestHex(blob.digest))
    if (await exists(path, blob.size)) continue
    const content = (await image.open(blob)).pipe(digestCheckingStream(blob.digest, blob.size, `OCI layout ${dir}`))
    await writeFileAtomically(path, content)
  }
  await writeFileAtomically(join(dir, 'oci-layout'), Buffer.from(`${JSON.stringify({imageLayoutVersion: '1.0.0'})}\n`))

  let manifests: Descriptor[] = []
  try {
    const old = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {manifests?: Descriptor[]}
    manifests = (old.manifests ?? []).filter((m) =>
      image.tag === undefined ? m.digest !== image.top.digest : m.annotations?.[REF_NAME_ANNOTATION] !== image.tag,
    )
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw badInputError(`OCI layout ${dir}: index.json is not readable JSON; remove the folder and export again`)
  }
  const entry: Descriptor = {mediaType: image.top.mediaType, digest: image.top.digest, size: image.top.size}
  if (image.tag !== undefined) entry.annotations = {[REF_NAME_ANNOTATION]: image.tag}
  manifests.push(entry)
  const index = {schemaVersion: 2, mediaType: MediaType.ociIndex, manifests}
  await writeFileAtomically(join(dir, 'index.json'), Buffer.from(`${JSON.stringify(index, null, 2)}\n`))
}
