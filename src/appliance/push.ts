// push OUT_DIR REF: the outputs of one build as one OCI artifact. Every file is checked against
// build.json before it leaves (size and sha256), blobs first, the manifest last: a reader never
// sees a manifest whose blobs are missing.
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {badInputError, usageError} from '../errors.js'
import {credentialsFor} from '../oci/auth.js'
import type {Digest} from '../oci/digest.js'
import {MediaType} from '../oci/media-types.js'
import {DEFAULT_TAG} from '../oci/reference.js'
import {openRegistryWriter} from '../oci/registry-push.js'
import {BUILD_RECORD_SCHEMA, type BuildRecord, RECORD_FILE} from '../pipeline/record.js'
import {applianceManifest} from './artifact.js'
import {parseApplianceReference} from './registry.js'

export interface PushOptions {
  outDir: string
  reference: string
  env?: NodeJS.ProcessEnv
}

export interface PushResult {
  reference: string
  manifestDigest: Digest
  config: Digest
  layers: {kind: string; file: string; digest: Digest; size: number; uploaded: boolean}[]
}

/** build.json's bytes and what they say; a folder without one is a usage error. */
export async function readRecordFile(path: string): Promise<{bytes: Buffer; record: BuildRecord}> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (error) {
    throw usageError(`${path}: cannot read the build record (${(error as NodeJS.ErrnoException).code}); give an output folder of \`build\``)
  }
  let record: BuildRecord
  try {
    record = JSON.parse(bytes.toString('utf8')) as BuildRecord
  } catch {
    throw badInputError(`${path}: not JSON`)
  }
  if (record?.schema !== BUILD_RECORD_SCHEMA || typeof record.outputs !== 'object') throw badInputError(`${path}: not a build record (${BUILD_RECORD_SCHEMA})`)
  return {bytes, record}
}

async function fileSha256(path: string): Promise<{sha256: string; size: number}> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return {sha256: hash.digest('hex'), size}
}

export async function pushAppliance(options: PushOptions): Promise<PushResult> {
  const ref = parseApplianceReference(options.reference)
  if (ref.digest) throw usageError(`REF "${options.reference}": push names a tag, not a digest (the digest comes from the outputs)`)
  const {bytes, record} = await readRecordFile(join(options.outDir, RECORD_FILE))
  const manifest = applianceManifest(bytes, record)
  for (const layer of manifest.layers) {
    const path = join(options.outDir, layer.file)
    const found = await fileSha256(path).catch(() => undefined)
    if (!found) throw usageError(`${path}: build.json lists it as the ${layer.kind} output, but it cannot be read`)
    if (`sha256:${found.sha256}` !== layer.digest || found.size !== layer.size)
      throw badInputError(`${path}: hashes to sha256:${found.sha256} (${found.size} bytes); build.json says ${layer.digest} (${layer.size} bytes): the folder was changed after the build`)
  }
  const writer = openRegistryWriter({registry: ref.registry, repository: ref.repository}, await credentialsFor(ref.registry, options.env ?? process.env))
  await writer.pushBlob(manifest.config.digest, manifest.config.size, {bytes})
  const layers: PushResult['layers'] = []
  for (const layer of manifest.layers) {
    const uploaded = await writer.pushBlob(layer.digest, layer.size, {file: join(options.outDir, layer.file)})
    layers.push({kind: layer.kind, file: layer.file, digest: layer.digest, size: layer.size, uploaded})
  }
  const stored = await writer.putManifest(ref.tag ?? DEFAULT_TAG, manifest.bytes, MediaType.ociManifest)
  if (stored && stored !== manifest.digest) throw badInputError(`registry ${ref.registry}: stored the manifest as ${stored}, its bytes hash to ${manifest.digest}`)
  return {reference: `${ref.registry}/${ref.repository}:${ref.tag ?? DEFAULT_TAG}@${manifest.digest}`, manifestDigest: manifest.digest, config: manifest.config.digest, layers}
}
