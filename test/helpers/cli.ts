// Runs the built CLI (bin/run.js -> dist/) as a user would, capturing exit code and output.
import {spawnSync, type SpawnSyncOptions} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const CLI = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export function runCli(args: string[], options: SpawnSyncOptions = {}): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {encoding: 'utf8', timeout: 600_000, ...options})
  if (result.error) throw result.error
  return {code: result.status ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

/** A copy of profiles/NAME.yaml in `dir`, its relative paths made absolute, edited for one case. */
export async function profileVariant(profile: string, dir: string, name: string, edit: (text: string) => string = (t) => t): Promise<string> {
  const text = (await readFile(join(REPO, 'profiles', `${profile}.yaml`), 'utf8')).replaceAll('../', `${REPO}/`)
  const path = join(dir, `${name}.yaml`)
  await writeFile(path, edit(text))
  return path
}
