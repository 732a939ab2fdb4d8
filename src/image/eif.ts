// The eif output: the kernel, the enclave's command line, fixed metadata and the tree as
// uncompressed newc ramdisks (as nitro-cli writes them) in one EIF, with its PCRs. The ramdisks
// are written to the work folder first (the EIF's CRC and PCRs need their bytes before the header),
// then every section streams twice: measured, then written.
import {createReadStream} from 'node:fs'
import type {SizedSource} from '../formats/bytes.js'
import {eifBuildTime, eifChunks, eifMetadata, type EifPcrs, kernelIdentity, measureEif, planEif} from '../formats/eif.js'
import type {Profile} from '../profile/types.js'
import type {Tree} from '../rootfs/tree.js'
import {writeFileAtomically, type WrittenFile} from '../store/atomic.js'
import type {ContentReader} from '../store/spool.js'
import {TOOL_VERSION} from '../version.js'
import {writeEifRamdisks} from './nitro-ramdisks.js'

export interface EifStage {
  sha256: string
  size: number
  /** The header's CRC-32, 8 hex digits. */
  crc32: string
  hashAlgorithm: string
  pcrs: EifPcrs
  memoryBytes: number
  cpus: number
  cmdline: string
  /** The metadata section as written (parsed JSON). */
  metadata: unknown
  sections: {type: string; offset: number; size: number}[]
  /** In order: the first is measured into PCR1, the others into PCR2. */
  ramdisks: {role: string; sha256: string; size: number; entries: number}[]
}

export interface EifOutputInput {
  profile: Pick<Profile, 'name' | 'eif' | 'displayName' | 'locate' | 'boot'>
  tree: Tree
  /** The boot packages' tree: where ramdisks nitro takes /init and /nsm.ko from. */
  bootTree?: {packages: string[]; tree: Tree}
  kernel: SizedSource
  kernelConfig: string
  sourceDateEpoch: number
  reader: ContentReader
  /** Where the ramdisks are written on the way (the work folder). */
  workDir: string
  /** Where the EIF goes. */
  path: string
}

export const eifFileName = (profileName: string) => `${profileName}.eif`

export async function writeEifOutput(input: EifOutputInput): Promise<{written: WrittenFile; stage: EifStage}> {
  const {profile, sourceDateEpoch} = input
  const ramdisks = (await writeEifRamdisks(input)).map((r) => ({...r, source: fileSource(r.path, r.size)}))
  const metadata = eifMetadata({
    imageName: profile.name,
    imageVersion: '1.0',
    build: {buildTime: eifBuildTime(sourceDateEpoch), buildTool: 'stagex-image', buildToolVersion: TOOL_VERSION, ...kernelIdentity(input.kernelConfig)},
  })
  const plan = planEif({
    kernel: input.kernel,
    cmdline: profile.eif.cmdline,
    metadata,
    ramdisks: ramdisks.map((r) => r.source),
    memoryBytes: profile.eif.memoryBytes,
    cpus: profile.eif.cpus,
  })
  const measured = await measureEif(plan)
  const written = await writeFileAtomically(input.path, eifChunks(plan, measured.crc32))
  return {
    written,
    stage: {
      sha256: written.sha256,
      size: written.size,
      crc32: measured.crc32.toString(16).padStart(8, '0'),
      hashAlgorithm: measured.hashAlgorithm,
      pcrs: measured.pcrs,
      memoryBytes: profile.eif.memoryBytes,
      cpus: profile.eif.cpus,
      cmdline: profile.eif.cmdline,
      metadata: JSON.parse(new TextDecoder().decode(metadata)),
      sections: plan.sections.map((s) => ({type: s.type, offset: s.offset, size: s.size})),
      ramdisks: ramdisks.map((r) => ({role: r.role, sha256: r.sha256, size: r.source.size, entries: r.entries})),
    },
  }
}

function fileSource(path: string, size: number): SizedSource {
  return {size, open: () => createReadStream(path, {highWaterMark: 1024 * 1024}) as AsyncIterable<Uint8Array>}
}
