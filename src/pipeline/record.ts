// build.json: what went in (profile hash, every input digest and signer), what each stage made (sha256).
// Its bytes depend only on the inputs: no absolute paths, no times, no host facts.
import type {ImageStages, RecordedSeed} from '../image/outputs.js'
import type {PackageRole} from './packages.js'

export const BUILD_RECORD_SCHEMA = 'stagex-image/build-record/v1'

export interface RecordedInput {
  role: PackageRole
  name: string
  identity: string
  tag?: string
  indexDigest?: string
  manifestDigest: string
  configDigest: string
  layers: {digest: string; diffId: string; size: number}[]
  signers: {fingerprint: string; name?: string}[]
}

export interface RecordedOutput {
  file: string
  size: number
  sha256: string
}

export interface BuildRecord {
  schema: typeof BUILD_RECORD_SCHEMA
  tool: {name: 'stagex-image'; version: string}
  profile: {name: string; sha256: string}
  sourceDateEpoch: number
  /** "none" when the profile has no trust: section (the images were NOT verified); else the threshold each input met. */
  trust: 'none' | {threshold: number}
  inputs: RecordedInput[]
  stages: {
    flatten: {sha256: string; entries: number}
    shape: {sha256: string; entries: number; files: string[]; init?: string; pruned: {path: string; reason: string}[]; droppedCapabilities: string[]}
    kernel: {package: string; sha256: string; configSha256: string; fragmentChecked: number; cmdline: string}
  } & ImageStages
  /** The build seed every GUID and volume serial comes from, and what it is a hash of (src/image/seed.ts). */
  seed: RecordedSeed
  outputs: Record<string, RecordedOutput>
}

export function serializeRecord(record: BuildRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`
}
