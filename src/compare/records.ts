// Two build records, stage by stage in the record's own order, then every output: pure.
import {createHash} from 'node:crypto'
import type {BuildRecord} from '../pipeline/record.js'
import type {StageComparison} from './difference.js'

/** What a stage's row shows: its sha256, or a hash of its JSON when it has none (the loader's file list). */
function stageValue(stage: unknown): string | undefined {
  if (stage === undefined) return undefined
  const sha = (stage as {sha256?: unknown}).sha256
  return typeof sha === 'string' ? sha.replace(/^sha256:/, '') : createHash('sha256').update(JSON.stringify(stage)).digest('hex')
}

const stable = (value: unknown) => JSON.stringify(value)

/** Every stage of either record, then each output not already a stage, in order. */
export function compareRecords(a: BuildRecord, b: BuildRecord): StageComparison[] {
  const rows: StageComparison[] = []
  const stages = [...new Set([...Object.keys(a.stages), ...Object.keys(b.stages)])]
  const stageOf = (r: BuildRecord, name: string) => (r.stages as unknown as Record<string, unknown>)[name]
  for (const name of stages) {
    const x = stageOf(a, name)
    const y = stageOf(b, name)
    rows.push({stage: name, same: stable(x) === stable(y), a: stageValue(x), b: stageValue(y)})
  }
  for (const kind of [...new Set([...Object.keys(a.outputs), ...Object.keys(b.outputs)])]) {
    const x = a.outputs[kind]
    const y = b.outputs[kind]
    rows.push({stage: `output ${kind}`, same: stable(x) === stable(y), a: x?.sha256, b: y?.sha256})
  }
  return rows
}

/** The recorded inputs that differ (profile, tool, inputs, SOURCE_DATE_EPOCH): why two builds may part. */
export function inputDifferences(a: BuildRecord, b: BuildRecord): string[] {
  const out: string[] = []
  if (a.profile.sha256 !== b.profile.sha256) out.push(`profile ${a.profile.sha256} vs ${b.profile.sha256}`)
  if (stable(a.tool) !== stable(b.tool)) out.push(`tool ${a.tool.version} vs ${b.tool.version}`)
  if (a.sourceDateEpoch !== b.sourceDateEpoch) out.push(`SOURCE_DATE_EPOCH ${a.sourceDateEpoch} vs ${b.sourceDateEpoch}`)
  const inputs = (r: BuildRecord) => r.inputs.map((i) => `${i.identity}@${i.manifestDigest}`)
  if (stable(inputs(a)) !== stable(inputs(b))) out.push(`inputs ${inputs(a).join(', ')} vs ${inputs(b).join(', ')}`)
  return out
}
