// The no-compiler check: its content markers on real Debian binaries (compilers and linkers have
// them; busybox, libc, openssl and other programs do not), and the check on trees: by name, by
// content, scripts, keep:.
import assert from 'node:assert/strict'
import {statSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {checkNoCompiler, CONTENT_MARKERS, identifyContent, scanScript} from '../../src/rootfs/no-compiler.js'
import {createTree, type ContentRef, putInode, type Tree} from '../../src/rootfs/tree.js'
import {openContentReader} from '../../src/store/spool.js'

/** A host file as content, read in place (the reader reads any file by offset and length). */
const hostFile = (path: string): ContentRef => ({id: `host:${path}`, size: statSync(path).size, path, offset: 0})

/** Debian's toolchain (gcc-12, cpp-12, binutils), as scripts/setup.sh installs it. */
const COMPILERS = [
  '/usr/bin/x86_64-linux-gnu-gcc-12',
  '/usr/bin/x86_64-linux-gnu-g++-12',
  '/usr/bin/x86_64-linux-gnu-cpp-12',
  '/usr/lib/gcc/x86_64-linux-gnu/12/cc1',
  '/usr/lib/gcc/x86_64-linux-gnu/12/cc1plus',
  '/usr/lib/gcc/x86_64-linux-gnu/12/collect2',
  '/usr/lib/gcc/x86_64-linux-gnu/12/lto1',
  '/usr/lib/gcc/x86_64-linux-gnu/12/lto-wrapper',
  '/usr/bin/x86_64-linux-gnu-ld.bfd',
  '/usr/bin/x86_64-linux-gnu-ld.gold',
  '/usr/bin/x86_64-linux-gnu-as',
]
/** What an appliance runs: busybox (static), glibc, openssl, interpreters, coreutils, util-linux, the kernel's tools. */
const ORDINARY = [
  '/bin/busybox',
  '/lib/x86_64-linux-gnu/libc.so.6',
  '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
  '/usr/bin/openssl',
  '/usr/lib/x86_64-linux-gnu/libcrypto.so.3',
  '/usr/lib/x86_64-linux-gnu/libssl.so.3',
  '/usr/bin/python3.11',
  '/usr/bin/perl',
  '/usr/bin/env',
  '/usr/bin/ls',
  '/usr/bin/tar',
  '/usr/bin/gpg',
  '/usr/bin/skopeo',
  '/usr/bin/qemu-system-x86_64',
  '/usr/bin/objdump',
  '/usr/bin/readelf',
  '/usr/bin/strip',
  '/usr/bin/ldd',
]
const existing = (paths: string[]) => paths.filter((p) => statSync(p, {throwIfNoEntry: false})?.isFile())

describe('rootfs: no-compiler check', function () {
  this.timeout(60_000)
  const reader = openContentReader()
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-nocc-'))
  })
  after(async () => {
    reader.close()
    await rm(dir, {recursive: true, force: true})
  })

  describe('content markers on real binaries', () => {
    for (const path of COMPILERS)
      it(`identifies ${path}`, function () {
        if (!existing([path]).length) this.skip()
        const found = identifyContent(reader, hostFile(path))
        assert.ok(found, `${path} has none of the markers`)
      })

    it('finds none in busybox, glibc, openssl, python, perl and other programs', () => {
      const paths = existing(ORDINARY)
      assert.ok(paths.length >= 10, 'the machine has the ordinary binaries')
      for (const path of paths) assert.equal(identifyContent(reader, hostFile(path)), undefined, path)
    })

    // Debian's other toolchains, when the machine has them (golang-1.19-go, clang-14, lld-14, rustc, tcc).
    for (const [path, marker] of [
      ['/usr/lib/go-1.19/bin/go', 'cmd/go/internal/work.(*Builder)'],
      ['/usr/lib/go-1.19/pkg/tool/linux_amd64/compile', 'cmd/compile/internal/gc.Main'],
      ['/usr/lib/go-1.19/pkg/tool/linux_amd64/link', 'cmd/link/internal/ld.Main'],
      ['/usr/lib/go-1.19/pkg/tool/linux_amd64/asm', 'cmd/asm/internal/asm.(*Parser)'],
      ['/usr/lib/llvm-14/bin/clang', '-cc1as'],
      ['/usr/lib/llvm-14/bin/lld', 'SEARCH_DIR'],
      ['/usr/lib/llvm-14/bin/llc', 'llvm system compiler'],
      ['/usr/bin/rustc', 'rustc_driver'],
      ['/usr/bin/tcc', 'Tiny C Compiler'],
    ] as const)
      it(`identifies ${path} by ${marker}`, function () {
        if (!existing([path]).length) this.skip()
        assert.equal(identifyContent(reader, hostFile(path))?.marker, marker)
      })

    it("finds none in Go programs that are not Go's toolchain (gofmt, vet), nor in LLVM's other tools (opt, llvm-ar)", function () {
      const paths = existing(['/usr/lib/go-1.19/bin/gofmt', '/usr/lib/go-1.19/pkg/tool/linux_amd64/vet', '/usr/lib/llvm-14/bin/opt', '/usr/lib/llvm-14/bin/llvm-ar'])
      if (paths.length === 0) this.skip()
      for (const path of paths) assert.equal(identifyContent(reader, hostFile(path)), undefined, path)
    })

    it('would not use the obvious strings, which ordinary binaries have too', () => {
      const markers = CONTENT_MARKERS.map((m) => m.marker)
      for (const weak of ['GCC:', '-fno-', 'cc1', 'LLVM', 'rustc', 'collect2', 'clang', 'lib/apk/db', 'cmd/link/internal']) assert.ok(!markers.includes(weak), weak)
    })

    it('says which toolchain each marker names', () => {
      assert.match(identifyContent(reader, hostFile('/usr/lib/gcc/x86_64-linux-gnu/12/cc1'))!.identifies, /GCC/)
      assert.match(identifyContent(reader, hostFile('/usr/bin/x86_64-linux-gnu-ld.bfd'))!.identifies, /linker/)
      assert.match(identifyContent(reader, hostFile('/usr/bin/x86_64-linux-gnu-as'))!.identifies, /assembler/)
    })

    it('finds a marker that straddles two read chunks (1 MiB each)', async () => {
      const file = join(dir, 'seam.elf')
      const bytes = Buffer.alloc(2 * 1024 * 1024)
      Buffer.from([0x7f, 0x45, 0x4c, 0x46]).copy(bytes)
      Buffer.from('COLLECT_GCC_OPTIONS').copy(bytes, 1024 * 1024 - 7)
      await writeFile(file, bytes)
      assert.equal(identifyContent(reader, hostFile(file))?.marker, 'COLLECT_GCC_OPTIONS')
      bytes.fill(0, 1024 * 1024 - 7, 1024 * 1024 + 12)
      await writeFile(file, bytes)
      assert.equal(identifyContent(reader, hostFile(file)), undefined)
    })
  })

  describe('scripts', () => {
    it('names a shebang that runs a package manager, directly or through env', () => {
      assert.match(scanScript('#!/usr/bin/pip3\n')!.identifies, /run by pip3/)
      assert.match(scanScript('#!/usr/bin/env npm\n')!.identifies, /run by npm/)
      assert.match(scanScript('#! /usr/bin/env -S easy_install -q\n')!.identifies, /run by easy_install/)
    })

    it("names pip's console script, easy_install's, `python -m pip` and npm's CLI", () => {
      assert.match(scanScript('#!/usr/bin/python3\nimport re\nimport sys\nfrom pip._internal.cli.main import main\n')!.identifies, /pip's entry point/)
      assert.match(scanScript('#!/usr/bin/python3\nfrom setuptools.command.easy_install import main\n')!.identifies, /easy_install/)
      assert.match(scanScript('#!/bin/sh\nexec python3 -m pip install "$@"\n')!.identifies, /python -m pip/)
      assert.match(scanScript("#!/bin/sh\nexec node /usr/lib/node_modules/npm/bin/npm-cli.js \"$@\"\n")!.identifies, /npm/)
    })

    it('leaves ordinary scripts alone', () => {
      for (const text of ['#!/bin/sh\necho pipeline\n', '#!/usr/bin/python3\nimport pipes\nprint("pip")\n', '#!/usr/bin/env node\nconsole.log("npm")\n', '#!/usr/bin/perl\n'])
        assert.equal(scanScript(text), undefined, text)
    })
  })

  describe('on a tree', () => {
    const file = (tree: Tree, path: string, content: ContentRef, pkg?: string) =>
      putInode(tree, path, {type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, content, ...(pkg ? {origin: {package: pkg}} : {})})
    const script = async (name: string, text: string) => {
      const path = join(dir, name)
      await writeFile(path, text)
      return hostFile(path)
    }

    it('passes busybox and ordinary scripts', async () => {
      const tree = createTree()
      file(tree, 'usr/bin/busybox', hostFile('/bin/busybox'), 'core-busybox')
      file(tree, 'usr/bin/init', await script('init', '#!/bin/sh\nexec /bin/sh\n'))
      file(tree, 'etc/hostname', await script('hostname', 'appliance\n'))
      const report = checkNoCompiler(tree, reader)
      assert.deepEqual(report.findings, [])
      assert.equal(report.scanned, 2)
    })

    it('names a renamed compiler by its content, and a pruneable name by its name, with their packages', async () => {
      const tree = createTree()
      file(tree, 'usr/bin/helper', hostFile('/usr/bin/x86_64-linux-gnu-gcc-12'), 'user-devtools')
      file(tree, 'usr/bin/ld.bfd', hostFile('/usr/bin/x86_64-linux-gnu-ld.bfd'), 'user-devtools')
      file(tree, 'usr/bin/pip3', await script('pip3', '#!/usr/bin/python3\nfrom pip._internal.cli.main import main\n'), 'user-devtools')
      file(tree, 'usr/bin/update-tools', await script('update-tools', '#!/bin/sh\nexec python3 -m pip install -U "$@"\n'))
      putInode(tree, 'usr/include/x.h', {type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: await script('x.h', '#define X\n')})
      const report = checkNoCompiler(tree, reader)
      assert.deepEqual(
        report.findings.map((f) => [f.path, f.package, f.by, f.marker ?? f.reason]),
        [
          ['/usr/bin/helper', 'user-devtools', 'content', 'COLLECT_GCC_OPTIONS'],
          ['/usr/bin/ld.bfd', 'user-devtools', 'name', 'linker or assembler'],
          ['/usr/bin/ld.bfd', 'user-devtools', 'content', 'SEARCH_DIR'],
          ['/usr/bin/pip3', 'user-devtools', 'name', 'package manager'],
          ['/usr/bin/pip3', 'user-devtools', 'content', 'from pip._internal.cli.main import'],
          ['/usr/bin/update-tools', 'unknown package', 'content', '-m pip'],
          // The folder stands for what is below it.
          ['/usr/include', 'unknown package', 'name', 'C headers'],
        ],
      )
    })

    it('keep: waives a name, never the content: a kept compiler is still refused', async () => {
      const tree = createTree()
      file(tree, 'usr/bin/helper', hostFile('/usr/bin/x86_64-linux-gnu-gcc-12'), 'user-devtools')
      file(tree, 'usr/bin/make', await script('make', '#!/bin/sh\necho make\n'), 'core-make')
      file(tree, 'usr/include/zlib.h', await script('zlib.h', '#define Z\n'), 'core-zlib')
      file(tree, 'usr/include/stdio.h', await script('stdio.h', '#define S\n'), 'core-musl')
      const report = checkNoCompiler(tree, reader, {keep: ['usr/bin/helper', 'usr/bin/make', 'usr/include/zlib.h']})
      assert.deepEqual(
        report.findings.map((f) => [f.path, f.by, f.kept]),
        [
          ['/usr/bin/helper', 'content', true],
          // usr/include stays for zlib.h, so its other content is named.
          ['/usr/include/stdio.h', 'name', false],
        ],
      )
    })

    it('reads a hardlink group once and names every path of it', () => {
      const tree = createTree()
      file(tree, 'usr/bin/helper', hostFile('/usr/bin/x86_64-linux-gnu-gcc-12'), 'user-devtools')
      tree.entries.set('usr/bin/helper2', tree.entries.get('usr/bin/helper')!)
      const report = checkNoCompiler(tree, reader)
      assert.equal(report.scanned, 1)
      assert.deepEqual(report.findings.map((f) => f.path), ['/usr/bin/helper', '/usr/bin/helper2'])
    })
  })
})
