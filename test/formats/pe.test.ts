import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {bytesSource} from '../../src/formats/bytes.js'
import {addPeSections, buildUki as buildUkiFromSources, buildUkiChunks, createPeChecksum, type UkiInput, parsePe, peChecksum} from '../../src/formats/pe.js'

const STUB_PATH = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub'
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/** Sections as objdump sees them: name -> {size, vma, fileOffset}. */
function objdumpSections(file: string): Map<string, {size: number; vma: number; off: number; flags: string}> {
  const out = execFileSync('objdump', ['-h', file], {encoding: 'utf8'})
  const lines = out.split('\n')
  const map = new Map<string, {size: number; vma: number; off: number; flags: string}>()
  for (const [i, line] of lines.entries()) {
    const m = /^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)/.exec(line)
    if (m) map.set(m[1]!, {size: parseInt(m[2]!, 16), vma: parseInt(m[3]!, 16), off: parseInt(m[4]!, 16), flags: lines[i + 1]!.trim()})
  }
  return map
}

function objdumpHeader(file: string): Record<string, string> {
  const out = execFileSync('objdump', ['-p', file], {encoding: 'utf8'})
  const fields: Record<string, string> = {}
  for (const line of out.split('\n')) {
    const m = /^(\w+)\s+([0-9a-f]+)\b/.exec(line)
    if (m) fields[m[1]!] = m[2]!
  }
  return fields
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a

/** A UKI input with kernel and initrd in memory (the tests change and compare their bytes). */
type MemoryUkiInput = Omit<UkiInput, 'linux' | 'initrd'> & {linux: Uint8Array; initrd: Uint8Array}
const withSources = (input: MemoryUkiInput): UkiInput => ({...input, linux: bytesSource(input.linux), initrd: bytesSource(input.initrd)})
const buildUki = (input: MemoryUkiInput) => buildUkiFromSources(withSources(input))

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const c of chunks) out.push(c)
  return out
}

describe('formats: pe (UKI)', function () {
  before(function () {
    if (!existsSync(STUB_PATH)) throw new Error(`${STUB_PATH} is missing: run scripts/setup.sh (systemd-boot-efi)`)
  })
  const stub = () => new Uint8Array(readFileSync(STUB_PATH))
  const input = (): MemoryUkiInput => ({
    stub: stub(),
    osRelease: 'ID=stagex\nNAME="StageX appliance"\nVERSION_ID=1\n',
    cmdline: 'console=ttyS0 panic=-1',
    linux: new Uint8Array(1_234_567).map((_, i) => (i * 31 + 7) & 0xff),
    initrd: new Uint8Array(345_679).map((_, i) => (i * 13) & 0xff),
    uname: '6.6.0-stagex',
  })
  let dir: string
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'pe-test-'))))
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('computes the stub\'s own PE checksum (the linker\'s stored value)', () => {
    const s = stub()
    const pe = parsePe(s)
    assert.equal(pe.sections.length, 8)
    assert.equal(pe.checkSum, 0x1aa6c)
    assert.equal(peChecksum([s], pe.optionalOffset + 64), pe.checkSum)
    // split into odd-sized chunks: same answer
    assert.equal(peChecksum([s.subarray(0, 1001), s.subarray(1001, 5000), s.subarray(5000)], pe.optionalOffset + 64), pe.checkSum)
  })

  it('appends .osrel .cmdline .uname .initrd .linux where objdump expects them', async () => {
    const uki = await buildUki(input())
    const file = join(dir, 'uki.efi')
    writeFileSync(file, uki)
    const before = objdumpSections(STUB_PATH)
    const after = objdumpSections(file)
    const stubHdr = objdumpHeader(STUB_PATH)
    const align = parseInt(stubHdr.SectionAlignment!, 16)
    const fileAlign = parseInt(stubHdr.FileAlignment!, 16)
    // the stub's sections are untouched
    for (const [name, s] of before) assert.deepEqual(after.get(name), s, name)
    let end = Math.max(...[...before.values()].map((s) => s.vma + s.size))
    const data = input()
    const expected: [string, number][] = [
      ['.osrel', data.osRelease.length],
      ['.cmdline', data.cmdline.length],
      ['.uname', data.uname!.length],
      ['.initrd', data.initrd.length],
      ['.linux', data.linux.length],
    ]
    const names = [...after.keys()]
    assert.deepEqual(names.slice(before.size), expected.map(([n]) => n))
    for (const [name, size] of expected) {
      const s = after.get(name)!
      assert.equal(s.vma, roundUp(end, align), `${name} VMA`)
      assert.equal(s.size, size, `${name} size`)
      assert.equal(s.off % fileAlign, 0, `${name} file offset aligned`)
      assert.match(s.flags, name === '.linux' ? /CODE/ : /DATA/)
      end = s.vma + s.size
    }
    const hdr = objdumpHeader(file)
    assert.equal(parseInt(hdr.SizeOfImage!, 16), roundUp(end, align))
    assert.equal(
      parseInt(hdr.SizeOfInitializedData!, 16),
      parseInt(stubHdr.SizeOfInitializedData!, 16) + expected.reduce((n, [, size]) => n + size, 0),
    )
    assert.equal(parseInt(hdr.CheckSum!, 16), peChecksum([uki], parsePe(uki).optionalOffset + 64))
    assert.notEqual(parseInt(hdr.CheckSum!, 16), 0)
    // the stub's trailing COFF symbol table is dropped, as ukify does
    assert.match(execFileSync('objdump', ['-t', file], {encoding: 'utf8'}), /no symbols/)
    assert.equal(after.get('.osrel')!.off, roundUp(0x11400, fileAlign))
  })

  it('section contents read back byte for byte (objcopy --dump-section)', async () => {
    const data = input()
    const file = join(dir, 'uki.efi')
    writeFileSync(file, await buildUki(data))
    const dumps: [string, Uint8Array][] = [
      ['.osrel', new TextEncoder().encode(data.osRelease)],
      ['.cmdline', new TextEncoder().encode(data.cmdline)],
      ['.uname', new TextEncoder().encode(data.uname!)],
      ['.initrd', data.initrd],
      ['.linux', data.linux],
    ]
    for (const [name, bytes] of dumps) {
      const out = join(dir, `${name.slice(1)}.bin`)
      execFileSync('objcopy', [`--dump-section`, `${name}=${out}`, file, join(dir, 'scratch.efi')])
      assert.equal(sha256(readFileSync(out)), sha256(bytes), name)
    }
  })

  it('honours a page alignment and a fixed TimeDateStamp', async () => {
    const file = join(dir, 'uki.efi')
    writeFileSync(file, await buildUki({...input(), sectionAlignment: 4096, timeDateStamp: 1426325213}))
    const sections = objdumpSections(file)
    for (const name of ['.osrel', '.cmdline', '.uname', '.initrd', '.linux']) assert.equal(sections.get(name)!.vma % 4096, 0, name)
    assert.equal(parsePe(readFileSync(file)).timeDateStamp, 1426325213)
    assert.match(execFileSync('objdump', ['-p', file], {encoding: 'utf8'}), /Time\/Date\s+Sat Mar 14 09:26:53 2015/)
  })

  it('is deterministic; one changed kernel or cmdline byte changes the image; chunks equal the buffer', async () => {
    const a = sha256(await buildUki(input()))
    assert.equal(sha256(await buildUki(input())), a)
    const changed = input()
    changed.linux[999_999] ^= 0x80
    assert.notEqual(sha256(await buildUki(changed)), a)
    assert.notEqual(sha256(await buildUki({...input(), cmdline: 'console=ttyS0 panic=-2'})), a)
    const data = input()
    const chunks = await collect(buildUkiChunks(withSources(data)).chunks())
    assert.equal(sha256(Buffer.concat(chunks)), a)
    assert.ok(chunks.includes(data.linux) && chunks.includes(data.initrd)) // passed through, not copied
  })

  it('streams the bytes the in-memory builder wrote before streaming (known answers)', async () => {
    // sha256 of buildUki's output for these inputs at 9f8d263, when it took kernel and initrd as buffers.
    assert.equal(sha256(await buildUki(input())), '7426fda5aa94ebe3cbd0e2aad9b0dab991da131a249b3d91f752e50f09b58315')
    assert.equal(
      sha256(await buildUki({...input(), sectionAlignment: 4096, timeDateStamp: 1426325213})),
      'b6956603f4f6763aa66d700e1858b0aaa5ef087a2130baf38ba889f1a6b0b7b0',
    )
    // no .uname, an even-length initrd given in 777-byte chunks (words split across chunks)
    const {uname: _uname, ...data} = input()
    const initrd = new Uint8Array(345_678).map((_, i) => (i * 13) & 0xff)
    const chunked = {
      size: initrd.length,
      *open() {
        for (let at = 0; at < initrd.length; at += 777) yield initrd.subarray(at, at + 777)
      },
    }
    const built = buildUkiChunks({...withSources({...data, initrd}), initrd: chunked, timeDateStamp: 7})
    assert.equal(sha256(Buffer.concat(await collect(built.chunks()))), 'd591a354b4531facca0d20e3edf1fb3214fe717c40d474734694b96a5deac1d5')
  })

  it('the incremental checksum equals the byte-by-byte definition for any split, the CheckSum field read as zero', async () => {
    const uki = await buildUki(input())
    const offset = parsePe(uki).optionalOffset + 64
    // CheckSumMappedFile's definition, one byte at a time
    let sum = 0
    for (let i = 0; i < uki.length; i += 2) {
      const byte = (at: number) => (at >= offset && at < offset + 4 ? 0 : (uki[at] ?? 0))
      sum += byte(i) | (byte(i + 1) << 8)
      sum = (sum & 0xffff) + (sum >>> 16)
    }
    const expected = (((sum & 0xffff) + (sum >>> 16)) + uki.length) >>> 0
    assert.equal(peChecksum([uki], offset), expected)
    // odd and even cuts, one inside the CheckSum field, pieces at odd byte offsets of their buffer
    for (const cuts of [[1], [offset + 1], [offset + 2, offset + 3], [3, 4, 5, 77_777, 77_778, 1_000_001], [uki.length - 1]]) {
      const running = createPeChecksum(offset)
      let from = 0
      for (const to of [...cuts, uki.length]) {
        const copy = new Uint8Array(to - from + 1)
        copy.set(uki.subarray(from, to), 1)
        running.update(copy.subarray(1))
        from = to
      }
      assert.equal(running.digest(), expected, `cuts ${cuts.join(',')}`)
    }
  })

  it('lays out from sizes; the first stream reads each source twice (checksum, then bytes), later streams once', async () => {
    const data = input()
    let opens = 0
    const counted = (bytes: Uint8Array) => ({size: bytes.length, open: () => (opens++, [bytes])})
    const built = buildUkiChunks({...data, linux: counted(data.linux), initrd: counted(data.initrd)})
    assert.equal(opens, 0, 'nothing is read to lay the image out')
    const whole = await buildUki(data)
    assert.equal(built.size, whole.length)
    assert.deepEqual(built.placed, parsePe(whole).sections.slice(-5).map((s) => ({name: s.name, virtualAddress: s.virtualAddress, virtualSize: s.virtualSize, pointerToRawData: s.pointerToRawData, sizeOfRawData: s.sizeOfRawData})))
    assert.equal(sha256(Buffer.concat(await collect(built.chunks()))), sha256(whole))
    assert.equal(opens, 4)
    assert.equal(sha256(Buffer.concat(await collect(built.chunks()))), sha256(whole))
    assert.equal(opens, 6)
  })

  it('fails the stream when a section source gives fewer or more bytes than its size', async () => {
    const data = input()
    const short = {size: data.linux.length, open: () => [data.linux.subarray(1)]}
    await assert.rejects(buildUkiFromSources({...withSources(data), linux: short}), /PE section \.linux: its source gave 1234566 bytes, but the image was laid out for 1234567/)
    const long = {size: 10, open: () => [new Uint8Array(11)]}
    await assert.rejects(buildUkiFromSources({...withSources(data), initrd: long}), /PE section \.initrd: its source gave more than 10 bytes/)
  })

  it('refuses a signed stub, a full section table, duplicate sections and non-PE input', () => {
    const signed = stub()
    const pe = parsePe(signed)
    new DataView(signed.buffer).setUint32(pe.optionalOffset + 112 + 32, 0x20000, true)
    assert.throws(() => buildUki({...input(), stub: signed}), /signed/)
    const cramped = stub()
    new DataView(cramped.buffer).setUint32(pe.optionalOffset + 60, pe.sectionTableOffset + 10 * 40, true)
    assert.throws(() => buildUki({...input(), stub: cramped}), /no room/)
    const osrel = {name: '.osrel', data: bytesSource(new Uint8Array(1))}
    assert.throws(() => addPeSections(stub(), [osrel, osrel]), /already has a .osrel/)
    assert.throws(() => addPeSections(stub(), [{name: '.sbat', data: bytesSource(new Uint8Array(1))}]), /already has a .sbat/)
    assert.throws(() => addPeSections(stub(), [{name: '.toolongname', data: bytesSource(new Uint8Array(1))}]), /1-8 bytes/)
    assert.throws(() => parsePe(new Uint8Array(512)), /MZ/)
  })
})
