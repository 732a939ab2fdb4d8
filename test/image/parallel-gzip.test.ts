import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import zlib from 'node:zlib'
import {deflateBlock, gzipBlocksStream} from '../../src/formats/gzip.js'
import {compressOn, GZIP_BLOCK_SIZE, GZIP_BLOCKS_METHOD, gzipParallel, gzipWorkerPool} from '../../src/image/parallel-gzip.js'
import {chunked, hostGunzipSha256, MiB, mixedInput, noise, text} from '../helpers/gzip-inputs.js'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts))



/** The same pinned answer as test/formats/gzip.test.ts's BLOCKS_GOLDEN. */
const MIXED_GZIP_SHA256 = 'dde09ccc1ceff9b1fc9c0dda9f9a5e898624ddd71b75718f04df94ac18571f16'


async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of gen) parts.push(c)
  return concat(parts)
}

const sequential = (data: Uint8Array) => collect(gzipBlocksStream(chunked(data, [data.length || 1])))
const parallel = (data: Uint8Array, threads: number, sizes = [data.length || 1]) => collect(gzipParallel(chunked(data, sizes), {threads}))

/** Where the deflate stream after the 10-byte header ends. */
function deflateEnd(gz: Uint8Array): number {
  const {engine} = zlib.inflateRawSync(gz.subarray(10), {info: true}) as unknown as {engine: {bytesWritten: number}}
  return 10 + engine.bytesWritten
}

describe('image/parallel-gzip', () => {
  const mixed = mixedInput()
  let reference: Uint8Array

  before(async () => {
    reference = await sequential(mixed)
  })

  it('exports the block size and the method string for the build record', () => {
    assert.equal(GZIP_BLOCK_SIZE, MiB)
    assert.equal(GZIP_BLOCKS_METHOD, 'gzip-9-foras-2.1.4-blocks-1MiB-nodict-flush2-stored-if-entropy-7.97-or-invalid')
  })

  it('gives the sequential method\'s bytes on 1, 2 and 4 threads, however the input is chunked', async () => {
    assert.equal(sha256(reference), MIXED_GZIP_SHA256)
    const runs: [number, number[]][] = [
      [1, [3 * MiB]],
      [2, [3 * MiB]],
      [2, [7, 65537, 100003]],
      [2, [MiB]],
      [4, [7, 65537, 100003]],
    ]
    for (const [threads, sizes] of runs) {
      assert.equal(sha256(await parallel(mixed, threads, sizes)), MIXED_GZIP_SHA256, `threads ${threads} chunks ${sizes.join(',')}`)
    }
    // 1-byte chunks across a block boundary
    const part = mixed.subarray(0, 1.25 * MiB)
    assert.equal(sha256(await parallel(part, 2, [1])), sha256(await sequential(part)))
  })

  it('writes one gzip member that node:zlib and the host gzip decompress to the exact input', async () => {
    const gz = await parallel(mixed, 2, [65536])
    assert.equal(deflateEnd(gz), gz.length - 8, 'one deflate stream up to the trailer: one member')
    assert.equal(sha256(zlib.gunzipSync(gz)), sha256(mixed))
    assert.equal(hostGunzipSha256(gz), sha256(mixed))
  })

  it('handles the edges: empty, one byte, exactly one block, one block + 1 byte, two random blocks', async () => {
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['one byte', Uint8Array.of(0x61)],
      ['one block', text(MiB, 3)],
      ['one block + 1', text(MiB + 1, 4)],
      ['two random blocks', noise(2 * MiB, 5)],
    ]
    for (const [name, data] of cases) {
      const gz = await parallel(data, 2, [300000])
      assert.equal(sha256(gz), sha256(await sequential(data)), name)
      assert.equal(sha256(zlib.gunzipSync(gz)), sha256(data), name)
      assert.equal(deflateEnd(gz), gz.length - 8, name)
    }
    assert.equal(Buffer.from(await parallel(new Uint8Array(0), 2)).toString('hex'), '1f8b0800000000000203' + '0300' + '0000000000000000')
    // random blocks are stored: the input plus 5 bytes per 65535
    assert.equal((await parallel(noise(2 * MiB, 5), 2)).length, 10 + 2 * (MiB + 5 * 17) + 8)
  })

  it('keeps at most 2 x threads blocks in flight, and stops reading when abandoned', async () => {
    let pulled = 0
    let finished = false
    const chunk = text(256 * 1024, 6)
    async function* endless() {
      try {
        for (let i = 0; i < 256; i++) {
          pulled += chunk.length
          yield chunk
        }
      } finally {
        finished = true
      }
    }
    const threads = 2
    const gen = gzipParallel(endless(), {threads})
    const header = await gen.next()
    assert.equal(header.value?.length, 10)
    const first = await gen.next()
    assert.ok(first.value && first.value.length > 0)
    // in flight + the held-back full block + the one filling, plus one source chunk
    assert.ok(pulled <= (2 * threads + 2) * MiB + chunk.length, `read ${pulled} bytes before the first block was written`)
    await gen.return(undefined)
    assert.equal(finished, true, 'the source was closed')
    assert.ok(pulled < 16 * MiB)
  })

  it('transfers block buffers to the workers and back, and reports a failing job', async () => {
    const pool = gzipWorkerPool(2)
    const compress = (job: {data: Uint8Array; last: boolean}, level: number) => compressOn(pool, job, level)
    try {
      const data = text(MiB, 7).slice() // views that own their buffers whole
      const out = compress({data, last: false}, 9)
      assert.equal(data.byteLength, 0, 'the block moved to the worker (detached here)')
      const bytes = await out
      assert.equal(bytes.byteOffset, 0)
      // a buffer of its own, moved back (2 bytes longer: the empty final block its check used)
      assert.equal(bytes.buffer.byteLength, bytes.byteLength + 2, 'a buffer of its own, moved back')
      assert.equal(Buffer.from(bytes.subarray(-4)).toString('hex'), '0000ffff')
      // a view into a shared buffer is copied, not moved
      const shared = Buffer.from(text(70000, 9))
      const view = shared.subarray(100, 70000)
      await compress({data: view, last: true}, 9)
      assert.equal(view.length, 69900)
      // an error in the worker rejects that job; the pool carries on
      await assert.rejects(compress({data: new Uint8Array(10), last: true}, 42), /level must be 0\.\.9/)
      assert.ok((await compress({data: new Uint8Array(10), last: true}, 9)).length > 0)
      // the same result as on this thread
      const again = text(MiB, 7)
      assert.equal(sha256(await compress({data: again.slice(), last: false}, 9)), sha256(deflateBlock(again, false)))
      assert.ok(pool.size >= 1 && pool.size <= 2, `${pool.size} workers`)
      assert.equal(pool.threads, 2)
    } finally {
      await pool.close()
    }
    await assert.rejects(compress({data: new Uint8Array(1), last: true}, 9), /closed/)
  })

  it('rejects bad options and a failing source', async () => {
    await assert.rejects(collect(gzipParallel(chunked(mixed, [MiB]), {threads: 0})), RangeError)
    await assert.rejects(collect(gzipParallel(chunked(mixed, [MiB]), {threads: 1.5})), RangeError)
    await assert.rejects(collect(gzipParallel(chunked(mixed, [MiB]), {level: 10})), RangeError)
    async function* failing() {
      yield text(3 * MiB, 10)
      throw new Error('source broke')
    }
    await assert.rejects(collect(gzipParallel(failing(), {threads: 2})), /source broke/)
  })

  it('always ends its workers: the process exits after a full run, a break, an error or an abandoned generator', async function () {
    this.timeout(180_000)
    const dir = mkdtempSync(join(tmpdir(), 'pgzip-exit-'))
    const modules = {
      parallel: pathToFileURL(join(process.cwd(), 'src/image/parallel-gzip.ts')).href,
    }
    const prelude = `
      import {gzipParallel, gzipWorkerPool, compressOn} from ${JSON.stringify(modules.parallel)}
      const block = new Uint8Array(1 << 20).map((_, i) => (i * 7 + (i >> 9)) & 0x7f)
      async function* source(n, fail) { for (let i = 0; i < n; i++) yield block; if (fail) throw new Error('boom') }
    `
    const scenarios: Record<string, string> = {
      full: `let n = 0; for await (const c of gzipParallel(source(5), {threads: 2})) n += c.length; console.log('ok', n > 0)`,
      break: `let k = 0; for await (const c of gzipParallel(source(50), {threads: 2})) if (++k === 3) break; console.log('ok', k === 3)`,
      error: `try { for await (const c of gzipParallel(source(5, true), {threads: 2})) {} } catch (e) { console.log('ok', e.message === 'boom') }`,
      abandoned: `const g = gzipParallel(source(50), {threads: 2}); await g.next(); await g.next(); await g.next(); console.log('ok', true)`,
      workerError: `const p = gzipWorkerPool(2); try { await compressOn(p, {data: block.slice(), last: true}, 42) } catch (e) { console.log('ok', /level/.test(e.message)) }`,
    }
    try {
      const runs = Object.entries(scenarios).map(([name, body]) => {
        const file = join(dir, `${name}.mjs`)
        writeFileSync(file, prelude + body + '\n')
        return new Promise<[string, string]>((resolve, reject) => {
          execFile(process.execPath, ['--import', 'tsx', file], {cwd: process.cwd(), timeout: 90_000}, (error, stdout, stderr) => {
            if (error) reject(new Error(`${name}: ${error.message} (killed: ${error.killed}) ${stderr}`))
            else resolve([name, stdout.trim()])
          })
        })
      })
      for (const [name, stdout] of await Promise.all(runs)) assert.equal(stdout, 'ok true', name)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
