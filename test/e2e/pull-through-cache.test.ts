// A fleet shares one store through a registry: Debian's docker-registry as a pull-through cache
// (`proxy: remoteurl:`) in front of the fixture registry, used as --mirror by two builders with
// stores of their own. Images keep their canonical identity, signatures still verify (the
// profile's trust: 2 of 3), both build the same bytes, and the upstream served each blob once.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {createServer, request, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type Registry, pushFixtures, startRegistry} from '../../scripts/world/registry.js'
import {ensureSigningWorld} from '../../scripts/world/signing.js'
import {build} from '../../src/pipeline/pipeline.js'
import {profileVariant} from '../helpers/cli.js'

const NEEDED = ['core-filesystem', 'core-busybox', 'user-linux-generic']

/** An HTTP relay to `upstream` that counts the blob GETs it passes on, by digest. */
async function countingRelay(upstream: string): Promise<{url: string; blobGets: Map<string, number>; server: Server}> {
  const blobGets = new Map<string, number>()
  const target = new URL(upstream)
  const server = createServer((req, res) => {
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '')?.[1]
    if (blob && req.method === 'GET') blobGets.set(blob, (blobGets.get(blob) ?? 0) + 1)
    const forward = request({host: target.hostname, port: target.port, path: req.url, method: req.method, headers: {...req.headers, host: target.host}}, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    forward.on('error', () => res.destroy())
    req.pipe(forward)
  })
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready))
  const address = server.address()
  return {url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, blobGets, server}
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

describe('e2e: a pull-through cache shared by two builders', function () {
  this.timeout(300_000)
  let upstream: Registry
  let cache: Registry
  let relay: Awaited<ReturnType<typeof countingRelay>>
  let work: string

  before(async () => {
    await ensureSigningWorld()
    upstream = await startRegistry()
    await pushFixtures(upstream, {names: NEEDED})
    relay = await countingRelay(upstream.url)
    cache = await startRegistry({proxy: relay.url})
    work = await mkdtemp(join(tmpdir(), 'stagex-e2e-cache-'))
  })
  after(async () => {
    await cache?.dispose()
    relay?.server.close()
    await upstream?.dispose()
    if (work) await rm(work, {recursive: true, force: true})
  })

  it('both builders build the same bytes with verified, canonically named images; the upstream served each blob in one cache fill, the second builder none', async () => {
    const profile = await profileVariant('minimal-registry', work, 'fleet')
    const mirror = `${cache.host}/stagex`
    const first = await build({profilePath: profile, mirror, store: join(work, 'store-a'), outDir: join(work, 'out-a')})
    const blobs = [...new Set(first.record.inputs.flatMap((i) => [i.configDigest, ...i.layers.map((l) => l.digest)]))].sort()
    // docker-registry stores a missed blob in the background: wait until it holds every one, so
    // that the second builder finds them all in the cache and not half stored.
    for (const deadline = Date.now() + 30_000; !blobs.every((b) => existsSync(cache.blobDataPath(b))); await sleep(50))
      assert.ok(Date.now() < deadline, 'the cache did not store the blobs within 30 s')
    const afterFirst = new Map(relay.blobGets)
    const second = await build({profilePath: profile, mirror, store: join(work, 'store-b'), outDir: join(work, 'out-b')})

    for (const file of ['vmlinuz', 'initramfs.cpio.gz', 'build.json'])
      assert.equal(sha256(await readFile(join(work, 'out-b', file))), sha256(await readFile(join(work, 'out-a', file))), file)
    assert.deepEqual(first.record.inputs.map((i) => i.identity), NEEDED.map((n) => `docker.io/stagex/${n}`), 'the cache does not change identity')
    for (const input of second.record.inputs) assert.equal(input.signers.length, 2, `${input.name}: 2 maintainers counted`)
    // Every layer and config came from upstream in one cache fill, during the first build. (One fill
    // is two GETs in distribution 2.8's proxyblobstore: copyContent serves it, storeLocal stores it.)
    assert.deepEqual([...relay.blobGets.keys()].sort(), blobs)
    assert.deepEqual([...relay.blobGets.values()].filter((n) => n < 1 || n > 2), [], 'a blob fetched from upstream in more than one cache fill')
    assert.deepEqual(relay.blobGets, afterFirst, 'the second builder fetched blobs from upstream')
  })
})
