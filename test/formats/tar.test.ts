import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import tarStream from 'tar-stream'
import {type TarEntry, writeTar} from '../../src/formats/tar.js'

const enc = (s: string) => new TextEncoder().encode(s)
const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1')
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

async function collect(gen: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of gen) parts.push(c)
  return new Uint8Array(Buffer.concat(parts))
}
const write = (entries: TarEntry[]) => collect(writeTar(entries))

const T = 1700000000
const fill = (n: number, seed: number) => Uint8Array.from({length: n}, (_, i) => (i * 31 + seed) & 0xff)
// 150 bytes with a '/' that lets ustar split it: prefix 139 bytes, name 10
const SPLIT_NAME = 'deep/' + 'd'.repeat(60) + '/' + 'e'.repeat(72) + '/file-split'
// one component of 120 bytes: no split fits, so a pax path record
const LONG_NAME = 'long/' + 'n'.repeat(120)
const LONG_TARGET = '../' + 't'.repeat(140) + '/target'

function fixture(): TarEntry[] {
  const base = {uid: 0, gid: 0, mtime: T, size: 0}
  return [
    {...base, name: '.', type: 'dir', mode: 0o755},
    {...base, name: 'bin', type: 'dir', mode: 0o755},
    {...base, name: 'bin/busybox', type: 'file', mode: 0o4755, size: 513, data: fill(513, 1)},
    {...base, name: 'bin/sh', type: 'symlink', mode: 0o777, linkName: 'busybox'},
    {...base, name: 'bin/ln', type: 'hardlink', mode: 0o4755, linkName: 'bin/busybox'},
    {...base, name: 'dev', type: 'dir', mode: 0o755},
    {...base, name: 'dev/null', type: 'char', mode: 0o666, devMajor: 1, devMinor: 3},
    {...base, name: 'dev/loop0', type: 'block', mode: 0o660, gid: 6, devMajor: 7, devMinor: 0},
    {...base, name: 'dev/pipe', type: 'fifo', mode: 0o600},
    {...base, name: 'deep', type: 'dir', mode: 0o755},
    {...base, name: SPLIT_NAME, type: 'file', mode: 0o644, size: 3, data: enc('abc')},
    {...base, name: 'home', type: 'dir', mode: 0o755},
    {...base, name: 'home/user', type: 'dir', mode: 0o700, uid: 1000, gid: 1000, uname: 'user', gname: 'users'},
    {...base, name: 'home/user/f0', type: 'file', mode: 0o600, uid: 1000, gid: 1000, uname: 'user', gname: 'users'},
    {...base, name: 'home/user/f511', type: 'file', mode: 0o640, uid: 1000, gid: 1000, size: 511, data: fill(511, 2)},
    {...base, name: 'home/user/f512', type: 'file', mode: 0o644, uid: 1000, gid: 1000, size: 512, data: fill(512, 3)},
    {
      ...base,
      name: 'home/user/streamed',
      type: 'file',
      mode: 0o644,
      uid: 1000,
      gid: 1000,
      size: 100000,
      data: async function* () {
        const all = fill(100000, 4)
        for (let i = 0; i < all.length; i += 7777) yield all.subarray(i, i + 7777)
      },
    },
    {...base, name: 'long', type: 'dir', mode: 0o755},
    {...base, name: LONG_NAME, type: 'file', mode: 0o644, size: 5, data: enc('long\n')},
    {...base, name: 'long/link', type: 'symlink', mode: 0o777, linkName: LONG_TARGET},
    {...base, name: 'tmp', type: 'dir', mode: 0o1777},
  ]
}

/** Reads an octal field; the field ends in NUL or space. */
const octal = (h: Uint8Array, at: number, width: number) => parseInt(latin1(h.subarray(at, at + width)).replace(/[\0 ]+$/, ''), 8)

describe('formats/tar', () => {
  let archive: Uint8Array
  before(async () => {
    archive = await write(fixture())
  })

  it('is deterministic: same input, same bytes (golden sha256)', async () => {
    assert.equal(sha256(await write(fixture())), sha256(archive))
    assert.equal(archive.length, GOLDEN.length)
    assert.equal(sha256(archive), GOLDEN.sha256)
  })

  it('ends with exactly two zero blocks and no more padding', () => {
    assert.equal(archive.length % 512, 0)
    assert.ok(archive.subarray(archive.length - 1024).every((b) => b === 0))
    // the block before the end marker is the last entry's header (tmp/), not padding
    const last = archive.subarray(archive.length - 1536, archive.length - 1024)
    assert.equal(latin1(last.subarray(0, 5)), 'tmp/\0')
  })

  it('writes ustar headers field by field', async () => {
    const one = await write([
      {name: 'etc/hostname', type: 'file', mode: 0o644, uid: 1000, gid: 100, uname: 'u', gname: 'g', mtime: T, size: 10, data: enc('appliance\n')},
    ])
    assert.equal(one.length, 512 + 512 + 1024)
    const h = one.subarray(0, 512)
    assert.equal(latin1(h.subarray(0, 100)), 'etc/hostname'.padEnd(100, '\0'))
    assert.equal(latin1(h.subarray(100, 108)), '0000644\0')
    assert.equal(latin1(h.subarray(108, 116)), '0001750\0')
    assert.equal(latin1(h.subarray(116, 124)), '0000144\0')
    assert.equal(latin1(h.subarray(124, 136)), '00000000012\0')
    assert.equal(latin1(h.subarray(136, 148)), T.toString(8).padStart(11, '0') + '\0')
    assert.equal(latin1(h.subarray(156, 157)), '0')
    assert.equal(latin1(h.subarray(157, 257)), '\0'.repeat(100))
    assert.equal(latin1(h.subarray(257, 265)), 'ustar\x0000')
    assert.equal(latin1(h.subarray(265, 297)), 'u'.padEnd(32, '\0'))
    assert.equal(latin1(h.subarray(297, 329)), 'g'.padEnd(32, '\0'))
    assert.equal(latin1(h.subarray(329, 345)), '0000000\x000000000\0')
    assert.equal(latin1(h.subarray(345, 512)), '\0'.repeat(167))
    // checksum: six octal digits, NUL, space; the sum of the header with the field as spaces
    const chk = latin1(h.subarray(148, 156))
    assert.match(chk, /^[0-7]{6}\0 $/)
    const copy = h.slice()
    copy.fill(0x20, 148, 156)
    assert.equal(parseInt(chk.slice(0, 6), 8), copy.reduce((a, b) => a + b, 0))
    assert.equal(latin1(one.subarray(512, 522)), 'appliance\n')
    assert.ok(one.subarray(522).every((b) => b === 0))
  })

  it('splits a long name into ustar prefix and name, with no pax header', () => {
    const at = headerOffset(archive, 'file-split')
    const h = archive.subarray(at, at + 512)
    assert.equal(latin1(h.subarray(0, 100)).replace(/\0+$/, ''), 'file-split')
    assert.equal(latin1(h.subarray(345, 500)).replace(/\0+$/, ''), SPLIT_NAME.slice(0, -'/file-split'.length))
    assert.notEqual(latin1(archive.subarray(at - 512, at - 512 + 14)), '././@PaxHeader')
  })

  it('writes a pax header with exact, sorted records only where ustar has no room', async () => {
    const tar = await write([
      {name: LONG_NAME, type: 'symlink', mode: 0o777, uid: 3000000, gid: 0, mtime: T, size: 0, linkName: LONG_TARGET},
    ])
    const x = tar.subarray(0, 512)
    assert.equal(latin1(x.subarray(0, 100)).replace(/\0+$/, ''), '././@PaxHeader')
    assert.equal(latin1(x.subarray(156, 157)), 'x')
    assert.deepEqual([octal(x, 100, 8), octal(x, 108, 8), octal(x, 116, 8), octal(x, 136, 12)], [0o644, 0, 0, 0])
    const sorted = `164 linkpath=${LONG_TARGET}\n135 path=${LONG_NAME}\n15 uid=3000000\n`
    // each record's length counts itself
    for (const r of sorted.trimEnd().split('\n')) assert.equal(Buffer.byteLength(r + '\n'), Number(r.split(' ')[0]))
    assert.equal(octal(x, 124, 12), sorted.length)
    assert.equal(latin1(tar.subarray(512, 512 + sorted.length)), sorted)
    assert.ok(tar.subarray(512 + sorted.length, 1024).every((b) => b === 0))
    const h = tar.subarray(1024, 1536)
    assert.equal(latin1(h.subarray(0, 100)), LONG_NAME.slice(0, 100))
    assert.equal(latin1(h.subarray(157, 257)), LONG_TARGET.slice(0, 100))
    assert.equal(latin1(h.subarray(108, 116)), '0000000\0', 'uid that did not fit')
    assert.equal(tar.length, 1536 + 1024)
    // nothing that fits gets a pax header
    const short = await write([{name: 'a', type: 'symlink', mode: 0o777, uid: 2097151, gid: 0, mtime: T, size: 0, linkName: 'b'.repeat(100)}])
    assert.equal(short.length, 512 + 1024)
  })

  it('uses a pax size record for a file over 8 GiB (headers checked, data not read)', async () => {
    const size = 8 * 1024 ** 3
    let pulled = 0
    const gen = writeTar([
      {
        name: 'huge',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: T,
        size,
        data: async function* () {
          pulled++
          yield new Uint8Array(1)
        },
      },
    ])
    const first = (await gen.next()).value as Uint8Array
    const second = (await gen.next()).value as Uint8Array
    await gen.return(undefined)
    assert.equal(pulled, 0, 'headers come before any data is pulled')
    assert.equal(latin1(first.subarray(512, 512 + 19)), '19 size=8589934592\n')
    assert.equal(latin1(second.subarray(124, 136)), '00000000000\0')
    // the largest size that fits the octal field needs no pax
    const fits = writeTar([{name: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 8 ** 11 - 1, data: async function* () {}}])
    const h = (await fits.next()).value as Uint8Array
    await fits.return(undefined)
    assert.equal(latin1(h.subarray(124, 136)), '77777777777\0')
    assert.equal(h.length, 512)
  })

  it('round-trips through tar-stream', async () => {
    const extract = tarStream.extract()
    Readable.from([Buffer.from(archive)]).pipe(extract)
    const got: Array<{header: tarStream.Header; data: Uint8Array}> = []
    for await (const entry of extract) {
      const parts: Buffer[] = []
      for await (const c of entry) parts.push(c as Buffer)
      got.push({header: entry.header, data: new Uint8Array(Buffer.concat(parts))})
    }
    const want = fixture()
    assert.equal(got.length, want.length)
    const typeName = {file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link', char: 'character-device', block: 'block-device', fifo: 'fifo'}
    for (let i = 0; i < want.length; i++) {
      const w = want[i]
      const {header: h, data} = got[i]
      const name = w.type === 'dir' ? w.name + '/' : w.name
      assert.equal(h.name, name)
      assert.equal(h.type, typeName[w.type], name)
      assert.equal(h.mode, w.mode, name)
      assert.deepEqual([h.uid, h.gid, h.uname, h.gname], [w.uid, w.gid, w.uname ?? '', w.gname ?? ''], name)
      assert.equal(h.mtime!.getTime(), w.mtime * 1000, name)
      assert.equal(h.size, w.size, name)
      assert.equal(h.linkname ?? undefined, w.linkName, name)
      if (w.type === 'char' || w.type === 'block') assert.deepEqual([h.devmajor, h.devminor], [w.devMajor, w.devMinor])
      const wantData = w.data instanceof Uint8Array ? w.data : typeof w.data === 'function' ? await collect(w.data()) : new Uint8Array(0)
      assert.equal(sha256(data), sha256(wantData), name)
    }
  })

  describe('GNU tar as a second opinion', () => {
    let dir = ''
    let file = ''
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'tar-test-'))
      file = join(dir, 'fixture.tar')
      writeFileSync(file, archive)
    })
    after(() => rmSync(dir, {recursive: true, force: true}))

    it('tar -tvf lists every entry with its mode, owner, size and link', () => {
      const lines = execFileSync('tar', ['-tvf', file, '--numeric-owner'], {encoding: 'utf8'}).trimEnd().split('\n')
      const want = fixture()
      assert.equal(lines.length, want.length)
      const ls: Record<string, string> = {file: '-', dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p'}
      for (let i = 0; i < want.length; i++) {
        const w = want[i]
        const m = /^(\S)(\S{9}) (\d+)\/(\d+)\s+(\S+) \d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(lines[i])
        assert.ok(m, lines[i])
        const name = w.type === 'dir' ? w.name + '/' : w.name
        const size = w.type === 'char' || w.type === 'block' ? `${w.devMajor},${w.devMinor}` : String(w.size)
        const tail = w.type === 'symlink' ? `${name} -> ${w.linkName}` : w.type === 'hardlink' ? `${name} link to ${w.linkName}` : name
        assert.deepEqual([m[1], m[3], m[4], m[5], m[6]], [ls[w.type], String(w.uid), String(w.gid), size, tail], lines[i])
        assert.equal(permString(w.mode), m[2], lines[i])
      }
    })

    it('tar -x extracts it exactly, and tar -d finds no difference', () => {
      const out = join(dir, 'x')
      mkdirSync(out)
      // device nodes need CAP_MKNOD, which a container may lack: leave them out here
      const args = ['-xf', file, '-C', out, '--same-owner', '--same-permissions', '--numeric-owner', '--exclude=dev/null', '--exclude=dev/loop0']
      execFileSync('tar', args)
      for (const w of fixture()) {
        if (w.type === 'char' || w.type === 'block') continue
        const path = join(out, w.name)
        const st = lstatSync(path)
        assert.equal(st.mode & 0o7777, w.mode, `${w.name}: mode`)
        assert.deepEqual([st.uid, st.gid], [w.uid, w.gid], `${w.name}: owner`)
        if (w.type === 'symlink') assert.equal(readlinkSync(path), w.linkName)
        if (w.type === 'file' && w.data instanceof Uint8Array) assert.equal(sha256(readFileSync(path)), sha256(w.data), w.name)
        if (w.type === 'file' || w.type === 'hardlink') assert.equal(st.mtimeMs, w.mtime * 1000, `${w.name}: mtime`)
      }
      assert.equal(lstatSync(join(out, 'bin/ln')).ino, lstatSync(join(out, 'bin/busybox')).ino)
      // --compare checks content, size, mode, owner, mtime and link targets against the disk
      const diff = execFileSync('tar', ['-df', file, '-C', out, '--numeric-owner', '--exclude=dev/null', '--exclude=dev/loop0'], {encoding: 'utf8'})
      assert.equal(diff, '')
    })
  })

  it('throws when streamed data is longer or shorter than size', async () => {
    const entry = (size: number, chunks: number[]): TarEntry => ({
      name: 'f',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      size,
      data: async function* () {
        for (const n of chunks) yield new Uint8Array(n)
      },
    })
    await assert.rejects(write([entry(10, [5, 6])]), /"f": data is longer than its size 10/)
    await assert.rejects(write([entry(10, [9])]), /"f": data ended after 9 of 10 bytes/)
    await assert.rejects(write([{...entry(3, []), data: enc('abcd')}]), /size says 3 bytes, data has 4/)
    assert.equal((await write([entry(10, [4, 0, 6])])).length, 512 + 512 + 1024)
  })

  it('rejects bad names and shapes', async () => {
    const e = (over: Partial<TarEntry>): TarEntry => ({name: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, ...over})
    await assert.rejects(write([e({name: ''})]), /empty entry name/)
    await assert.rejects(write([e({name: 'a\0b'})]), /contains a NUL/)
    await assert.rejects(write([e({name: '/etc'})]), /starts with '\/'/)
    await assert.rejects(write([e({name: '../x'})]), /'\.\.' component/)
    await assert.rejects(write([e({mode: 0o100644})]), /more than permission bits/)
    await assert.rejects(write([e({type: 'dir', size: 1, data: enc('x')})]), /a dir has no data/)
    await assert.rejects(write([e({type: 'symlink'})]), /needs a linkName/)
    await assert.rejects(write([e({linkName: 'y'})]), /a file has no linkName/)
    await assert.rejects(write([e({type: 'hardlink', linkName: '/abs'})]), /starts with '\/'/)
    await assert.rejects(write([e({uid: -1})]), /uid -1 is not a non-negative integer/)
    await assert.rejects(write([e({mtime: 1.5})]), /mtime 1.5/)
    await assert.rejects(write([e({type: 'char', devMajor: 8 ** 7})]), /does not fit ustar/)
    await assert.rejects(write([e({uname: 'u'.repeat(33)})]), /at most 32 bytes/)
  })
})

/** Offset of the ustar header whose name field is `name`. */
function headerOffset(tar: Uint8Array, name: string): number {
  for (let at = 0; at + 512 <= tar.length; at += 512) {
    if (latin1(tar.subarray(at, at + 100)).replace(/\0+$/, '') === name && latin1(tar.subarray(at + 257, at + 263)) === 'ustar\0') return at
  }
  throw new Error(`no header named ${name}`)
}

/** ls-style permission string of mode bits, with setuid, setgid and sticky. */
function permString(mode: number): string {
  const rwx = (bits: number, special: boolean, ch: string) =>
    (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-')
  return rwx(mode >> 6, (mode & 0o4000) !== 0, 's') + rwx(mode >> 3, (mode & 0o2000) !== 0, 's') + rwx(mode, (mode & 0o1000) !== 0, 't')
}

// Pinned: any change to the bytes we write must be deliberate.
const GOLDEN = {length: 117248, sha256: 'e7307ecb73cf06dea4672b6b35cf4f4b7b22d29069eb35f5bb3fece4a21fb851'}
