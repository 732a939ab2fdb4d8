// A store blob whose bytes no longer match its name, through the real CLI (from the sources) against
// the test world's registry: the next online pull notices it, says so in one line and downloads it
// again; an offline build refuses it (exit 4) naming the blob and its path.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {ensureWorld, type World} from '../../scripts/world/build-fixtures.js'
import {type Registry, pushFixtures, startRegistry} from '../../scripts/world/registry.js'
import {REPO} from '../helpers/cli.js'

const NEEDED = ['core-filesystem', 'core-busybox', 'user-linux-generic']
const runFile = promisify(execFile)

interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** The CLI from the TypeScript sources (dist/ may be stale while others work in the tree). */
async function cli(args: string[]): Promise<CliResult> {
  try {
    const {stdout, stderr} = await runFile('node', ['--import', 'tsx', 'test/helpers/run-command-from-source.ts', ...args], {cwd: REPO})
    return {code: 0, stdout, stderr}
  } catch (error) {
    const e = error as {code: number; stdout: string; stderr: string}
    return {code: e.code, stdout: e.stdout, stderr: e.stderr}
  }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

async function assertStoreConsistent(store: string): Promise<void> {
  for (const name of await readdir(join(store, 'blobs', 'sha256')))
    assert.equal(sha256(await readFile(join(store, 'blobs', 'sha256', name))), name, `store blob ${name} holds other content`)
}

/** Flips one byte in the middle of a stored blob. */
async function alter(path: string): Promise<void> {
  const bytes = await readFile(path)
  bytes[bytes.length >> 1] ^= 0xff
  await writeFile(path, bytes)
}

describe('e2e: a store blob altered on disk is noticed and replaced by the next online pull', function () {
  this.timeout(600_000)
  let world: World
  let registry: Registry
  let work: string
  let profile: string
  let store: string
  let mirror: string

  before(async () => {
    world = await ensureWorld()
    work = await mkdtemp(join(tmpdir(), 'stagex-e2e-store-repair-'))
    registry = await startRegistry()
    mirror = `${registry.host}/stagex`
    await pushFixtures(registry, {names: NEEDED})
    // About the store, not trust (test/e2e/trust.test.ts): this copy of the profile has no trust:.
    const text = (await readFile(join(REPO, 'profiles', 'minimal-registry.yaml'), 'utf8')).replace(/^trust:\n(?: {2}.*\n)+/m, '')
    profile = join(work, 'minimal-registry.yaml')
    await writeFile(profile, text.replace('../kernel/initramfs-boot.config', join(REPO, 'kernel', 'initramfs-boot.config')).replaceAll('../.cache/', `${REPO}/.cache/`))
    store = join(work, 'store')
    const first = await cli(['pull', profile, '--mirror', mirror, '--store', store])
    assert.equal(first.code, 0, first.stderr)
  })
  after(async () => {
    await registry?.dispose()
    if (work) await rm(work, {recursive: true, force: true})
  })

  it('an altered layer: pull exits 0, says so in one line, and the store holds the right bytes again', async () => {
    const layer = world.packages['core-busybox']!.layers[1]!
    const path = join(store, 'blobs', 'sha256', layer.slice(7))
    await alter(path)
    const result = await cli(['pull', profile, '--mirror', mirror, '--store', store])
    assert.equal(result.code, 0, result.stderr)
    const lines = result.stderr.split('\n').filter((line) => line.includes(layer))
    assert.equal(lines.length, 1, result.stderr)
    assert.match(lines[0]!, new RegExp(`${layer} in the store \\(${path}\\) no longer matches its name .*; downloading it again`))
    assert.equal(sha256(await readFile(path)), layer.slice(7))
    await assertStoreConsistent(store)
  })

  it('an altered config: pull exits 0 and replaces it', async () => {
    const config = world.packages['core-filesystem']!.configDigest
    const path = join(store, 'blobs', 'sha256', config.slice(7))
    await alter(path)
    const result = await cli(['pull', profile, '--mirror', mirror, '--store', store])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, new RegExp(`${config} in the store .* downloading it again`))
    await assertStoreConsistent(store)
  })

  it('offline: an altered layer is exit 4 naming the blob and its path, telling to pull online', async () => {
    const layer = world.packages['user-linux-generic']!.layers[0]!
    const path = join(store, 'blobs', 'sha256', layer.slice(7))
    await alter(path)
    const result = await cli(['build', profile, '--offline', '--store', store, '--out', join(work, 'out-offline')])
    assert.equal(result.code, 4, result.stderr)
    assert.ok(result.stderr.includes(`store blob ${layer} (${path}) no longer holds the bytes its name says`), result.stderr)
    assert.match(result.stderr, /run pull \(online\) to download it again/)
    const mended = await cli(['pull', profile, '--mirror', mirror, '--store', store])
    assert.equal(mended.code, 0, mended.stderr)
    await assertStoreConsistent(store)
  })
})
