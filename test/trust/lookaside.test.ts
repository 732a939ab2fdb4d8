// Lookaside reads over a loopback HTTP server and a file:// folder.
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import type {StagexError} from '../../src/errors.js'
import {fetchSignatures, lookasideRepositoryPath, signatureUrl} from '../../src/trust/lookaside.js'

const DIGEST = `sha256:${'ab'.repeat(32)}` as const
const SIG_DIR = `/sigs/stagex/core-busybox@sha256=${'ab'.repeat(32)}`

const rejection = async (promise: Promise<unknown>): Promise<StagexError> => {
  try {
    await promise
  } catch (error) {
    return error as StagexError
  }
  return assert.fail('expected a failure')
}

describe('trust: lookaside', () => {
  describe('paths (signature-protocols.md)', () => {
    it('drops the registry host and expands Docker Hub names', () => {
      assert.equal(lookasideRepositoryPath('docker.io/stagex/core-busybox'), 'stagex/core-busybox')
      assert.equal(lookasideRepositoryPath('stagex/core-busybox'), 'stagex/core-busybox')
      assert.equal(lookasideRepositoryPath('busybox'), 'library/busybox')
      assert.equal(lookasideRepositoryPath('example.com/ns1/ns2/ns3/repo'), 'ns1/ns2/ns3/repo')
      assert.equal(lookasideRepositoryPath('127.0.0.1:5000/stagex/core-busybox'), 'stagex/core-busybox')
    })

    it('matches the documented example URLs', () => {
      const hex = '817a12c32a39bbe394944ba49de563e085f1d3c5266eb8e9723256bc4448680e'
      assert.equal(
        signatureUrl('https://example.com/lookaside', 'busybox', `sha256:${hex}`, 2).href,
        `https://example.com/lookaside/library/busybox@sha256=${hex}/signature-2`,
      )
      assert.equal(
        signatureUrl('https://example.com/lookaside/', 'docker.io/library/busybox', `sha256:${hex}`, 1).href,
        `https://example.com/lookaside/library/busybox@sha256=${hex}/signature-1`,
      )
    })

    it('refuses other schemes and non-URLs (usage)', () => {
      for (const bad of [':emptyscheme', '/no/scheme/just/a/path', 'no/scheme/relative/path', 'ftp://example.com/x']) {
        assert.throws(() => signatureUrl(bad, 'stagex/x', DIGEST, 1), (error: StagexError) => error.exitCode === 2, bad)
      }
    })
  })

  describe('over HTTP on loopback', () => {
    let server: Server
    let base: string
    /** Path -> answer; '*' answers every other path; `chunked` sends the body in pieces, with no Content-Length. */
    let routes: Map<string, {status: number; body?: Buffer; chunked?: boolean}>
    let requests: string[]

    before(async () => {
      server = createServer((request, response) => {
        requests.push(request.url!)
        const route = routes.get(request.url!) ?? routes.get('*') ?? {status: 404}
        response.writeHead(route.status, {'content-type': 'application/octet-stream'})
        if (route.chunked && route.body) {
          for (let i = 0; i < route.body.length; i += 4096) response.write(route.body.subarray(i, i + 4096))
          response.end()
        } else response.end(route.body)
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sigs`
    })
    after(() => new Promise<void>((resolve) => server.close(() => resolve())))
    beforeEach(() => {
      routes = new Map()
      requests = []
    })

    it('reads signature-1, -2 and stops at the first 404', async () => {
      routes.set(`${SIG_DIR}/signature-1`, {status: 200, body: Buffer.from('one')})
      routes.set(`${SIG_DIR}/signature-2`, {status: 200, body: Buffer.from('two')})
      routes.set(`${SIG_DIR}/signature-4`, {status: 200, body: Buffer.from('never read')})
      const found = await fetchSignatures({lookaside: base, repository: 'docker.io/stagex/core-busybox', manifestDigest: DIGEST})
      assert.deepEqual(found.map((file) => [file.name, Buffer.from(file.bytes).toString()]), [
        ['signature-1', 'one'],
        ['signature-2', 'two'],
      ])
      assert.deepEqual(requests, [1, 2, 3].map((n) => `${SIG_DIR}/signature-${n}`))
    })

    it('an image without signatures gives an empty list', async () => {
      assert.deepEqual(await fetchSignatures({lookaside: base, repository: 'stagex/core-busybox', manifestDigest: DIGEST}), [])
    })

    it('HTTP 500 or 429 fails as unreachable (exit 7, CI may retry), never "no more signatures"', async () => {
      routes.set(`${SIG_DIR}/signature-1`, {status: 200, body: Buffer.from('one')})
      for (const status of [500, 503, 429]) {
        routes.set(`${SIG_DIR}/signature-2`, {status})
        const error = await rejection(fetchSignatures({lookaside: base, repository: 'stagex/core-busybox', manifestDigest: DIGEST}))
        assert.equal(error.kind, 'unreachable', `HTTP ${status}`)
        assert.equal(error.exitCode, 7)
        assert.match(error.message, new RegExp(`HTTP ${status} .*signature-2`))
      }
    })

    it('HTTP 403 fails too', async () => {
      routes.set(`${SIG_DIR}/signature-1`, {status: 403})
      const error = await rejection(fetchSignatures({lookaside: base, repository: 'stagex/core-busybox', manifestDigest: DIGEST}))
      assert.equal(error.exitCode, 3)
    })

    it('a signature over the size limit is refused (bad-input, exit 4)', async () => {
      routes.set(`${SIG_DIR}/signature-1`, {status: 200, body: Buffer.alloc(2048, 1)})
      const error = await rejection(fetchSignatures({lookaside: base, repository: 'stagex/core-busybox', manifestDigest: DIGEST, maxSignatureBytes: 1024}))
      assert.equal(error.kind, 'bad-input')
      assert.equal(error.exitCode, 4)
      assert.match(error.message, /larger than 1024 bytes/)
      routes.set(`${SIG_DIR}/signature-1`, {status: 200, body: Buffer.alloc(1024, 1)})
      const exact = await fetchSignatures({lookaside: base, repository: 'stagex/core-busybox', manifestDigest: DIGEST, maxSignatureBytes: 1024})
      assert.equal(exact[0]!.bytes.length, 1024)
    })

    it('the limit holds while streaming, without a Content-Length', async () => {
      routes.set(`${SIG_DIR}/signature-1`, {status: 200, body: Buffer.alloc(256 * 1024, 7), chunked: true})
      const error = await rejection(fetchSignatures({lookaside: base, repository: 'stagex/core-busybox', manifestDigest: DIGEST}))
      assert.equal(error.exitCode, 4)
      assert.match(error.message, /larger than 65536 bytes/)
    })

    it('a lookaside that cannot be reached fails as unreachable (exit 7)', async () => {
      const closed = createServer()
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
      const port = (closed.address() as AddressInfo).port
      await new Promise<void>((resolve) => closed.close(() => resolve()))
      const error = await rejection(fetchSignatures({lookaside: `http://127.0.0.1:${port}/`, repository: 'stagex/x', manifestDigest: DIGEST}))
      assert.equal(error.exitCode, 7)
      assert.match(error.message, /cannot fetch signature .*127\.0\.0\.1/)
    })

    it('more than 128 signatures is a server error', async () => {
      routes.set('*', {status: 200, body: Buffer.from('sig')})
      const error = await rejection(fetchSignatures({lookaside: base, repository: 'stagex/x', manifestDigest: DIGEST}))
      assert.equal(error.exitCode, 3)
      assert.match(error.message, /more than 128 signatures/)
    })
  })

  describe('file://', () => {
    let folder: string
    before(() => {
      folder = mkdtempSync(join(tmpdir(), 'stagex-lookaside-'))
      const dir = join(folder, `stagex/core-busybox@sha256=${'ab'.repeat(32)}`)
      mkdirSync(dir, {recursive: true})
      writeFileSync(join(dir, 'signature-1'), 'first')
      writeFileSync(join(dir, 'signature-2'), Buffer.alloc(100, 2))
      mkdirSync(join(folder, `stagex/dir-sig@sha256=${'ab'.repeat(32)}/signature-1`), {recursive: true})
    })
    after(() => rmSync(folder, {recursive: true, force: true}))

    it('reads until the first missing file', async () => {
      const found = await fetchSignatures({lookaside: pathToFileURL(folder).href, repository: 'docker.io/stagex/core-busybox', manifestDigest: DIGEST})
      assert.deepEqual(found.map((file) => file.name), ['signature-1', 'signature-2'])
      assert.equal(Buffer.from(found[0]!.bytes).toString(), 'first')
    })

    it('a missing repository folder means no signatures', async () => {
      assert.deepEqual(await fetchSignatures({lookaside: pathToFileURL(folder).href, repository: 'stagex/none', manifestDigest: DIGEST}), [])
    })

    it('the size limit applies to files', async () => {
      const error = await rejection(fetchSignatures({lookaside: pathToFileURL(folder).href, repository: 'stagex/core-busybox', manifestDigest: DIGEST, maxSignatureBytes: 50}))
      assert.equal(error.exitCode, 4)
    })

    it('a signature that is not a regular file fails (trust)', async () => {
      const error = await rejection(fetchSignatures({lookaside: pathToFileURL(folder).href, repository: 'stagex/dir-sig', manifestDigest: DIGEST}))
      assert.equal(error.exitCode, 3)
      assert.match(error.message, /not a regular file/)
    })
  })
})
