import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {ContentRef} from '../../src/rootfs/tree.js'
import {openContentReader} from '../../src/store/spool.js'

const MiB = 1 << 20

/** Deterministic bytes: a different pattern per seed. */
function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length)
  let x = seed * 2654435761
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

describe('store/spool: reading content back by (file, offset, length)', () => {
  let dir: string
  let file: string
  let data: Buffer
  // small files side by side, one of 2.5 MiB, then small ones again
  const sizes = [100, 5000, 70000, 0, 1, 2.5 * MiB, 300, 65536, 900000]
  const refs: ContentRef[] = []

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'content-reader-'))
    file = join(dir, 'spool')
    data = pattern(sizes.reduce((a, b) => a + b, 0), 7)
    writeFileSync(file, data)
    let offset = 0
    for (const size of sizes) {
      refs.push({id: `x@${offset}`, size, path: file, offset})
      offset += size
    }
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

  it('gives every file its bytes, each chunk a buffer of its own that stays valid', () => {
    const reader = openContentReader()
    try {
      const kept = refs.map((ref) => [...reader.chunks(ref)])
      for (const [k, ref] of refs.entries()) {
        assert.equal(sha256(Buffer.concat(kept[k])), sha256(data.subarray(ref.offset, ref.offset + ref.size)), `file ${k}`)
      }
    } finally {
      reader.close()
    }
  })

  it('with transientChunks, reads every chunk into one buffer: right bytes when copied at once, the same memory reused', () => {
    const reader = openContentReader({transientChunks: true})
    const buffers = new Set<ArrayBufferLike>()
    try {
      for (const [k, ref] of refs.entries()) {
        const copies: Buffer[] = []
        for (const chunk of reader.chunks(ref)) {
          buffers.add(chunk.buffer)
          copies.push(Buffer.from(chunk)) // what a consumer that copies at once sees
        }
        assert.equal(sha256(Buffer.concat(copies)), sha256(data.subarray(ref.offset, ref.offset + ref.size)), `file ${k}`)
      }
      // one scratch buffer for all of them (Buffer.allocUnsafe may place it in a pool's slab: still one)
      assert.equal(buffers.size, 1, `${buffers.size} distinct buffers`)
      // bytes() and head() still hand out buffers of their own
      const whole = reader.bytes(refs[5])
      const head = reader.head(refs[8], 10)
      for (const _ of reader.chunks(refs[2])) {
        // overwrites the scratch buffer
      }
      assert.equal(sha256(whole), sha256(data.subarray(refs[5].offset, refs[5].offset + refs[5].size)))
      assert.deepEqual([...head], [...data.subarray(refs[8].offset, refs[8].offset + 10)])
      assert.equal(reader.sha256(refs[6]), sha256(data.subarray(refs[6].offset, refs[6].offset + refs[6].size)))
    } finally {
      reader.close()
    }
  })
})
