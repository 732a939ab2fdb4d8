// `build PROFILE --out out` run through sh in a folder of its own, with its own umask and
// environment (and `taskset -c 0` for one CPU): how the reproducibility tests set up other hosts.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {CLI} from './cli.js'

export interface BuiltIn {
  /** The out folder. */
  out: string
  /** build.json, parsed (each test reads the stages it checks). */
  record: any
  stdout: string
}

export interface HostSetup {
  cwd: string
  env: Record<string, string>
  options: {umask: string; oneCpu?: boolean; json?: boolean}
}

/**
 * Two hosts as unlike as one machine allows, under `root`: another folder depth, time zone, locale,
 * umask, HOME and CPU count. The first builds with --json (its stdout is the build's document).
 */
export const unlikeHosts = (root: string): [HostSetup, HostSetup] => [
  {cwd: join(root, 'a', 'deep', 'cwd'), env: {TZ: 'UTC', LANG: 'C', LC_ALL: 'C', HOME: join(root, 'home-a')}, options: {umask: '022', json: true}},
  {cwd: join(root, 'b'), env: {TZ: 'Pacific/Chatham', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8', HOME: join(root, 'home-b')}, options: {umask: '077', oneCpu: true}},
]

export async function buildInEnvironment(profile: string, cwd: string, env: Record<string, string>, options: {umask: string; oneCpu?: boolean; json?: boolean}): Promise<BuiltIn> {
  await mkdir(cwd, {recursive: true})
  const pin = options.oneCpu ? 'taskset -c 0 ' : ''
  const script = `umask ${options.umask} && exec ${pin}"${process.execPath}" "${CLI}" build "${profile}" --out out${options.json ? ' --json' : ''}`
  const result = spawnSync('sh', ['-c', script], {cwd, env: {...process.env, ...env}, encoding: 'utf8', timeout: 120_000})
  assert.equal(result.status, 0, result.stderr)
  const out = join(cwd, 'out')
  return {out, record: JSON.parse(await readFile(join(out, 'build.json'), 'utf8')), stdout: result.stdout}
}
