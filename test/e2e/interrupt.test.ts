// Interruptions and faults through the real CLI: SIGINT and SIGTERM during build, rootfs, pull and
// test remove what the run held (work folder, staging folder, partial downloads, QEMU) and exit
// 130/143 after one line; what a killed run left is removed by the next run that finds it stale,
// and nothing a live run owns is touched.
import assert from 'node:assert/strict'
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {createServer, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {ensureWorld, type World} from '../../scripts/world/build-fixtures.js'
import {hostTag, processStartTicks} from '../../src/cleanup/owner.js'
import {liveGroupMembers} from '../../src/qemu/process-group.js'
import {profileVariant, REPO} from '../helpers/cli.js'
import {childrenOf, commandOf} from '../helpers/proc.js'

const RUNNER = join(REPO, 'test/helpers/run-command-from-source.ts')
const MINIMAL = join(REPO, 'profiles/minimal.yaml')
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

interface Ended {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** The CLI from the sources (not dist/, which others may be rebuilding), in its own TMPDIR. */
function startCli(args: string[], env: Record<string, string>): {child: ChildProcess; ended: Promise<Ended>} {
  const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, ...args], {cwd: REPO, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  const ended = new Promise<Ended>((resolve) => child.on('close', (code, signal) => resolve({code, signal, stdout, stderr})))
  return {child, ended}
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `probe` gives a value; fails (with what was awaited) when the run ended first or time ran out. */
async function waitFor<T>(what: string, probe: () => T | undefined, run: {child: ChildProcess}, ms = 30_000): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    if (run.child.exitCode !== null || Date.now() > until) assert.fail(`${what} never appeared (run ended: ${run.child.exitCode !== null})`)
    await sleep(20)
  }
}

const entries = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : [])
const findEntry = (dir: string, prefix: string) => {
  const name = entries(dir).find((n) => n.startsWith(prefix))
  return name === undefined ? undefined : join(dir, name)
}

function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  for (const name of entries(dir).sort()) files[name] = sha256(readFileSync(join(dir, name)))
  return files
}

/** The one line the interrupt prints (its progress lines aside). */
function interruptLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /interrupted/.test(line))
}

/**
 * A registry serving the fixture layouts (GET only, no auth); with `stallAbove`, blobs larger than
 * that send their first 64 KiB and then nothing, so a download stays in the store's tmp/.
 */
async function startFixtureRegistry(world: World, stallAbove?: number) {
  const stalled = new Set<ServerResponse>()
  const blob = (name: string, hex: string) => readFileSync(join(world.packages[name]!.layout, 'blobs', 'sha256', hex))
  const server = createServer((req, res) => {
    const match = /^\/v2\/stagex\/([\w-]+)\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '')
    if (req.url === '/v2/') return res.writeHead(200, {'content-type': 'application/json'}).end('{}')
    if (!match || !world.packages[match[1]!]) return res.writeHead(404).end()
    const [, name, kind, reference] = match as unknown as [string, string, string, string]
    let digest = reference
    if (!reference.startsWith('sha256:')) {
      const index = JSON.parse(readFileSync(join(world.packages[name]!.layout, 'index.json'), 'utf8')) as {manifests: {digest: string; annotations?: Record<string, string>}[]}
      const tagged = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === reference)
      if (!tagged) return res.writeHead(404).end()
      digest = tagged.digest
    }
    const bytes = blob(name, digest.slice('sha256:'.length))
    if (kind === 'manifests') {
      const mediaType = (JSON.parse(bytes.toString('utf8')) as {mediaType: string}).mediaType
      return res.writeHead(200, {'content-type': mediaType, 'docker-content-digest': digest, 'content-length': bytes.length}).end(bytes)
    }
    res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': bytes.length})
    if (stallAbove === undefined || bytes.length <= stallAbove) return res.end(bytes)
    res.write(bytes.subarray(0, 64 * 1024))
    stalled.add(res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    mirror: `127.0.0.1:${port}/stagex`,
    close: async () => {
      for (const res of stalled) res.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** A pid that was alive a moment ago and is not now. */
function deadPid(): number {
  const child = spawnSync('true')
  assert.ok(child.pid && child.pid > 0)
  return child.pid
}

describe('e2e: interrupts and leftovers', function () {
  this.timeout(120_000)
  let world: World
  let dir: string
  let n = 0
  /** A fresh TMPDIR, --out and store for one case. */
  const place = () => {
    const root = join(dir, `case-${++n}`)
    const paths = {tmp: join(root, 'tmp'), out: join(root, 'out'), store: join(root, 'store')}
    for (const p of Object.values(paths)) mkdirSync(p, {recursive: true})
    return {...paths, env: {TMPDIR: paths.tmp, XDG_CACHE_HOME: join(root, 'cache')}}
  }

  before(async () => {
    world = await ensureWorld()
    dir = await mkdtemp(join(tmpdir(), 'stagex-interrupt-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('SIGINT during build: exit 130, one line, work and staging folders removed, the previous outputs untouched', async () => {
    const {tmp, out, env} = place()
    const first = await startCli(['build', MINIMAL, '--out', out], env).ended
    assert.equal(first.code, 0, first.stderr)
    const before = snapshot(out)
    assert.ok(before['build.json'] && before['initramfs.cpio.gz'])

    const run = startCli(['build', MINIMAL, '--out', out], env)
    const work = await waitFor('the work folder', () => findEntry(tmp, 'stagex-image-'), run)
    const staging = await waitFor('the staging folder', () => findEntry(out, '.stagex-build-'), run)
    assert.ok(existsSync(join(work, 'owner.json')) && existsSync(join(staging, 'owner.json')), 'both folders carry their owner mark')
    await sleep(300)
    run.child.kill('SIGINT')
    const ended = await run.ended
    assert.equal(ended.code, 130, ended.stderr)
    const lines = interruptLines(ended.stderr)
    assert.equal(lines.length, 1, ended.stderr)
    assert.match(lines[0]!, /^stagex-image: interrupted \(SIGINT\); removed /)
    assert.ok(lines[0]!.includes(`the work folder ${work}`) && lines[0]!.includes(`the staging folder ${staging}`), lines[0])
    assert.ok(!existsSync(work) && !existsSync(staging))
    assert.deepEqual(entries(tmp).filter((e) => e.startsWith('stagex-')), [])
    assert.deepEqual(snapshot(out), before, 'the previous outputs are byte for byte as they were, and nothing else is there')
  })

  it('SIGTERM during rootfs --json: exit 143, the failure document on stdout, the work folder removed, the previous tar untouched', async () => {
    const {tmp, out, env} = place()
    const tar = join(out, 'rootfs.tar')
    writeFileSync(tar, 'the previous tar\n')
    const run = startCli(['rootfs', MINIMAL, '--out', tar, '--json'], env)
    const work = await waitFor('the work folder', () => findEntry(tmp, 'stagex-image-'), run)
    await sleep(300)
    run.child.kill('SIGTERM')
    const ended = await run.ended
    assert.equal(ended.code, 143, ended.stderr)
    const document = JSON.parse(ended.stdout) as {error: {kind: string; exitCode: number; message: string}}
    assert.equal(document.error.kind, 'interrupted')
    assert.equal(document.error.exitCode, 143)
    assert.match(document.error.message, /^interrupted \(SIGTERM\); removed the work folder /)
    const lines = interruptLines(ended.stderr)
    assert.equal(lines.length, 1, ended.stderr)
    assert.ok(lines[0]!.startsWith('stagex-image: interrupted (SIGTERM)'))
    assert.ok(!existsSync(work))
    assert.deepEqual(entries(out), ['rootfs.tar'], 'no temp tar is left beside it')
    assert.equal(readFileSync(tar, 'utf8'), 'the previous tar\n')
  })

  it('SIGINT during pull: the partial downloads in the store tmp/ are removed', async () => {
    const {store, env} = place()
    const registry = await startFixtureRegistry(world, 1024 * 1024)
    try {
      const profile = await profileVariant('minimal-registry', dir, `registry-${n}`)
      const run = startCli(['pull', profile, '--mirror', registry.mirror, '--store', store], env)
      // A stalled layer's download (its first 64 KiB arrived), not a small document's temp file,
      // which is renamed into place a moment after it appears.
      const stalledDownload = () => {
        const tmp = join(store, 'tmp')
        const name = entries(tmp).find((n) => n.startsWith('.') && statSync(join(tmp, n), {throwIfNoEntry: false})?.size === 64 * 1024)
        return name === undefined ? undefined : join(tmp, name)
      }
      const partial = await waitFor('a partial download', stalledDownload, run)
      await sleep(200)
      run.child.kill('SIGINT')
      const ended = await run.ended
      assert.equal(ended.code, 130, ended.stderr)
      const lines = interruptLines(ended.stderr)
      assert.equal(lines.length, 1, ended.stderr)
      assert.match(lines[0]!, /^stagex-image: interrupted \(SIGINT\); removed .*partial download/)
      assert.ok(!existsSync(partial))
      assert.deepEqual(entries(join(store, 'tmp')), [], 'no partial download is left in the store')
    } finally {
      await registry.close()
    }
  })

  it('SIGINT during test: QEMU is stopped and its run folder removed, exit 130', async function () {
    if (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64']).status !== 0) this.skip()
    const {tmp, out, env} = place()
    const run = startCli(['test', MINIMAL, '--out', out, '--accel', 'tcg', '--no-console'], env)
    const runDir = await waitFor('the QEMU run folder', () => findEntry(tmp, 'stagex-boot-'), run, 60_000)
    const qemu = await waitFor('QEMU', () => childrenOf(run.child.pid!).find((pid) => /qemu/.test(commandOf(pid))), run)
    run.child.kill('SIGINT')
    const ended = await run.ended
    assert.equal(ended.code, 130, ended.stderr)
    const lines = interruptLines(ended.stderr)
    assert.equal(lines.length, 1, ended.stderr)
    assert.match(lines[0]!, new RegExp(`stopped QEMU \\(process group ${qemu}\\)`))
    assert.deepEqual(liveGroupMembers(qemu), [], 'nothing of QEMU runs')
    assert.ok(!existsSync(runDir))
    assert.deepEqual(entries(tmp).filter((e) => e.startsWith('stagex-') && !e.endsWith('.log')), [])
  })

  it('the next run removes what killed runs left (dead pid, reused pid, old foreign host) and keeps what live runs own', async () => {
    const {tmp, out, store, env} = place()
    const host = hostTag()
    const dead = deadPid()
    const mark = (path: string, owner: Record<string, unknown>) => {
      mkdirSync(path)
      writeFileSync(join(path, 'owner.json'), JSON.stringify({tool: 'stagex-image', startedAt: Date.now(), ...owner}))
      writeFileSync(join(path, 'spool'), 'half a spool')
      return path
    }
    const twoDaysAgo = Date.now() - 48 * 3_600_000
    const gone = [
      mark(join(tmp, 'stagex-image-killed'), {pid: dead, host}),
      mark(join(tmp, 'stagex-image-reused'), {pid: process.pid, host, pidStart: (processStartTicks(process.pid) ?? 0) + 1}),
      mark(join(tmp, 'stagex-boot-killed'), {pid: dead, host}),
      mark(join(tmp, 'stagex-image-foreign-old'), {pid: 1, host: 'elsewhere', startedAt: twoDaysAgo}),
      mark(join(out, '.stagex-build-killed'), {pid: dead, host}),
    ]
    const kept = [
      mark(join(tmp, 'stagex-image-live'), {pid: process.pid, host, pidStart: processStartTicks(process.pid)}),
      mark(join(out, '.stagex-build-live'), {pid: process.pid, host}),
      mark(join(tmp, 'stagex-image-foreign-new'), {pid: 1, host: 'elsewhere'}),
    ]
    const unmarked = join(tmp, 'stagex-image-unmarked')
    mkdirSync(unmarked)
    kept.push(unmarked)
    mkdirSync(join(store, 'tmp'))
    const hex = 'ab'.repeat(32)
    const deadDownload = join(store, 'tmp', `.${hex}.tmp-${host}-${dead}-deadbeef`)
    const liveDownload = join(store, 'tmp', `.${hex}.tmp-${host}-${process.pid}-0badcafe`)
    writeFileSync(deadDownload, 'half a layer')
    writeFileSync(liveDownload, 'a layer being written')
    gone.push(deadDownload)
    kept.push(liveDownload)

    const registry = await startFixtureRegistry(world)
    try {
      const profile = await profileVariant('minimal-registry', dir, `registry-${n}`)
      const ended = await startCli(['build', profile, '--mirror', registry.mirror, '--store', store, '--out', out, '--json'], env).ended
      assert.equal(ended.code, 0, ended.stderr)
      assert.ok(JSON.parse(ended.stdout).outputs, 'stdout is the build document alone')
      for (const path of gone) assert.ok(!existsSync(path), `${path} is stale and was removed`)
      for (const path of kept) assert.ok(existsSync(path), `${path} belongs to a live run (or to nobody we know) and was kept`)
      const said = ended.stderr.split('\n').filter((line) => /stale/.test(line))
      assert.equal(said.length, 3, `one line per place (TMPDIR, --out, the store's tmp/):\n${ended.stderr}`)
      for (const path of gone) assert.ok(said.some((line) => line.includes(path)), `${path} is named:\n${said.join('\n')}`)
      assert.ok(said.some((line) => line.includes(`pid ${dead} has exited`)))
      assert.ok(said.some((line) => line.includes(`pid ${process.pid} is another process now`)))
    } finally {
      await registry.close()
    }
  })
})
