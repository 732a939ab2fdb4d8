import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {EM_X86_64, ElfFormatError, readElf} from '../../src/formats/elf.js'

/** What binutils' readelf says, as the second opinion. */
function readelfFacts(path: string) {
  const dynamic = execFileSync('readelf', ['-dW', path], {encoding: 'utf8'})
  const headers = execFileSync('readelf', ['-lW', path], {encoding: 'utf8'})
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1])
  const interpreter = /Requesting program interpreter: (.+)\]/.exec(headers)?.[1]
  return {needed, interpreter}
}

describe('formats: elf', () => {
  for (const path of ['/usr/bin/ls', '/usr/bin/gpg', '/usr/bin/qemu-system-x86_64']) {
    it(`reads ${path} as readelf does`, () => {
      const facts = readElf(readFileSync(path))
      const expected = readelfFacts(path)
      assert.equal(facts.machine, EM_X86_64)
      assert.equal(facts.interpreter, expected.interpreter)
      assert.deepEqual(facts.needed, expected.needed)
      assert.ok(facts.needed.length > 0)
    })
  }

  it('reads a large binary by ranges: the same facts from its headers and dynamic strings, never the whole file', () => {
    const path = '/usr/bin/qemu-system-x86_64'
    const bytes = readFileSync(path)
    let read = 0
    let largest = 0
    const facts = readElf({
      size: bytes.length,
      read(offset, length) {
        assert.ok(offset >= 0 && offset + length <= bytes.length, `read ${offset}+${length} within the file`)
        read += length
        largest = Math.max(largest, length)
        return Uint8Array.from(bytes.subarray(offset, offset + length))
      },
    })
    assert.deepEqual(facts, readElf(bytes))
    assert.ok(bytes.length > 5_000_000, 'a large file')
    // the headers, PT_INTERP, PT_DYNAMIC and .dynstr (qemu's has thousands of symbol names): about 3%
    assert.ok(read < bytes.length / 20, `${read} bytes read of ${bytes.length}`)
    assert.ok(largest < bytes.length / 20, `largest read ${largest}`)
  })

  it('reads a shared library with its SONAME', () => {
    const path = execFileSync('sh', ['-c', 'readlink -f /lib/x86_64-linux-gnu/libc.so.6'], {encoding: 'utf8'}).trim()
    const facts = readElf(readFileSync(path))
    assert.equal(facts.kind, 'shared-object')
    assert.equal(facts.soname, 'libc.so.6')
  })

  it('sees that static busybox needs nothing', () => {
    const facts = readElf(readFileSync('/bin/busybox'))
    assert.equal(facts.interpreter, undefined)
    assert.deepEqual(facts.needed, [])
  })

  it('refuses what is not a 64-bit little-endian ELF, or is cut short', () => {
    assert.throws(() => readElf(Buffer.from('#!/bin/sh\necho hi\n')), ElfFormatError)
    const ls = readFileSync('/usr/bin/ls')
    assert.throws(() => readElf(ls.subarray(0, 40)), /truncated/)
    const thirtyTwo = Buffer.from(ls.subarray(0, 64))
    thirtyTwo[4] = 1
    assert.throws(() => readElf(thirtyTwo), /64-bit little-endian/)
    const cut = Buffer.from(ls.subarray(0, 200))
    assert.throws(() => readElf(cut), /out of bounds/)
  })
})
