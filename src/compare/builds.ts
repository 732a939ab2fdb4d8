// Two builds, each an output folder or a build.json (the files beside it, when there, are its
// outputs): every stage hash and every output compared, and inside a differing output the first
// differing entries. The record says what each stage made; the files say what is really there.
import {createHash} from 'node:crypto'
import {readFile, stat} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {badInputError, StagexError, usageError} from '../errors.js'
import {BUILD_RECORD_SCHEMA, type BuildRecord, RECORD_FILE} from '../pipeline/record.js'
import type {BuildComparison, StageComparison} from './difference.js'
import {compareOutput} from './outputs.js'
import {compareRecords, inputDifferences} from './records.js'

export interface BuildSide {
  /** As the user named it, for messages. */
  label: string
  record: BuildRecord
  /** The folder holding the outputs the record lists (those present are compared by content). */
  dir: string
}

/** An output folder (its build.json) or a build.json file. */
export async function readBuildSide(path: string): Promise<BuildSide> {
  let file = path
  try {
    if ((await stat(path)).isDirectory()) file = join(path, RECORD_FILE)
  } catch {
    throw usageError(`${path}: no such folder or build.json`)
  }
  let record: BuildRecord
  try {
    record = JSON.parse(await readFile(file, 'utf8')) as BuildRecord
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw code ? usageError(`${file}: cannot read the build record (${code})`) : badInputError(`${file}: not a JSON build record`)
  }
  if (record?.schema !== BUILD_RECORD_SCHEMA || typeof record.stages !== 'object' || typeof record.outputs !== 'object')
    throw badInputError(`${file}: not a build record (schema ${JSON.stringify(record?.schema)}, expected ${BUILD_RECORD_SCHEMA})`)
  return {label: path, record, dir: dirname(file)}
}

async function readOutput(side: BuildSide, kind: string): Promise<Buffer | undefined> {
  const file = side.record.outputs[kind]?.file
  if (!file || file !== basename(file)) return undefined
  return readFile(join(side.dir, file)).catch(() => undefined)
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** The stage an output's entries belong to: its own stage when the record has one (initramfs, esp, disk, uki). */
const rowFor = (rows: StageComparison[], kind: string) => rows.find((r) => r.stage === kind) ?? rows.find((r) => r.stage === `output ${kind}`)!

export async function compareBuilds(a: BuildSide, b: BuildSide): Promise<BuildComparison & {inputs: string[]}> {
  const rows = compareRecords(a.record, b.record)
  for (const kind of Object.keys(a.record.outputs)) {
    if (!b.record.outputs[kind]) continue
    const [x, y] = await Promise.all([readOutput(a, kind), readOutput(b, kind)])
    const output = rows.find((r) => r.stage === `output ${kind}`)!
    if (!x || !y) continue
    // The files decide: a record can be copied, a file altered beside it.
    output.a = sha256(x)
    output.b = sha256(y)
    output.same = output.a === output.b && output.same
    if (output.a === output.b) continue
    const row = rowFor(rows, kind)
    row.same = false
    row.entries = compareOutput(kind, a.record.outputs[kind]!.file, x, y)
  }
  const firstDifference = rows.find((r) => !r.same)
  return {identical: !firstDifference, stages: rows, firstDifference, inputs: inputDifferences(a.record, b.record)}
}

/** One line per stage: same or different, both hashes' first digits, then the differing entries. */
export function formatComparison(comparison: BuildComparison): string {
  const lines: string[] = []
  const width = Math.max(...comparison.stages.map((s) => s.stage.length))
  for (const row of comparison.stages) {
    const hashes = row.same ? (row.a ?? '').slice(0, 16) : `${(row.a ?? '-').slice(0, 16)} vs ${(row.b ?? '-').slice(0, 16)}`
    lines.push(`${row.stage.padEnd(width)}  ${row.same ? 'same     ' : 'DIFFERENT'}  ${hashes}`)
    for (const e of row.entries ?? []) lines.push(`${' '.repeat(width)}    ${e.entry}: ${e.field} ${e.a} vs ${e.b}`)
  }
  return lines.join('\n')
}

/** Exit 8: the first differing stage and, inside the differing outputs, the first differing entries. */
export function differentError(a: string, b: string, comparison: BuildComparison & {inputs: string[]}): StagexError {
  const first = comparison.firstDifference!
  const detailed = comparison.stages.filter((s) => s.entries && s.entries.length > 0)
  const inside = detailed.map((s) => `${s.stage}: ${s.entries!.slice(0, 3).map((e) => `${e.entry} ${e.field} (${e.a} vs ${e.b})`).join('; ')}`)
  const why = comparison.inputs.length > 0 ? `; the recorded inputs differ: ${comparison.inputs.join('; ')}` : ''
  return new StagexError(
    'different',
    `${a} and ${b} differ: the first differing stage is ${first.stage}` + (inside.length > 0 ? `; ${inside.join('; ')}` : '') + why + `\n${formatComparison(comparison)}`,
    {firstStage: first.stage, stages: comparison.stages, inputs: comparison.inputs},
  )
}
