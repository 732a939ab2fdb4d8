// `npm run registry` (scripts/registry.ts), as the README's registry examples use it: the fixture
// images on a local docker-registry, trusted (2 of 3 signatures in the world's lookaside), pulled
// with --mirror and carried with --to oci:DIR; Ctrl-C stops it and frees the port.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {REPO, runCli} from '../helpers/cli.js'

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })

describe('e2e: npm run registry serves the README registry examples', function () {
  this.timeout(300_000)
  let dir = ''
  before(function () {
    if (!existsSync(join(REPO, '.cache/world/oci'))) this.skip()
    dir = mkdtempSync(join(tmpdir(), 'stagex-npm-registry-'))
  })
  after(() => {
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('starts, pushes the signed fixtures, serves pull --mirror --to oci:DIR, and stops on Ctrl-C', async () => {
    const port = await freePort()
    const child = spawn('npm', ['run', '-s', 'registry', '--', '--port', String(port)], {cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      const deadline = Date.now() + 120_000
      while (!/Ctrl-C .* stops it/.test(stdout)) {
        if (child.exitCode !== null) assert.fail(`npm run registry exited ${child.exitCode}: ${stdout}${stderr}`)
        if (Date.now() > deadline) assert.fail(`npm run registry not ready in 120 s: ${stdout}${stderr}`)
        await new Promise((r) => setTimeout(r, 200))
      }
      assert.ok(stdout.includes(`127.0.0.1:${port}/stagex/core-busybox:latest`), stdout)

      const carry = join(dir, 'carry')
      const pull = runCli(['pull', 'profiles/minimal-registry.yaml', '--mirror', `127.0.0.1:${port}/stagex`, '--to', `oci:${carry}`, '--store', join(dir, 'store'), '--json'], {cwd: REPO})
      assert.equal(pull.code, 0, pull.stderr + pull.stdout)
      for (const name of ['core-filesystem', 'core-busybox', 'user-linux-generic']) assert.ok(existsSync(join(carry, name, 'index.json')), `${name} carried`)
    } finally {
      // Ctrl-C reaches the whole foreground process group: npm and the script under it.
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGINT')
    }
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))])
    if (code === 'hung') process.kill(-child.pid!, 'SIGKILL')
    assert.notEqual(code, 'hung', 'npm run registry stops within 20 s of Ctrl-C')
    assert.match(stdout, /stopping docker-registry/)
    const probe = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      () => 'answered',
      () => 'refused',
    )
    assert.equal(probe, 'refused', 'the registry is gone')
  })
})
