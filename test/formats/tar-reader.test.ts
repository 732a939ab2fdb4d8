import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  chmodSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {fileURLToPath} from 'node:url'
import {gunzipSync} from 'node:zlib'
import tarStream from 'tar-stream'

import {type TarEntry as WorldEntry, writeTar as worldTar} from '../../scripts/world/tar.js'
import {StagexError} from '../../src/errors.js'
import {type TarEntry, writeTar} from '../../src/formats/tar.js'
import {TAR_META_LIMIT, type TarHeader, TarFormatError, TarReader, tarXattrs} from '../../src/formats/tar-reader.js'
import {
  BLOCK,
  END,
  type Parsed,
  bytes,
  concat,
  entry,
  gnuLong,
  parse,
  parseError,
  parseEverySize,
  pax,
  paxRecord,
  rawHeader,
  text,
} from './tar-fixtures.js'

const VECTORS = fileURLToPath(new URL('../../../shared/vectors/layers/', import.meta.url))

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of gen) parts.push(c)
  return concat(...parts)
}

const fill = (n: number, seed: number) => Uint8Array.from({length: n}, (_, i) => (i * 31 + seed) & 0xff)
const byName = (entries: Parsed[]) => new Map(entries.map((e) => [Buffer.from(e.header.name).toString('latin1'), e]))

/** Asserts that parsing fails with a TarFormatError (exit code 4) whose message matches, at `offset`. */
function assertRefused(archive: Uint8Array, message: RegExp, offset?: number): TarFormatError {
  const error = parseError(archive)
  assert.ok(error instanceof TarFormatError, `not a TarFormatError: ${error.stack}`)
  assert.ok(error instanceof StagexError)
  assert.equal(error.exitCode, 4)
  assert.match(error.message, message)
  assert.match(error.message, /^tar: /)
  if (offset !== undefined) assert.equal(error.offset, offset, error.message)
  return error
}

describe('formats/tar-reader', () => {
  describe('against our writer (src/formats/tar.ts)', () => {
    const T = 1700000000
    const SPLIT_NAME = 'deep/' + 'd'.repeat(60) + '/' + 'e'.repeat(72) + '/file-split' // ustar prefix + name
    const LONG_NAME = 'long/' + 'n'.repeat(120) // no split fits: PAX path
    const LONG_TARGET = '../' + 't'.repeat(140) + '/target' // PAX linkpath
    const entries = (): TarEntry[] => [
      {name: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: T, size: 0},
      {name: 'etc/hostname', type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: T, size: 10, data: bytes('appliance\n')},
      {name: 'etc/empty', type: 'file', mode: 0o600, uid: 1, gid: 2, mtime: T, size: 0, data: new Uint8Array(0)},
      {name: 'usr/bin/su', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: T, size: 511, data: fill(511, 1)},
      {name: 'b512', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 512, data: fill(512, 2)},
      {name: 'b513', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 513, data: fill(513, 3)},
      {
        name: 'streamed',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: T,
        size: 100000,
        data: async function* () {
          const all = fill(100000, 4)
          for (let i = 0; i < all.length; i += 30000) yield all.subarray(i, i + 30000)
        },
      },
      {name: SPLIT_NAME, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 3, data: bytes('abc')},
      {name: LONG_NAME, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 1, data: bytes('x')},
      {name: 'big-owner', type: 'file', mode: 0o6755, uid: 3000000, gid: 5000000, mtime: 9000000000, size: 2, data: bytes('hi')},
      {name: 'link-long', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: T, size: 0, linkName: LONG_TARGET},
      {name: 'link-short', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: T, size: 0, linkName: '/etc/hostname'},
      {name: 'hard', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 0, linkName: 'etc/hostname'},
      {name: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: T, size: 0, devMajor: 1, devMinor: 3},
      {name: 'dev/sda', type: 'block', mode: 0o660, uid: 0, gid: 6, mtime: T, size: 0, devMajor: 8, devMinor: 0},
      {name: 'run/fifo', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime: T, size: 0},
    ]

    it('gives back every entry, field and byte, in chunks of 1, 511, 512, 513, 4096 and 65536 bytes', async () => {
      const archive = await collect(writeTar(entries()))
      const parsed = parseEverySize(archive)
      const want = entries()
      assert.equal(parsed.length, want.length)
      for (const [i, e] of want.entries()) {
        const {header: h, data} = parsed[i]
        const name = e.type === 'dir' ? `${e.name}/` : e.name
        assert.equal(text(h.name), name)
        assert.equal(h.type, e.type, name)
        assert.equal(h.mode, e.mode, name)
        assert.equal(h.uid, e.uid, name)
        assert.equal(h.gid, e.gid, name)
        assert.equal(text(h.uname), e.uname ?? '')
        assert.equal(text(h.gname), e.gname ?? '')
        assert.equal(h.mtime, e.mtime, name)
        assert.equal(h.size, e.size, name)
        assert.equal(text(h.linkName), e.linkName ?? '', name)
        assert.equal(h.devMajor, e.devMajor ?? 0, name)
        assert.equal(h.devMinor, e.devMinor ?? 0, name)
        const content = e.data instanceof Uint8Array ? e.data : typeof e.data === "function" ? await collect(e.data() as AsyncIterable<Uint8Array>) : new Uint8Array(0)
        assert.deepEqual(new Uint8Array(data), content, name)
      }
      const get = (name: string) => byName(parsed).get(name)!.header
      assert.deepEqual([...get(LONG_NAME).pax.keys()], ['path'])
      assert.deepEqual([...get('link-long').pax.keys()], ['linkpath'])
      assert.deepEqual([...get('big-owner').pax.keys()], ['gid', 'mtime', 'uid'])
      assert.equal(get(SPLIT_NAME).pax.size, 0, 'a name that splits needs no PAX record')
      assert.equal(get(LONG_NAME).headerOffset + 3 * BLOCK, get(LONG_NAME).dataOffset, 'headerOffset is the PAX header')
      assert.equal(get('etc/').headerOffset, 0)
    })

    it('reads the writer output pushed in the chunks the writer yields', async () => {
      const seen: string[] = []
      const reader = new TarReader({entry: (h) => void seen.push(text(h.name))})
      let n = 0
      for await (const c of writeTar(entries())) {
        reader.push(c)
        n += c.length
      }
      reader.finish()
      assert.equal(reader.offset, n)
      assert.equal(seen.length, entries().length)
    })
  })

  describe('archives made by GNU tar', function () {
    let work: string
    before(() => {
      work = mkdtempSync(join(tmpdir(), 'tar-reader-'))
    })
    after(() => rmSync(work, {recursive: true, force: true}))

    const BAD = Buffer.concat([Buffer.from('bad'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]) // not UTF-8
    const DEEP = ['a'.repeat(90), 'b'.repeat(90), 'c'.repeat(90)].join('/') // > 255 bytes in all
    const WIDE = 'w'.repeat(120) // one component over 100 bytes
    const SPLITTABLE = 'u'.repeat(60) + '/' + 'v'.repeat(60) // > 100, splits for ustar
    const TARGET = '../' + 't'.repeat(150)

    /** A tree under `root`/d with the things `kind` can store; returns the file system's view of it. */
    function makeTree(root: string, kind: 'gnu' | 'posix' | 'ustar' | 'v7'): void {
      const d = join(root, 'd')
      mkdirSync(d, {recursive: true})
      writeFileSync(join(d, 'file.txt'), 'hello\n')
      writeFileSync(join(d, 'empty'), '')
      writeFileSync(join(d, 'big.bin'), fill(70001, 9))
      writeFileSync(join(d, 'exec'), fill(4096, 7))
      chmodSync(join(d, 'exec'), 0o755)
      writeFileSync(join(d, 'setuid'), '#!/bin/sh\n')
      chmodSync(join(d, 'setuid'), 0o4755)
      linkSync(join(d, 'file.txt'), join(d, 'link-hard'))
      symlinkSync('file.txt', join(d, 'sym'))
      writeFileSync(Buffer.concat([Buffer.from(d + '/'), BAD]), 'not utf-8\n')
      if (kind !== 'v7') execFileSync('mkfifo', [join(d, 'fifo')])
      if (kind === 'ustar' || kind === 'gnu' || kind === 'posix') {
        mkdirSync(join(d, SPLITTABLE), {recursive: true})
        writeFileSync(join(d, SPLITTABLE, 'f'), 'split\n')
      }
      if (kind === 'gnu' || kind === 'posix') {
        mkdirSync(join(d, DEEP), {recursive: true})
        writeFileSync(join(d, DEEP, 'deep.txt'), 'deep\n')
        writeFileSync(join(d, WIDE), 'wide\n')
        symlinkSync(TARGET, join(d, 'sym-long'))
        writeFileSync(join(d, 'old'), 'before 1970\n')
        execFileSync('touch', ['-h', '-d', '@-10.5', join(d, 'old')]) // node's utimes takes a negative time as now
      }
      lutimesSync(join(d, 'file.txt'), 1700000000.75, 1700000000.75)
    }

    interface Expected {
      type: TarHeader['type']
      mode: number
      size: number
      mtime: number
      linkName: string
      ino: number
      path: Buffer
    }

    /** Every path under root/d as the file system has it, keyed by the archive name (latin1). */
    function walk(root: string): Map<string, Expected> {
      const out = new Map<string, Expected>()
      const visit = (rel: Buffer) => {
        const path = Buffer.concat([Buffer.from(root + '/'), rel])
        const st = lstatSync(path, {bigint: false})
        const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'file'
        const name = type === 'dir' ? Buffer.concat([rel, Buffer.from('/')]) : rel
        out.set(name.toString('latin1'), {
          type,
          mode: st.mode & 0o7777,
          size: type === 'file' ? st.size : 0,
          mtime: Math.floor(st.mtimeMs / 1000),
          linkName: type === 'symlink' ? readlinkSync(path, 'utf8') : '',
          ino: st.ino,
          path,
        })
        if (type === 'dir') for (const child of readdirSync(path, {encoding: 'buffer'})) visit(Buffer.concat([rel, Buffer.from('/'), child]))
      }
      visit(Buffer.from('d'))
      return out
    }

    const cases = [
      {kind: 'gnu', owner: 3000000, group: 3000001}, // base-256 owners
      {kind: 'posix', owner: 3000000, group: 3000001}, // PAX uid/gid, 0 in the ustar fields
      {kind: 'ustar', owner: 2097151, group: 1234},
      {kind: 'v7', owner: 4242, group: 77},
    ] as const

    for (const {kind, owner, group} of cases) {
      it(`--format=${kind}: names, types, modes, owners, times, link targets and data, in every chunk size`, () => {
        const root = join(work, kind)
        makeTree(root, kind)
        const tarFile = join(work, `${kind}.tar`)
        execFileSync('tar', [`--format=${kind}`, '--sort=name', `--owner=${owner}`, `--group=${group}`, '--numeric-owner', '-C', root, '-cf', tarFile, 'd'])
        const archive = new Uint8Array(readFileSync(tarFile))
        const parsed = parseEverySize(archive)
        const fs = walk(root)
        const got = byName(parsed)
        assert.deepEqual([...got.keys()].sort(), [...fs.keys()].sort(), 'the same names')
        let hardlinks = 0
        for (const [name, want] of fs) {
          const {header: h, data} = got.get(name)!
          assert.equal(h.uid, owner, name)
          assert.equal(h.gid, group, name)
          assert.equal(h.uname.length + h.gname.length, 0, '--numeric-owner stores no names')
          assert.equal(h.mode, want.mode, name)
          assert.equal(h.mtime, want.mtime, name)
          if (h.type !== 'hardlink') assert.equal(text(h.linkName), want.linkName, name)
          if (h.type === 'hardlink') {
            // GNU tar stores the first name of an inode as the file and the later ones as links to it.
            hardlinks++
            const target = fs.get(Buffer.from(h.linkName).toString('latin1'))
            assert.ok(target, `${name} links to ${text(h.linkName)}, not in the archive`)
            assert.equal(target.ino, want.ino, `${name} links to another inode`)
            assert.equal(h.size, 0)
            continue
          }
          assert.equal(h.type, want.type, name)
          assert.equal(h.size, want.size, name)
          if (h.type === 'file') assert.deepEqual(data, readFileSync(want.path), name)
        }
        assert.equal(hardlinks, 1)
        assert.ok(got.has(Buffer.concat([Buffer.from('d/'), BAD]).toString('latin1')), 'the non-UTF-8 name is kept as bytes')
        if (kind === 'gnu' || kind === 'posix') {
          assert.ok(got.has(`d/${DEEP}/deep.txt`) && `d/${DEEP}/deep.txt`.length > 255)
          assert.equal(text(got.get('d/sym-long')!.header.linkName), TARGET)
          assert.equal(got.get('d/old')!.header.mtime, -11, 'mtime -10.5 floors to -11')
          assert.equal(got.get('d/file.txt')!.header.mtime, 1700000000)
        }
        if (kind === 'posix') {
          const h = got.get('d/file.txt')!.header
          assert.equal(text(h.pax.get('uid')!), '3000000')
          assert.equal(text(h.pax.get('mtime')!), '1700000000.75')
          assert.ok(h.headerOffset < h.dataOffset - BLOCK, 'headerOffset is the PAX header')
        }
      })
    }

    it('tar-stream drops the PAX owners GNU tar --format=posix writes; we keep them', async () => {
      const archive = new Uint8Array(readFileSync(join(work, 'posix.tar')))
      const ours = parse(archive)
      const theirs = await tarStreamHeaders(archive)
      assert.equal(theirs.length, ours.length)
      for (const [i, t] of theirs.entries()) {
        assert.equal(ours[i].header.uid, 3000000)
        assert.equal(t.uid, 0, `tar-stream read ${t.name} as uid ${t.uid}`)
        assert.equal(t.gid, 0)
      }
    })
  })

  describe('numbers', () => {
    const b256 = (width: number, v: bigint): number[] => {
      const out: number[] = []
      let x = v < 0n ? (1n << BigInt(8 * width)) + v : v
      for (let k = 0; k < width; k++) {
        out.unshift(Number(x & 0xffn))
        x >>= 8n
      }
      if (v >= 0) out[0] |= 0x80
      return out
    }

    it('reads GNU base-256 sizes, owners and (negative) times', () => {
      const data = fill(600, 5)
      const archive = concat(
        rawHeader({name: 'b256', patch: [[124, b256(12, 600n)], [108, b256(8, 3000000n)], [116, b256(8, 2n ** 40n)], [136, b256(12, -1n)]]}),
        data,
        new Uint8Array(1024 - 600),
        END,
      )
      const [e] = parseEverySize(archive)
      assert.equal(e.header.size, 600)
      assert.equal(e.header.uid, 3000000)
      assert.equal(e.header.gid, 2 ** 40)
      assert.equal(e.header.mtime, -1)
      assert.deepEqual(new Uint8Array(e.data), data)
    })

    it('refuses negative sizes and owners, and values over 2^53', () => {
      assertRefused(concat(rawHeader({patch: [[124, b256(12, -5n)]]}), END), /header at byte 0: size is negative/, 0)
      assertRefused(concat(rawHeader({patch: [[108, b256(8, -1n)]]}), END), /uid is negative/)
      assertRefused(concat(rawHeader({patch: [[116, b256(8, -1n)]]}), END), /gid is negative/)
      assertRefused(concat(rawHeader({patch: [[124, b256(12, 2n ** 60n)]]}), END), /size .* is too large/)
    })

    it('octal with leading spaces or NULs and trailing spaces or NULs; an empty field is 0', () => {
      const archive = concat(
        rawHeader({name: 'a', patch: [[100, bytes('  755 \0\0')], [108, bytes('\0\0\0\0\0\0\0\0')], [116, bytes('        ')], [136, bytes('\0  17 \0\0\0\0\0\0')]]}),
        END,
      )
      const [e] = parse(archive)
      assert.equal(e.header.mode, 0o755)
      assert.equal(e.header.uid, 0)
      assert.equal(e.header.gid, 0)
      assert.equal(e.header.mtime, 0o17)
    })

    it('refuses a field that is not octal, naming the field and the header', () => {
      assertRefused(concat(entry({name: 'ok'}, 'x'), rawHeader({patch: [[100, bytes('0006 44\0')]]}), END), /header at byte 1024: mode field "0006 44\\x00" is not an octal number/, 1024)
      assertRefused(concat(rawHeader({patch: [[124, bytes('0000000001x\0')]]}), END), /size field/)
      assertRefused(concat(rawHeader({patch: [[108, bytes('0000009\0')]]}), END), /uid field/)
    })

    it('keeps only the permission bits of the mode', () => {
      const [e] = parse(concat(rawHeader({mode: 0o104755}), END))
      assert.equal(e.header.mode, 0o4755)
    })

    it('reads device numbers for devices only', () => {
      const archive = concat(
        rawHeader({name: 'dev/tty', typeflag: '3', devMajor: 5, devMinor: 0}),
        rawHeader({name: 'dev/loop0', typeflag: '4', devMajor: 7, devMinor: 0o777}),
        rawHeader({name: 'f', patch: [[329, bytes('garbage!')]]}),
        END,
      )
      const [c, b, f] = parse(archive)
      assert.deepEqual([c.header.type, c.header.devMajor, c.header.devMinor], ['char', 5, 0])
      assert.deepEqual([b.header.type, b.header.devMajor, b.header.devMinor], ['block', 7, 0o777])
      assert.deepEqual([f.header.devMajor, f.header.devMinor], [0, 0])
    })
  })

  describe('checksum', () => {
    it('a bad checksum names the header offset, the stored and the computed sum', () => {
      const archive = concat(entry({name: 'a'}, 'x'), entry({name: 'b'}, fill(700, 1)), rawHeader({name: 'c'}), END)
      archive[2560] ^= 0x01 // c's name: 'c' becomes 'b'
      const error = assertRefused(archive, /^tar: header at byte 2560: checksum 0[0-7]+ does not match the header \(computed 0[0-7]+\)$/, 2560)
      const stored = Number.parseInt(/checksum 0([0-7]+)/.exec(error.message)![1], 8)
      const computed = Number.parseInt(/computed 0([0-7]+)/.exec(error.message)![1], 8)
      assert.equal(computed, stored - 1)
    })

    it('accepts the historic signed sum, as GNU tar does', () => {
      const name = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9, 0xff])])
      const [e] = parse(concat(rawHeader({name, checksum: 'signed'}), END))
      assert.deepEqual(Buffer.from(e.header.name), name)
      const [u] = parse(concat(rawHeader({name, checksum: 'unsigned'}), END))
      assert.deepEqual(Buffer.from(u.header.name), name)
    })

    it('a block of text is not a header', () => {
      const junk = new Uint8Array(Buffer.from('Hello, this is not a tar file.\n'.repeat(40)).subarray(0, 1024))
      assertRefused(junk, /header at byte 0: checksum field ".*" is not an octal number/, 0)
    })
  })

  describe('formats and names', () => {
    it('ustar: the prefix goes before the name', () => {
      const [e] = parse(concat(rawHeader({name: 'name', prefix: 'some/prefix'}), END))
      assert.equal(text(e.header.name), 'some/prefix/name')
    })

    it('GNU: the bytes where ustar has its prefix are not a prefix (atime, ctime)', () => {
      const [e] = parse(concat(rawHeader({name: 'gnu-name', format: 'gnu', uname: 'root', patch: [[345, bytes('14530362371\0' + '14530362371\0')]]}), END))
      assert.equal(text(e.header.name), 'gnu-name')
      assert.equal(text(e.header.uname), 'root')
    })

    it('star: the prefix is 131 bytes; atime and ctime follow', () => {
      const [e] = parse(concat(rawHeader({name: 'n', format: 'star', prefix: 'p'.repeat(131), patch: [[476, bytes('14530362371\0')]]}), END))
      assert.equal(text(e.header.name), 'p'.repeat(131) + '/n')
    })

    it('V7 (no magic): the name only; no prefix, uname, gname or device fields', () => {
      const [e] = parse(concat(rawHeader({name: 'v7name', format: 'v7', typeflag: 0, patch: [[265, bytes('zz')], [345, bytes('pp')]]}), END))
      assert.equal(text(e.header.name), 'v7name')
      assert.equal(e.header.type, 'file', "typeflag '\\0' is a file")
      assert.equal(e.header.uname.length, 0)
    })

    it("'7' is contiguous, with data", () => {
      const [e] = parseEverySize(concat(entry({name: 'c', typeflag: '7'}, 'data'), END))
      assert.equal(e.header.type, 'contiguous')
      assert.equal(e.data.toString(), 'data')
    })

    it("a file whose name ends in '/' is a directory (old tars), if it has no data", () => {
      const [a, b] = parse(concat(rawHeader({name: 'old/', typeflag: 0}), rawHeader({name: 'new/', typeflag: '0'}), END))
      assert.deepEqual([a.header.type, b.header.type], ['dir', 'dir'])
      assertRefused(concat(entry({name: 'x/', typeflag: '0'}, 'data'), END), /file entry "x\/" ends in '\/'.*4 bytes of data/, 0)
    })

    it('GNU long names and long links (L, K)', () => {
      const long = 'L'.repeat(300)
      const target = 'K'.repeat(200)
      const archive = concat(gnuLong('L', long), gnuLong('K', target), rawHeader({name: long.slice(0, 100), typeflag: '2', linkName: target.slice(0, 100), format: 'gnu'}), END)
      const [e] = parseEverySize(archive)
      assert.equal(text(e.header.name), long)
      assert.equal(text(e.header.linkName), target)
      assert.equal(e.header.headerOffset, 0)
      assert.equal(e.header.dataOffset, archive.length - END.length)
    })

    it('a GNU long name and a PAX path must agree', () => {
      const ok = concat(gnuLong('L', 'same/name'), pax([['path', 'same/name']]), rawHeader({name: 'cut'}), END)
      assert.equal(text(parse(ok)[0].header.name), 'same/name')
      assertRefused(concat(gnuLong('L', 'one'), pax([['path', 'two']]), rawHeader({name: 'cut'}), END), /GNU long name "one" and PAX path "two" differ/, 0)
      assertRefused(concat(pax([['linkpath', 'a']]), gnuLong('K', 'b'), rawHeader({name: 'l', typeflag: '2'}), END), /GNU long link "b" and PAX linkpath "a" differ/, 0)
    })

    it('refuses a second x, L or K for one entry, and an empty L', () => {
      assertRefused(concat(pax([['uid', '1']]), pax([['uid', '2']]), rawHeader(), END), /PAX extended header at byte 1024 is the second one/, 1024)
      assertRefused(concat(gnuLong('L', 'a'), gnuLong('L', 'b'), rawHeader(), END), /GNU long name header at byte 1024 is the second one/)
      assertRefused(concat(entry({name: '././@LongLink', typeflag: 'L', format: 'gnu'}, '\0'), rawHeader(), END), /GNU long name header at byte 0 is empty/)
    })
  })

  describe('PAX', () => {
    it('uid, gid, uname, gname, size, mtime, path and linkpath override the ustar fields', () => {
      const archive = concat(
        pax([
          ['uid', '3000000'],
          ['gid', '4000000'],
          ['uname', 'someone'],
          ['gname', 'group'],
          ['mtime', '1234567890.999999999'],
          ['path', 'a/path/\xff'],
          ['SCHILY.xattr.security.capability', new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0])],
          ['size', '5'],
        ]),
        rawHeader({name: 'cut', uid: 7, gid: 7, size: 0}),
        bytes('12345'),
        new Uint8Array(507),
        pax([['linkpath', 'over/there'], ['mtime', '-1.5']]),
        rawHeader({name: 'l', typeflag: '2', linkName: 'ignored'}),
        END,
      )
      const [f, l] = parseEverySize(archive)
      assert.equal(f.header.uid, 3000000)
      assert.equal(f.header.gid, 4000000)
      assert.equal(text(f.header.uname), 'someone')
      assert.equal(text(f.header.gname), 'group')
      assert.equal(f.header.mtime, 1234567890)
      assert.equal(f.header.size, 5)
      assert.equal(f.data.toString(), '12345')
      assert.deepEqual(Buffer.from(f.header.name), Buffer.from('a/path/\xff')) // UTF-8 as the record had it
      assert.deepEqual(tarXattrs(f.header), new Map([['security.capability', new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0])]]))
      assert.equal(text(l.header.linkName), 'over/there')
      assert.equal(l.header.mtime, -2)
      assert.equal(l.header.uid, 0, 'a local record applies to the next entry only')
    })

    it('an empty value deletes the key: the ustar field applies', () => {
      const [e] = parse(concat(pax([['path', ''], ['uid', '']]), rawHeader({name: 'ustar-name', uid: 42}), END))
      assert.equal(text(e.header.name), 'ustar-name')
      assert.equal(e.header.uid, 42)
      assert.equal(e.header.pax.size, 0)
    })

    it('global records apply to every later entry, under the local ones; an empty value deletes them', () => {
      const archive = concat(
        pax([['comment', 'c0ffee'], ['SCHILY.acl.access', 'x']], 'g'),
        rawHeader({name: 'a'}),
        pax([['comment', 'local'], ['SCHILY.acl.access', '']]),
        rawHeader({name: 'b'}),
        rawHeader({name: 'c'}),
        pax([['comment', '']], 'g'),
        rawHeader({name: 'd'}),
        END,
      )
      const [a, b, c, d] = parseEverySize(archive)
      assert.deepEqual(a.header.pax, new Map([['comment', bytes('c0ffee')], ['SCHILY.acl.access', bytes('x')]]))
      assert.deepEqual(b.header.pax, new Map([['comment', bytes('local')]]))
      assert.deepEqual(c.header.pax, a.header.pax)
      assert.deepEqual(d.header.pax, new Map([['SCHILY.acl.access', bytes('x')]]))
      assert.equal(a.header.headerOffset, 1024, 'a global header is not part of the next entry')
    })

    it('refuses global records that would change entries (readers disagree on globals)', () => {
      for (const key of ['path', 'linkpath', 'uid', 'gid', 'uname', 'gname', 'size', 'mtime', 'SCHILY.xattr.user.x', 'LIBARCHIVE.xattr.user.x']) {
        assertRefused(concat(pax([[key, '1']], 'g'), rawHeader(), END), new RegExp(`PAX global header at byte 0 sets ${key.replace(/\./g, '\\.')} for all later entries`), 0)
      }
      assertRefused(concat(pax([['uid', '1']]), pax([['comment', 'x']], 'g'), rawHeader(), END), /PAX global header at byte 1024 comes between the PAX extended header at byte 0 and its entry/)
    })

    it('refuses malformed records, naming the header and the record', () => {
      const raw = (s: string | Uint8Array) => concat(entry({name: 'first'}, 'x'), pax(bytes(s)), rawHeader({name: 'f'}), END)
      const cases: Array<[string | Uint8Array, RegExp]> = [
        ['5 a=b\n', /record at byte 1536: its length 5 does not end the record at a newline/],
        ['7 a=b\n', /its length 7 runs past the end of the 6-byte header data/],
        ['x a=b\n', /does not start with a decimal length and a space/],
        ['6a=bc\n', /does not start with a decimal length and a space/],
        ['6 abc\n', /no "=" after the key/],
        ['5 =b\n', /empty key/],
        ['8 a\0b=c\n', /the key contains a NUL byte/],
        ['6 a=bc', /does not end the record at a newline/],
        ['6 a=b\n\0\0\0', /record at byte 1542: does not start with a decimal length/],
        ['6 a=b\n9 c=d\n', /record at byte 1542: its length 9 runs past/],
        [concat(bytes('6 '), new Uint8Array([0xff]), bytes('=b\n')), /the key "\ufffd" is not UTF-8/],
        [paxRecord('path', 'a\0b'), /the path value contains a NUL byte/],
        [paxRecord('uid', '12x4'), /uid="12x4" is not a valid number/],
        [paxRecord('uid', '-1'), /uid="-1" is not a valid number/],
        [paxRecord('gid', '+1'), /gid="\+1" is not a valid number/],
        [paxRecord('size', '1e3'), /size="1e3" is not a valid number/],
        [paxRecord('mtime', '1.2.3'), /mtime="1.2.3" is not a valid number/],
        [paxRecord('mtime', '.5'), /mtime=".5" is not a valid number/],
        [paxRecord('mtime', '-'), /mtime="-" is not a valid number/],
        [paxRecord('uid', '99999999999999999999'), /uid="99999999999999999999" is not a valid number/],
      ]
      for (const [records, message] of cases) {
        const error = assertRefused(raw(records), message)
        assert.equal(error.offset, 1024, error.message)
        assert.match(error.message, /PAX (extended )?header at byte 1024/)
      }
    })

    it('refuses GNU sparse files in PAX form', () => {
      assertRefused(concat(pax([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0']]), rawHeader(), END), /unsupported GNU sparse file \(PAX record GNU\.sparse\.major\)/, 0)
    })

    it('a PAX path that is not UTF-8 (hdrcharset=BINARY) stays bytes', () => {
      const name = new Uint8Array([0x62, 0xff, 0xfe])
      const [e] = parse(concat(pax([['hdrcharset', 'BINARY'], ['path', name]]), rawHeader(), END))
      assert.deepEqual(e.header.name, name)
    })

    it('records larger than 1 MiB are refused before they are buffered; exactly 1 MiB is accepted', () => {
      for (const t of ['x', 'g', 'L', 'K']) {
        const reader = new TarReader({entry() {}})
        assert.throws(
          () => reader.push(rawHeader({name: 'huge', typeflag: t, size: TAR_META_LIMIT + 1})),
          (e: unknown) => e instanceof TarFormatError && /at byte 0 holds 1048577 bytes; more than the 1048576/.test(e.message),
        )
      }
      const filler = 'x'.repeat(TAR_META_LIMIT - 7 - ' comment=\n'.length) // LEN has 7 digits
      const record = paxRecord('comment', filler)
      assert.equal(record.length, TAR_META_LIMIT)
      const [e] = parse(concat(pax(record), rawHeader({name: 'ok'}), END), 65536)
      assert.equal(e.header.pax.get('comment')!.length, filler.length)
    })

    it('all global records together are held to 1 MiB', () => {
      const half = (k: string) => pax([[k, 'x'.repeat(TAR_META_LIMIT / 2)]], 'g')
      assert.equal(parse(concat(half('comment'), half('comment'), rawHeader(), END)).length, 1, 'a key set again replaces its value')
      const second = half('comment').length
      assertRefused(concat(half('comment'), half('comment2'), rawHeader(), END), /global records add up to more than the 1048576 bytes/, second)
    })
  })

  describe('entry types and sizes', () => {
    it('refuses unsupported type flags, naming the flag and the header offset', () => {
      const cases: Array<[string | number, RegExp]> = [
        ['S', /header at byte 1024: unsupported entry type 'S' \(GNU sparse file\)/],
        ['M', /unsupported entry type 'M' \(GNU multi-volume continuation\)/],
        ['V', /unsupported entry type 'V' \(GNU volume header\)/],
        ['D', /unsupported entry type 'D' \(GNU dump directory\)/],
        ['Z', /unsupported entry type 'Z'$/],
        [1, /unsupported entry type '\\x01'$/],
      ]
      for (const [flag, message] of cases) assertRefused(concat(entry({name: 'a'}, 'a'), rawHeader({typeflag: flag}), END), message, 1024)
    })

    it('refuses data on a hardlink, symlink, directory, device or fifo', () => {
      for (const typeflag of ['1', '2', '3', '4', '5', '6']) {
        assertRefused(concat(entry({name: 'x', typeflag, linkName: 'f'}, 'data'), END), /header at byte 0: \w+ entry "x" has size 4; only files carry data/, 0)
      }
      assertRefused(concat(pax([['size', '1']]), rawHeader({name: 'h', typeflag: '1', linkName: 'f'}), bytes('x'), new Uint8Array(511), END), /hardlink entry "h" has size 1/, 0)
    })
  })

  describe('end of archive and truncation', () => {
    const file = entry({name: 'file'}, fill(600, 1)) // 512 + 600 + 424 = 1536 bytes

    it('two zero blocks end the archive; what follows is ignored', () => {
      const junk = new Uint8Array(Buffer.from('garbage after the end '.repeat(100)))
      const parsed = parseEverySize(concat(file, END, junk))
      assert.equal(parsed.length, 1)
    })

    it('accepts a stream that ends after one zero block, or at a block boundary without one', () => {
      assert.equal(parseEverySize(concat(file, new Uint8Array(512))).length, 1)
      assert.equal(parseEverySize(file).length, 1)
      assert.equal(parseEverySize(new Uint8Array(0), [1]).length, 0)
    })

    it('refuses a zero block followed by a header', () => {
      assertRefused(concat(file, new Uint8Array(512), rawHeader({name: 'hidden'}), END), /zero block at byte 1536 is followed by a header at byte 2048/, 1536)
    })

    it('truncated inside a header, the data, or the padding', () => {
      assertRefused(file.subarray(0, 100), /^tar: truncated: the archive ends inside the header at byte 0 \(100 of 512 bytes\)$/, 0)
      assertRefused(concat(file, rawHeader({name: 'b'})).subarray(0, 1536 + 511), /inside the header at byte 1536 \(511 of 512 bytes\)/, 1536)
      assertRefused(file.subarray(0, 512 + 300), /^tar: truncated: the archive ends inside the data of "file" \(header at byte 0\): 300 of 600 bytes$/, 0)
      assertRefused(file.subarray(0, 512 + 600 + 10), /^tar: truncated: the archive ends inside the padding after "file" \(header at byte 0\)$/, 0)
      // The data ends exactly where the stream does, with its padding missing.
      assertRefused(file.subarray(0, 512 + 600), /ends inside the padding after "file"/)
    })

    it('truncated inside a PAX record, or after a meta header without its entry', () => {
      const p = pax([['path', 'p'.repeat(600)]])
      assertRefused(p.subarray(0, 700), /^tar: truncated: the archive ends inside the PAX extended header at byte 0 \(188 of \d+ bytes\)$/, 0)
      assertRefused(p, /^tar: truncated: the archive ends after the PAX extended header at byte 0, before the entry it belongs to$/, 0)
      assertRefused(concat(gnuLong('L', 'n'), END), /the GNU long name header at byte 0 is followed by the end of the archive/, 0)
    })

    it('the reader refuses use after finish() or an error', () => {
      const reader = new TarReader({entry() {}})
      reader.finish()
      assert.throws(() => reader.push(END), /after finish\(\)/)
      const broken = new TarReader({entry() {}})
      assert.throws(() => broken.push(new Uint8Array(Buffer.from('x'.repeat(512)))), TarFormatError)
      assert.throws(() => broken.push(END), /after an error/)
    })
  })

  describe('xattrs', () => {
    it('decodes SCHILY.xattr (raw) and LIBARCHIVE.xattr (escaped name, base64 value)', () => {
      const archive = concat(
        pax([
          ['SCHILY.xattr.user.plain', 'v\0w'],
          ['LIBARCHIVE.xattr.user.%41b', 'aGk'],
          ['LIBARCHIVE.xattr.user.plain', Buffer.from('v\0w').toString('base64')],
        ]),
        rawHeader(),
        pax([['SCHILY.xattr.user.a', 'one'], ['LIBARCHIVE.xattr.user.a', Buffer.from('two').toString('base64')]]),
        rawHeader(),
        pax([['LIBARCHIVE.xattr.user.a', '!!!']]),
        rawHeader(),
        END,
      )
      const [a, b, c] = parse(archive)
      assert.deepEqual(tarXattrs(a.header), new Map([['user.plain', bytes('v\0w')], ['user.Ab', bytes('hi')]]))
      assert.throws(() => tarXattrs(b.header), /two values for xattr "user.a"/)
      assert.throws(() => tarXattrs(c.header), /malformed PAX record LIBARCHIVE.xattr.user.a/)
      assert.equal(tarXattrs(parse(concat(rawHeader(), END))[0].header), undefined)
    })
  })

  describe('the shared layer vectors, against tar-stream', () => {
    it("cases.json's layers, written by the fixture world's tar-stream writer, read as tar-stream reads them", async () => {
      const cases: Array<{id: string; lower?: unknown[]; layers?: unknown[]}> = JSON.parse(readFileSync(join(VECTORS, 'cases.json'), 'utf8')).cases
      const layers: string[][] = []
      for (const c of cases) {
        for (const layer of [c.lower, ...(c.layers ?? [])]) if (Array.isArray(layer)) layers.push(layer.filter((i): i is string => typeof i === 'string' && i !== '<empty tar>'))
      }
      assert.ok(layers.length >= 40, `only ${layers.length} layers`)
      // The DSL of cases.json, enough to write the entries: 'X/' dir, 'X -> T' symlink, 'X => T' hardlink, else a file.
      const item = (s: string, i: number): WorldEntry => {
        const link = /^(.*?) (->|=>) (.*)$/.exec(s)
        if (link) return {type: link[2] === '->' ? 'symlink' : 'hardlink', path: link[1], target: link[3]}
        const path = s.replace(/ \(.*\)$/, '')
        if (path.endsWith('/')) return {type: 'dir', path}
        return {type: 'file', path, data: Buffer.from(fill(i * 97, i)), pax: i % 5 === 0 ? {'SCHILY.xattr.user.n': String(i)} : undefined}
      }
      let entries = 0
      let withPax = 0
      for (const [n, layer] of layers.entries()) {
        const archive = new Uint8Array(await worldTar(layer.map(item)))
        const ours = parseEverySize(archive, [511, 4096])
        const theirs = await tarStreamHeaders(archive)
        assert.equal(ours.length, theirs.length, `layer ${n}`)
        for (const [i, t] of theirs.entries()) {
          const {header: h, data} = ours[i]
          assert.deepEqual([text(h.name), h.type, h.size, text(h.linkName), h.mode, h.uid, h.gid, h.mtime], [t.name, t.type, t.size, t.linkname, t.mode, t.uid, t.gid, t.mtime])
          assert.deepEqual(data, t.data)
          entries++
          if (h.pax.has('SCHILY.xattr.user.n')) withPax++
        }
      }
      assert.ok(entries > 100, `only ${entries} entries`)
      assert.ok(withPax > 10, `only ${withPax} entries with a PAX header`)
    })

    /** Every tar in the vectors: docker-save tarballs, their layer.tar members, and gunzipped layers. */
    function vectorTars(): Array<[string, Uint8Array]> {
      const out: Array<[string, Uint8Array]> = []
      const visit = (dir: string) => {
        for (const f of readdirSync(dir, {withFileTypes: true})) {
          const path = join(dir, f.name)
          if (f.isDirectory()) visit(path)
          else if (f.name.endsWith('.tar')) out.push([path, new Uint8Array(readFileSync(path))])
          else if (f.name.endsWith('.tar.gz')) out.push([path, new Uint8Array(gunzipSync(readFileSync(path)))])
        }
      }
      visit(join(VECTORS, 'gcr-testdata'))
      return out
    }

    it('every vector parses, with the names, types, sizes, link targets, modes and data tar-stream reads', async () => {
      const tars = vectorTars()
      assert.ok(tars.length >= 10, `only ${tars.length} vector tars`)
      for (const [path, archive] of tars) {
        const ours = parseEverySize(archive, [511, 4096])
        const theirs = await tarStreamHeaders(archive)
        assert.equal(ours.length, theirs.length, path)
        for (const [i, t] of theirs.entries()) {
          const {header: h, data} = ours[i]
          const where = `${path}: ${t.name}`
          assert.equal(text(h.name), t.name, where)
          assert.equal(h.type, t.type, where)
          assert.equal(h.size, t.size, where)
          assert.equal(text(h.linkName), t.linkname, where)
          assert.equal(h.mode, t.mode & 0o7777, where)
          assert.equal(h.mtime, t.mtime, where)
          assert.deepEqual(data, t.data, where)
          // Owners differ exactly where tar-stream ignores PAX uid/gid.
          assert.equal(h.uid, h.pax.has('uid') ? Number(text(h.pax.get('uid')!)) : t.uid, where)
          assert.equal(h.gid, h.pax.has('gid') ? Number(text(h.pax.get('gid')!)) : t.gid, where)
        }
      }
    })
  })
})

interface StreamHeader {
  name: string
  type: string
  size: number
  linkname: string
  mode: number
  uid: number
  gid: number
  mtime: number
  data: Buffer
}

const STREAM_TYPES: Record<string, string> = {
  file: 'file',
  'contiguous-file': 'contiguous',
  directory: 'dir',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
}

/** What tar-stream (the parser we replace) reads from `archive`. */
async function tarStreamHeaders(archive: Uint8Array): Promise<StreamHeader[]> {
  const extract = tarStream.extract()
  Readable.from([Buffer.from(archive)]).pipe(extract)
  const out: StreamHeader[] = []
  for await (const e of extract) {
    const parts: Buffer[] = []
    for await (const c of e) parts.push(c as Buffer)
    const h = e.header
    out.push({
      name: h.name,
      type: STREAM_TYPES[h.type ?? ''] ?? String(h.type),
      size: h.type === 'directory' ? 0 : (h.size ?? 0),
      linkname: h.linkname ?? '',
      mode: h.mode ?? 0,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
      data: Buffer.concat(parts),
    })
  }
  return out
}
