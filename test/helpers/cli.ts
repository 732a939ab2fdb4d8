// Runs the built CLI (bin/run.js -> dist/) as a user would, capturing exit code and output.
import {spawnSync, type SpawnSyncOptions} from 'node:child_process'
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
