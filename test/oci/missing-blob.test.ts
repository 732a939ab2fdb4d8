// A blob the image names but its source lacks: the same typed error (exit 4) from an OCI layout and
// from a registry serving that same layout.
import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {blobPath, writeOciImageLayout, type ImageResult} from '../../scripts/world/oci-layout.js'
import {ExitCode} from '../../src/errors.js'
import type {Digest} from '../../src/oci/digest.js'
import {openLayout} from '../../src/oci/layout.js'
import {isMissingBlobError} from '../../src/oci/missing-blob.js'
import {openRegistry} from '../../src/oci/registry.js'
import {type ImageSource, resolveImage} from '../../src/oci/source.js'

const ABSENT = `sha256:${'0'.repeat(64)}` as Digest

/** A registry that serves the blobs of an OCI layout folder by digest (404 for any it lacks). */
async function serveLayout(dir: string, top: ImageResult['top']): Promise<{server: Server; port: number}> {
  const server = createServer(async (req, res) => {
    const match = /^\/v2\/stagex\/x\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '')
    const reference = match?.[2] === 'latest' ? top.digest : match?.[2]
    try {
      const bytes = await readFile(blobPath(dir, reference!))
      const headers: Record<string, string> = {'content-length': String(bytes.length)}
      if (match![1] === 'manifests') headers['content-type'] = JSON.parse(bytes.toString('utf8')).mediaType
      res.writeHead(200, headers).end(bytes)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return {server, port: typeof address === 'object' && address ? address.port : 0}
}

function assertMissingBlob(digest: string, lookedAt: RegExp) {
  return (error: unknown) => {
    assert.ok(isMissingBlobError(error), `expected a MissingBlobError, got ${String(error)}`)
    assert.equal(error.exitCode, ExitCode.badInput)
    assert.equal(error.kind, 'bad-input')
    assert.equal(error.digest, digest)
    assert.match(error.message, new RegExp(`has no blob ${digest}, which the image names`))
    assert.match(error.lookedAt, lookedAt)
    assert.ok(error.message.includes(error.lookedAt), 'the message says where it was looked for')
    return true
  }
}

describe('oci/missing-blob: one error for a blob missing from a layout or a registry', () => {
  let work: string
  let image: ImageResult
  let server: Server
  let layout: ImageSource
  let registry: ImageSource
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagex-missing-blob-'))
    image = await writeOciImageLayout(join(work, 'layout'), {layers: [{entries: [{type: 'file', path: 'etc/x', data: 'x\n'}]}]})
    const served = await serveLayout(image.dir, image.top)
    server = served.server
    layout = openLayout(image.dir)
    registry = openRegistry({registry: `127.0.0.1:${served.port}`, repository: 'stagex/x'}, {retry: {attempts: 1, baseDelayMs: 1, maxDelayMs: 1}})
  })
  after(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()))
    await rm(work, {recursive: true, force: true})
  })

  it('a layer blob deleted from the layout: openBlob raises MissingBlobError (exit 4) from both sources', async () => {
    const layer = image.layers[0]!
    await rm(blobPath(image.dir, layer.digest))
    for (const [source, lookedAt] of [
      [layout, /blobs\/sha256\/[0-9a-f]{64}$/],
      [registry, /^http:\/\/127\.0\.0\.1:\d+\/v2\/stagex\/x\/blobs\/sha256:/],
    ] as const) {
      const resolved = await resolveImage(source, {tag: 'latest'}, 'x')
      await assert.rejects(source.openBlob(resolved.manifest.layers[0]!), assertMissingBlob(layer.digest, lookedAt))
    }
  })

  it('a manifest digest neither has: resolve raises MissingBlobError (exit 4) from both sources', async () => {
    await assert.rejects(layout.resolve({digest: ABSENT}), assertMissingBlob(ABSENT, /blobs\/sha256\/0{64}$/))
    await assert.rejects(registry.resolve({digest: ABSENT}), assertMissingBlob(ABSENT, /\/manifests\/sha256:0{64}$/))
  })

  it('a config blob missing: readBytes raises MissingBlobError (exit 4) from both sources', async () => {
    const config = {mediaType: 'application/vnd.oci.image.config.v1+json', digest: ABSENT, size: 2}
    await assert.rejects(layout.readBytes(config), assertMissingBlob(ABSENT, /blobs\/sha256\/0{64}$/))
    await assert.rejects(registry.readBytes(config), assertMissingBlob(ABSENT, /\/blobs\/sha256:0{64}$/))
  })
})
