// pull REF --to DIR: an appliance back into a folder, as build published it. Every layer streams
// through the digest-checking reader into a temp file renamed only after it matched; build.json
// (the config) goes last, and must list exactly the layers the manifest carries.
import {mkdir} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {badInputError} from '../errors.js'
import type {Digest} from '../oci/digest.js'
import {RECORD_FILE, type BuildRecord} from '../pipeline/record.js'
import {writeFileAtomically} from '../store/atomic.js'
import {resolveAppliance} from './registry.js'

export interface PullApplianceOptions {
  reference: string
  to: string
  env?: NodeJS.ProcessEnv
}

export interface PullApplianceResult {
  reference: string
  identity: string
  manifestDigest: Digest
  outDir: string
  outputs: {kind: string; file: string; digest: Digest; size: number}[]
}

export async function pullAppliance(options: PullApplianceOptions): Promise<PullApplianceResult> {
  const appliance = await resolveAppliance(options.reference, options.env)
  const recordBytes = await appliance.source.readBytes(appliance.config)
  let record: BuildRecord
  try {
    record = JSON.parse(Buffer.from(recordBytes).toString('utf8')) as BuildRecord
  } catch {
    throw badInputError(`${options.reference}: its config ${appliance.config.digest} is not a JSON build record`)
  }
  // The record describes the files beside it: the layers must be exactly its outputs.
  const listed = Object.entries(record.outputs ?? {}).map(([kind, o]) => `${kind} ${o.file} sha256:${o.sha256.replace(/^sha256:/, '')} ${o.size}`)
  const carried = appliance.layers.map((l) => `${l.kind} ${l.file} ${l.digest} ${l.size}`)
  if (listed.join('\n') !== carried.join('\n'))
    throw badInputError(`${options.reference}: its layers (${carried.join(', ')}) are not the outputs its build.json lists (${listed.join(', ')})`)
  const outDir = resolve(options.to)
  await mkdir(outDir, {recursive: true})
  for (const layer of appliance.layers) await writeFileAtomically(join(outDir, layer.file), await appliance.source.openBlob(layer))
  await writeFileAtomically(join(outDir, RECORD_FILE), recordBytes)
  return {
    reference: options.reference,
    identity: appliance.identity,
    manifestDigest: appliance.manifestDigest,
    outDir,
    outputs: appliance.layers.map((l) => ({kind: l.kind, file: l.file, digest: l.digest, size: l.size})),
  }
}
