import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {isStagexError} from '../../src/errors.js'
import type {Digest} from '../../src/oci/digest.js'
import {MediaType} from '../../src/oci/media-types.js'
import {defaultStoreDir, openStore} from '../../src/store/content-store.js'

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest
const descriptorOf = (b: Buffer) => ({mediaType: MediaType.ociLayerGzip, digest: sha(b), size: b.length})
/** Content in small chunks, so that two writers interleave. */
const chunked = (b: Buffer) => Readable.from(Array.from({length: Math.ceil(b.length / 1000)}, (_, i) => b.subarray(i * 1000, (i + 1) * 1000)))

/** Every file under blobs/sha256 hashes to its own name. */
async function assertStoreConsistent(dir: string): Promise<number> {
  const names = await readdir(join(dir, 'blobs', 'sha256'))
  for (const name of names) {
    const bytes = await readFile(join(dir, 'blobs', 'sha256', name))
    assert.equal(createHash('sha256').update(bytes).digest('hex'), name, `store blob ${name} holds other content`)
  }
  return names.length
}

describe('store/content-store', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-store-'))
  })
  afterEach(async () => rm(dir, {recursive: true, force: true}))

  it('defaults to $XDG_CACHE_HOME/stagex-image, else ~/.cache/stagex-image', () => {
    assert.equal(defaultStoreDir({XDG_CACHE_HOME: '/x/cache', HOME: '/home/u'}), '/x/cache/stagex-image')
    assert.equal(defaultStoreDir({HOME: '/home/u'}), '/home/u/.cache/stagex-image')
    assert.equal(defaultStoreDir({XDG_CACHE_HOME: 'relative', HOME: '/home/u'}), '/home/u/.cache/stagex-image')
  })

  it('ingests a stream under its digest, and reads it back checked', async () => {
    const store = await openStore(dir)
    const content = Buffer.from('x'.repeat(5000))
    let counted = 0
    await store.ingest(descriptorOf(content), chunked(content), (n) => (counted += n))
    assert.equal(counted, content.length)
    assert.ok(await store.has(sha(content)))
    assert.deepEqual(await readFile(store.blobPath(sha(content))), content)
    assert.deepEqual(await readdir(join(dir, 'tmp')), [])
  })

  it('keeps nothing of content whose digest or size does not match (exit 4)', async () => {
    const store = await openStore(dir)
    const content = Buffer.from('good content')
    const wrong = Buffer.from('evil content')
    await assert.rejects(store.ingest(descriptorOf(content), chunked(wrong)), (e: unknown) => isStagexError(e) && e.exitCode === 4 && e.message.includes(sha(content)))
    await assert.rejects(store.ingest(descriptorOf(content), chunked(Buffer.concat([content, wrong]))), (e: unknown) => isStagexError(e) && e.exitCode === 4)
    await assert.rejects(store.putBytes(descriptorOf(content), wrong), (e: unknown) => isStagexError(e) && e.exitCode === 4)
    assert.equal(await store.has(sha(content)), false)
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [])
    assert.deepEqual(await readdir(join(dir, 'tmp')), [])
  })

  it('lets two writers of the same blob both succeed', async () => {
    const [a, b] = await Promise.all([openStore(dir), openStore(dir)])
    const content = Buffer.alloc(200_000, 7)
    await Promise.all([a.ingest(descriptorOf(content), chunked(content)), b.ingest(descriptorOf(content), chunked(content))])
    assert.equal(await assertStoreConsistent(dir), 1)
    assert.deepEqual(await readdir(join(dir, 'tmp')), [])
  })

  it('records tags, and serves a repository offline from the store', async () => {
    const store = await openStore(dir)
    const config = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux'}))
    const manifest = Buffer.from(
      JSON.stringify({schemaVersion: 2, mediaType: MediaType.ociManifest, config: {mediaType: MediaType.ociConfig, digest: sha(config), size: config.length}, layers: []}),
    )
    const top = {mediaType: MediaType.ociManifest, digest: sha(manifest), size: manifest.length}
    await store.putBytes(top, manifest)
    await store.putBytes({mediaType: MediaType.ociConfig, digest: sha(config), size: config.length}, config)
    await store.writeTag('docker.io/stagex/core-busybox', 'latest', top)
    assert.deepEqual(await store.readTag('docker.io/stagex/core-busybox', 'latest'), top)
    assert.equal(await store.readTag('docker.io/stagex/core-busybox', 'other'), undefined)

    const source = store.source('docker.io/stagex/core-busybox')
    assert.deepEqual(await source.resolve({tag: 'latest'}), top)
    assert.deepEqual(await source.resolve({digest: top.digest}), top)
    await assert.rejects(source.resolve({tag: 'other'}), (e: unknown) => isStagexError(e) && e.exitCode === 2 && /never resolved into this store/.test(e.message))
    const missing = sha(Buffer.from('missing'))
    await assert.rejects(source.resolve({digest: missing}), /is not in the store; pull it first/)
    await assert.rejects(source.openBlob({mediaType: MediaType.ociLayerGzip, digest: missing, size: 7}), /is not in the store/)
    await assert.rejects(store.source('docker.io/stagex/x').resolve({tag: '../../escape'}), /cannot name a tag record/)
  })

  it('notices a store blob altered on disk when reading it (exit 4)', async () => {
    const store = await openStore(dir)
    const content = Buffer.from('layer content')
    await store.ingest(descriptorOf(content), chunked(content))
    await writeFile(store.blobPath(sha(content)), 'LAYER content')
    const stream = await store.source('docker.io/stagex/x').openBlob(descriptorOf(content))
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (e: unknown) => isStagexError(e) && e.exitCode === 4 && /digest mismatch/.test(e.message),
    )
  })

  describe('re-hashing stored blobs before trusting them', () => {
    it('inspect: intact, missing, or altered with what the bytes hash to now', async () => {
      const store = await openStore(dir)
      const content = Buffer.alloc(3 * 1024 * 1024 + 5, 1)
      await store.ingest(descriptorOf(content), chunked(content))
      assert.deepEqual(await store.inspect(sha(content)), {state: 'intact'})
      assert.deepEqual(await store.inspect(sha(Buffer.from('never stored'))), {state: 'missing'})
      const altered = Buffer.from(content)
      altered[altered.length >> 1] ^= 0xff
      await writeFile(store.blobPath(sha(content)), altered)
      assert.deepEqual(await store.inspect(sha(content)), {state: 'altered', hashesTo: sha(altered), size: altered.length})
    })

    it('putBytes replaces a document whose stored copy was altered', async () => {
      const store = await openStore(dir)
      const manifest = Buffer.from('{"schemaVersion":2}')
      await store.putBytes(descriptorOf(manifest), manifest)
      await writeFile(store.blobPath(sha(manifest)), '{"schemaVersion":3}')
      await store.putBytes(descriptorOf(manifest), manifest)
      assert.deepEqual(await readFile(store.blobPath(sha(manifest))), manifest)
      assert.equal(await assertStoreConsistent(dir), 1)
    })

    it('offline, an altered document is refused (exit 4) naming the blob and its path, telling to pull online', async () => {
      const store = await openStore(dir)
      const manifest = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.ociManifest}))
      await store.putBytes(descriptorOf(manifest), manifest)
      await writeFile(store.blobPath(sha(manifest)), 'altered')
      const source = store.source('docker.io/stagex/x')
      const refused = (e: unknown) => {
        assert.ok(isStagexError(e))
        assert.equal(e.exitCode, 4)
        assert.ok(e.message.includes(`store blob ${sha(manifest)} (${store.blobPath(sha(manifest))}) no longer holds the bytes its name says`), e.message)
        assert.match(e.message, /run pull \(online\) to download it again/)
        return true
      }
      await assert.rejects(source.resolve({digest: sha(manifest)}), refused)
      await assert.rejects(source.readBytes(descriptorOf(manifest)), refused)
    })
  })
})
