import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {ensureWorld, type World} from '../../scripts/world/build-fixtures.js'
import {writeOciImageLayout} from '../../scripts/world/oci-layout.js'
import {type Registry, pushFixtures, pushLayout, startRegistry} from '../../scripts/world/registry.js'
import {isStagexError} from '../../src/errors.js'
import {MediaType} from '../../src/oci/media-types.js'
import {openRegistry, type RetryPolicy} from '../../src/oci/registry.js'
import {BLOB_FLOOR_BYTES_PER_SECOND, blobDeadlineMs, DEFAULT_BLOB_DEADLINE} from '../../src/oci/blob-deadline.js'
import {resolveImage} from '../../src/oci/source.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const FAST: RetryPolicy = {attempts: 3, baseDelayMs: 10, maxDelayMs: 50}
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}` as const

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const exitCode = (code: number, pattern: RegExp) => (error: unknown) => {
  assert.ok(isStagexError(error), `expected a StagexError, got ${String(error)}`)
  assert.equal(error.exitCode, code, error.message)
  assert.match(error.message, pattern)
  return true
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

async function listen(handler: Handler): Promise<{server: Server; port: number}> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return {server, port: typeof address === 'object' && address ? address.port : 0}
}
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))

describe('oci/registry against a scripted server', () => {
  const layer = Buffer.from('layer bytes '.repeat(100))
  const config = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {type: 'layers', diff_ids: []}}))
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: {mediaType: MediaType.ociConfig, digest: sha(config), size: config.length},
      layers: [{mediaType: MediaType.ociLayerGzip, digest: sha(layer), size: layer.length}],
    }),
  )
  const layerDescriptor = {mediaType: MediaType.ociLayerGzip, digest: sha(layer), size: layer.length}
  let servers: Server[] = []
  afterEach(async () => {
    for (const s of servers) await close(s)
    servers = []
  })
  async function serve(handler: Handler) {
    const started = await listen(handler)
    servers.push(started.server)
    return started.port
  }

  it('follows a blob redirect to another host without sending it the Authorization header', async () => {
    const seenByCdn: (string | undefined)[] = []
    const cdnPort = await serve((req, res) => {
      seenByCdn.push(req.headers.authorization)
      res.end(layer)
    })
    const seenByRegistry: (string | undefined)[] = []
    const port = await serve((req, res) => {
      seenByRegistry.push(req.headers.authorization)
      if (req.headers.authorization !== 'Basic ' + Buffer.from('u:p').toString('base64')) {
        res.writeHead(401, {'www-authenticate': 'Basic realm="test"'})
        res.end()
        return
      }
      res.writeHead(307, {location: `http://localhost:${cdnPort}/cdn/${sha(layer)}`})
      res.end()
    })
    const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {credentials: {username: 'u', password: 'p'}, retry: FAST})
    assert.deepEqual(await drain(await registry.openBlob(layerDescriptor)), layer)
    assert.deepEqual(seenByRegistry, [undefined, 'Basic dTpw'])
    assert.deepEqual(seenByCdn, [undefined])
  })

  describe('basic credentials go only to the registry\'s own origin', () => {
    const credentials = {username: 'u', password: 'p'}
    const basic = 'Basic ' + Buffer.from('u:p').toString('base64')

    /** A registry that asks for a Bearer token from `realm(port)` and serves the manifest to that token. */
    async function registryWithRealm(realm: (port: number) => string) {
      const seen: (string | undefined)[] = []
      const port = await serve((req, res) => {
        if (req.url!.startsWith('/token')) {
          seen.push(req.headers.authorization)
          res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({token: 'same-origin'}))
          return
        }
        if (req.headers.authorization?.startsWith('Bearer ')) res.writeHead(200, {'content-type': MediaType.ociManifest}).end(manifest)
        else res.writeHead(401, {'www-authenticate': `Bearer realm="${realm(port)}",service="test"`}).end()
      })
      return {port, seenAtRegistryRealm: seen}
    }

    /** A token service on its own port (another origin), recording the Authorization headers it receives. */
    async function tokenService(status = 200) {
      const seen: (string | undefined)[] = []
      const port = await serve((req, res) => {
        seen.push(req.headers.authorization)
        if (status !== 200) res.writeHead(status).end()
        else res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({token: 'elsewhere'}))
      })
      return {port, seen}
    }

    it('a Bearer realm on another port gets the token request without the Basic header', async () => {
      const realm = await tokenService()
      const {port} = await registryWithRealm(() => `http://127.0.0.1:${realm.port}/token`)
      const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {credentials, retry: FAST})
      assert.equal((await registry.resolve({tag: 'latest'})).digest, sha(manifest))
      assert.deepEqual(realm.seen, [undefined])
    })

    it('a Bearer realm on the registry\'s own origin gets the Basic header', async () => {
      const {port, seenAtRegistryRealm} = await registryWithRealm((p) => `http://127.0.0.1:${p}/token`)
      const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {credentials, retry: FAST})
      assert.equal((await registry.resolve({tag: 'latest'})).digest, sha(manifest))
      assert.deepEqual(seenAtRegistryRealm, [basic])
    })

    it('the same host over another scheme or name is another origin: no Basic header', async () => {
      const {port, seenAtRegistryRealm} = await registryWithRealm((p) => `http://localhost:${p}/token`)
      const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {credentials, retry: FAST})
      assert.equal((await registry.resolve({tag: 'latest'})).digest, sha(manifest))
      assert.deepEqual(seenAtRegistryRealm, [undefined])
    })

    it('a realm elsewhere that wants credentials: exit 2, saying they were not sent, naming no secret', async () => {
      const realm = await tokenService(401)
      const {port} = await registryWithRealm(() => `http://127.0.0.1:${realm.port}/token`)
      const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {credentials, retry: FAST})
      await assert.rejects(registry.resolve({tag: 'latest'}), (error: unknown) => {
        exitCode(2, /not the registry's own origin, so your credentials were not sent to it/)(error)
        assert.doesNotMatch((error as Error).message, /dTpw|:p\b/)
        return true
      })
      assert.deepEqual(realm.seen, [undefined])
    })

    it('a realm the caller vouches for (tokenOrigins) gets the Basic header', async () => {
      const realm = await tokenService()
      const {port} = await registryWithRealm(() => `http://127.0.0.1:${realm.port}/token`)
      const registry = openRegistry(
        {registry: `127.0.0.1:${port}`, repository: 'stagex/x'},
        {credentials, retry: FAST, tokenOrigins: [`http://127.0.0.1:${realm.port}`]},
      )
      assert.equal((await registry.resolve({tag: 'latest'})).digest, sha(manifest))
      assert.deepEqual(realm.seen, [basic])
    })
  })

  describe('every blob download has an overall deadline', () => {
    /** 0.3 s + size at 1000 bytes/s: 0.4 s for the 100-byte blob below, instead of 30 s + size at 256 KiB/s. */
    const blobDeadline = {baseMs: 300, floorBytesPerSecond: 1000}
    const blob = Buffer.from('d'.repeat(100))
    const blobDescriptor = {mediaType: MediaType.ociLayerGzip, digest: sha(blob), size: blob.length}
    const dripping: ServerResponse[] = []
    afterEach(() => {
      for (const res of dripping.splice(0)) res.destroy()
    })

    /** Exit 7, naming the blob, the registry, the bytes received and the deadline; and quickly, not after the drip. */
    const tooSlow = (port: number, received: RegExp, started: number) => (error: unknown) => {
      exitCode(7, new RegExp(`registry 127\\.0\\.0\\.1:${port} stagex/x \\(http://127\\.0\\.0\\.1:${port}\\): blob ${blobDescriptor.digest} is too slow: ${received.source} of 100 bytes arrived within its 0\\.4 s deadline`))(error)
      assert.ok(Date.now() - started < 1900, `gave up after ${Date.now() - started} ms`)
      return true
    }

    it('a registry that drips one byte every two seconds: exit 7 at the deadline, naming blob, registry, bytes and deadline', async () => {
      const port = await serve((_req, res) => {
        dripping.push(res)
        res.writeHead(200, {'content-length': String(blob.length)})
        let sent = 0
        const drip = () => {
          if (res.destroyed || sent >= blob.length) return
          res.write(blob.subarray(sent, ++sent))
          setTimeout(drip, 2000)
        }
        drip()
      })
      const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {retry: FAST, blobDeadline})
      const started = Date.now()
      await assert.rejects(drain(await registry.openBlob(blobDescriptor)), tooSlow(port, /1/, started))
    })

    it('a registry that never sends its headers: exit 7 at the same deadline, 0 bytes received', async () => {
      const port = await serve((_req, res) => {
        dripping.push(res)
      })
      const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {retry: FAST, blobDeadline})
      const started = Date.now()
      await assert.rejects(registry.openBlob(blobDescriptor), tooSlow(port, /0/, started))
    })

    it('a manifest dripped one byte every two seconds: exit 7 within the deadline of the largest manifest', async () => {
      const port = await serve((_req, res) => {
        dripping.push(res)
        res.writeHead(200, {'content-type': MediaType.ociManifest})
        res.write(manifest.subarray(0, 1))
      })
      // 0.3 s + 4 MiB at 16 MiB/s: 0.55 s.
      const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {retry: FAST, blobDeadline: {baseMs: 300, floorBytesPerSecond: 16 * 1024 * 1024}})
      const started = Date.now()
      await assert.rejects(registry.resolve({tag: 'latest'}), (error: unknown) => {
        exitCode(7, /stagex\/x \(http:\/\/127\.0\.0\.1:\d+\): manifest latest is too slow: 1 bytes arrived within its 0\.6 s deadline \(0\.3 s \+ the largest manifest at 16384 KiB\/s\)/)(error)
        assert.ok(Date.now() - started < 1900)
        return true
      })
    })

    it('a blob that arrives in time is not cut off by its finished deadline', async () => {
      const port = await serve((_req, res) => res.end(blob))
      const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {retry: FAST, blobDeadline})
      assert.deepEqual(await drain(await registry.openBlob(blobDescriptor)), blob)
      await new Promise((resolve) => setTimeout(resolve, 500))
    })

    it('the default deadline: 30 s + the size at 256 KiB/s', () => {
      assert.equal(BLOB_FLOOR_BYTES_PER_SECOND, 256 * 1024)
      assert.equal(blobDeadlineMs(0, DEFAULT_BLOB_DEADLINE), 30_000)
      assert.equal(blobDeadlineMs(256 * 1024 * 100, DEFAULT_BLOB_DEADLINE), 130_000)
    })
  })

  it('retries 503 and 429 with backoff, then succeeds', async () => {
    let calls = 0
    const port = await serve((_req, res) => {
      calls++
      if (calls === 1) res.writeHead(503).end()
      else if (calls === 2) res.writeHead(429, {'retry-after': '0'}).end()
      else res.writeHead(200, {'content-type': MediaType.ociManifest}).end(manifest)
    })
    const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {retry: FAST})
    const top = await registry.resolve({tag: 'latest'})
    assert.equal(top.digest, sha(manifest))
    assert.equal(top.mediaType, MediaType.ociManifest)
    assert.equal(calls, 3)
  })

  it('gives up after the last attempt with a clear error (exit 2)', async () => {
    const port = await serve((_req, res) => res.writeHead(500).end())
    const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {retry: FAST})
    await assert.rejects(registry.resolve({tag: 'latest'}), exitCode(7, /answered HTTP 500 3 times/))
    const closed = await listen(() => {})
    await close(closed.server)
    const gone = openRegistry({registry: `127.0.0.1:${closed.port}`, repository: 'stagex/x'}, {retry: FAST})
    await assert.rejects(gone.resolve({tag: 'latest'}), exitCode(7, /unreachable \(ECONNREFUSED\) after 3 attempts/))
  })

  it('refuses a manifest whose Docker-Content-Digest or requested digest does not match (exit 4)', async () => {
    const port = await serve((_req, res) => res.writeHead(200, {'docker-content-digest': sha('other')}).end(manifest))
    const registry = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {retry: FAST})
    await assert.rejects(registry.resolve({tag: 'latest'}), exitCode(4, /digest mismatch/))
    await assert.rejects(registry.resolve({digest: sha('other')}), exitCode(4, /digest mismatch: asked for/))
  })

  it('refuses a blob larger than its descriptor, announced or streamed (exit 4)', async () => {
    const announced = await serve((_req, res) => res.writeHead(200, {'content-length': String(layer.length + 1)}).end(Buffer.concat([layer, Buffer.from('x')])))
    const registry = openRegistry({registry: `127.0.0.1:${announced}`, repository: 'stagex/x'}, {retry: FAST})
    await assert.rejects(registry.openBlob(layerDescriptor), exitCode(4, /announced as \d+ bytes/))
    const chunked = await serve((_req, res) => {
      res.write(layer)
      res.end('more')
    })
    const streaming = openRegistry({registry: `127.0.0.1:${chunked}`, repository: 'stagex/x'}, {retry: FAST})
    await assert.rejects(drain(await streaming.openBlob(layerDescriptor)), exitCode(4, /larger than/))
  })

  it('refuses a manifest over the size limit, and names a missing tag', async () => {
    const big = await serve((req, res) => {
      if (req.url!.endsWith('/missing')) res.writeHead(404).end()
      else res.writeHead(200, {'content-length': String(5 * 1024 * 1024)}).end()
    })
    const registry = openRegistry({registry: `127.0.0.1:${big}`, repository: 'stagex/x'}, {retry: FAST})
    await assert.rejects(registry.resolve({tag: 'latest'}), exitCode(4, /more than the 4194304 allowed/))
    await assert.rejects(registry.resolve({tag: 'missing'}), exitCode(2, /no manifest tagged "missing"/))
  })

  it('reports an access denial once the challenge was answered', async () => {
    const port = await serve((_req, res) => res.writeHead(401, {'www-authenticate': 'Basic realm="x"'}).end())
    const anonymous = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {retry: FAST})
    await assert.rejects(anonymous.resolve({tag: 'latest'}), exitCode(2, /access denied.*add credentials/))
    const wrong = openRegistry({registry: `127.0.0.1:${port}`, repository: 'stagex/x'}, {credentials: {username: 'u', password: 'bad'}, retry: FAST})
    await assert.rejects(wrong.resolve({tag: 'latest'}), exitCode(2, /credentials of "u" do not allow/))
  })
})

describe('oci/registry against docker-registry behind token auth', function () {
  this.timeout(300_000)
  let world: World
  let registry: Registry
  let multi: Awaited<ReturnType<typeof writeOciImageLayout>>
  let work: string
  const credentials = {username: 'maintainer', password: 'correct horse battery staple'}

  before(async () => {
    world = await ensureWorld()
    work = await mkdtemp(join(tmpdir(), 'stagex-registry-test-'))
    registry = await startRegistry({auth: 'token'})
    await pushFixtures(registry, {names: ['core-filesystem', 'core-busybox', 'user-linux-generic']})
    await pushFixtures(registry, {names: ['core-busybox'], namespace: 'v2s2', format: 'v2s2'})
    multi = await writeOciImageLayout(join(work, 'multi'), {
      layers: [{entries: [{type: 'file', path: 'etc/amd64', data: 'amd64\n'}]}],
      decoys: [
        {architecture: 'arm64', os: 'linux', variant: 'v8'},
        {architecture: 's390x', os: 'linux'},
      ],
    })
    await pushLayout(registry, `oci:${join(work, 'multi')}:latest`, 'stagex/multi')
  })
  after(async () => {
    await registry?.dispose()
    if (work) await rm(work, {recursive: true, force: true})
  })

  // The test issuer listens on its own port: another origin, which gets credentials only when vouched for.
  const client = (repository: string) =>
    openRegistry({registry: registry.host, repository}, {credentials, retry: FAST, tokenOrigins: [new URL(registry.tokenUrl!).origin]})

  it('pulls by tag through the token flow: index -> linux/amd64 manifest, as the fixture world has it', async () => {
    const expected = world.packages['core-busybox']!
    const image = await resolveImage(client('stagex/core-busybox'), {tag: 'latest'}, 'core-busybox')
    assert.equal(image.indexDigest, expected.indexDigest)
    assert.equal(image.manifestDigest, expected.manifestDigest)
    assert.equal(image.configDigest, expected.configDigest)
    assert.deepEqual(image.manifest.layers.map((l) => l.digest), expected.layers)
    const granted = registry.tokenRequests.filter((r) => r.granted && r.scope.includes('repository:stagex/core-busybox:pull'))
    assert.ok(granted.length >= 1, 'a pull token was requested with the credentials')
  })

  it('pulls by manifest digest and by index digest, and streams a layer checked', async () => {
    const expected = world.packages['core-busybox']!
    const byManifest = await resolveImage(client('stagex/core-busybox'), {digest: expected.manifestDigest as `sha256:${string}`}, 'x')
    assert.equal(byManifest.manifestDigest, expected.manifestDigest)
    assert.equal(byManifest.indexDigest, undefined)
    const source = client('stagex/core-busybox')
    const byIndex = await resolveImage(source, {digest: expected.indexDigest as `sha256:${string}`}, 'x')
    assert.equal(byIndex.manifestDigest, expected.manifestDigest)
    const layer = byIndex.manifest.layers[1]!
    const bytes = await drain(await source.openBlob(layer))
    assert.equal(sha(bytes), layer.digest)
  })

  it('picks linux/amd64 from an index that lists other platforms first', async () => {
    const image = await resolveImage(client('stagex/multi'), {tag: 'latest'}, 'multi')
    assert.equal(image.indexDigest, multi.indexDigest)
    assert.equal(image.manifestDigest, multi.manifestDigest)
    assert.notEqual(multi.decoyManifestDigests.length, 0)
  })

  it('reads a Docker v2s2 image pushed with skopeo --format v2s2', async () => {
    const source = client('v2s2/core-busybox')
    const image = await resolveImage(source, {tag: 'latest'}, 'v2s2')
    assert.equal(image.manifestDescriptor.mediaType, MediaType.dockerManifest)
    assert.equal(image.manifest.config.mediaType, MediaType.dockerConfig)
    assert.ok(image.manifest.layers.every((l) => l.mediaType === MediaType.dockerLayerGzip))
    assert.deepEqual(image.manifest.layers.map((l) => l.digest), world.packages['core-busybox']!.layers)
    const bytes = await drain(await source.openBlob(image.manifest.layers[0]!))
    assert.equal(sha(bytes), image.manifest.layers[0]!.digest)
  })

  it('without credentials, and with a wrong password: a clear error (exit 2)', async () => {
    const anonymous = openRegistry({registry: registry.host, repository: 'stagex/core-busybox'}, {retry: FAST})
    await assert.rejects(anonymous.resolve({tag: 'latest'}), exitCode(2, /requires credentials/))
    const wrong = openRegistry(
      {registry: registry.host, repository: 'stagex/core-busybox'},
      {credentials: {username: 'maintainer', password: 'wrong'}, retry: FAST, tokenOrigins: [new URL(registry.tokenUrl!).origin]},
    )
    await assert.rejects(wrong.resolve({tag: 'latest'}), exitCode(2, /refused the credentials of "maintainer"/))
  })

  it('the CLI keeps DOCKER_CONFIG credentials from a token issuer on another origin: exit 2 saying so, the password sent nowhere', async () => {
    const run = promisify(execFile)
    const dockerConfig = join(work, 'docker')
    const store = join(work, 'store')
    await run('mkdir', ['-p', dockerConfig])
    await writeFile(
      join(dockerConfig, 'config.json'),
      JSON.stringify({auths: {[registry.host]: {auth: Buffer.from(`maintainer:${credentials.password}`).toString('base64')}}}),
    )
    const before = registry.tokenRequests.length
    // From the sources (not dist/, which may be stale while others work in the tree).
    const args = ['--import', 'tsx', 'test/helpers/run-command-from-source.ts', 'pull', 'profiles/minimal-registry.yaml', '--mirror', `${registry.host}/stagex`, '--store', store, '--json']
    const failed = await run('node', args, {cwd: REPO, env: {...process.env, DOCKER_CONFIG: dockerConfig}}).then(
      () => assert.fail('the issuer on another port granted a token without credentials'),
      (error: {code: number; stdout: string}) => error,
    )
    assert.equal(failed.code, 2)
    const message = JSON.parse(failed.stdout).error.message as string
    assert.match(message, /not the registry's own origin, so your credentials were not sent to it/)
    assert.ok(!message.includes(credentials.password))
    const requests = registry.tokenRequests.slice(before)
    assert.ok(requests.length > 0 && requests.every((r) => r.user === undefined), 'every token request went anonymous')
  })

})
