// prune: default, rule by rule: what goes (with its reason, package and size), what stays, and keep:.
import assert from 'node:assert/strict'
import {isStagexError} from '../../src/errors.js'
import {DEFAULT_PRUNE_RULES, prune, pruneRuleFor, removalsByPackage, UNKNOWN_PACKAGE} from '../../src/rootfs/prune.js'
import {createTree, type Inode, putInode, type Tree} from '../../src/rootfs/tree.js'

type Entry = [path: string, type?: 'file' | 'dir' | 'symlink', size?: number, pkg?: string, target?: string]

function treeOf(entries: Entry[]): Tree {
  const tree = createTree()
  for (const [path, type = 'file', size = 1, pkg, target] of entries) {
    const inode: Inode = {type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 0}
    if (type === 'file') inode.content = {id: `test@${path}`, size, path: '/nonexistent', offset: 0}
    if (type === 'symlink') inode.target = target
    if (pkg) Object.assign(inode, {origin: {package: pkg, layer: 'sha256:00'}})
    putInode(tree, path, inode)
  }
  return tree
}

const reasonOf = (path: string) => pruneRuleFor(path)?.reason

describe('rootfs: prune', () => {
  it('names compilers and linkers in bin folders, target-prefixed and versioned drivers included', () => {
    for (const name of ['gcc', 'g++', 'cc', 'c++', 'cpp', 'gcc-13', 'x86_64-linux-musl-gcc', 'x86_64-linux-musl-g++', 'x86_64-pc-linux-gnu-gcc-13.2.0',
      'aarch64-linux-gnu-cpp', 'cc1', 'cc1plus', 'collect2', 'lto1', 'clang', 'clang++', 'clang-18', 'clang-format', 'rustc', 'cargo', 'go', 'gofmt', 'tcc', 'make', 'cmake', 'pkg-config'])
      assert.equal(reasonOf(`usr/bin/${name}`), 'compiler or build tool', name)
    for (const name of ['ld', 'ld.bfd', 'ld.gold', 'ld.lld', 'ld.mold', 'lld', 'as', 'x86_64-linux-musl-ld', 'x86_64-linux-musl-as', 'x86_64-linux-musl-ld.bfd', 'mold'])
      assert.equal(reasonOf(`usr/bin/${name}`), 'linker or assembler', name)
    assert.equal(reasonOf('usr/local/bin/gcc'), 'compiler or build tool')
    assert.equal(reasonOf('sbin/ld'), 'linker or assembler')
  })

  it('leaves programs that only look alike: ld.so, ldd, ldconfig, ssh-add, busybox applets, and names outside bin folders', () => {
    for (const name of ['ld.so', 'ldd', 'ldconfig', 'ssh-add', 'sh', 'cat', 'gzip', 'ascii', 'base64', 'cut', 'install', 'gcore', 'getconf', 'env', 'pipe'])
      assert.equal(reasonOf(`usr/bin/${name}`), undefined, name)
    assert.equal(reasonOf('usr/lib/ld-musl-x86_64.so.1'), undefined)
    assert.equal(reasonOf('usr/share/gcc/README'), undefined)
    assert.equal(reasonOf('etc/cc'), undefined)
    assert.equal(reasonOf('usr/lib/libc.so'), undefined)
    assert.equal(reasonOf('usr/lib/libgcc_s.so.1'), undefined)
  })

  it("names compilers' private trees, package managers in and out of bin folders, and their databases", () => {
    const cases: [string, string][] = [
      ['usr/lib/gcc', 'compiler private tree'],
      ['usr/libexec/gcc/x86_64-linux-musl/13/cc1', 'compiler private tree'],
      ['usr/lib/go', 'compiler private tree'],
      ['usr/lib/rustlib', 'compiler private tree'],
      ['usr/local/lib/rustlib/x86_64-unknown-linux-musl', 'compiler private tree'],
      ['usr/lib/librustc_driver-0123abcd.so', 'compiler private tree'],
      ['usr/bin/apk', 'package manager'],
      ['usr/bin/pip', 'package manager'],
      ['usr/bin/pip3', 'package manager'],
      ['usr/bin/pip3.12', 'package manager'],
      ['usr/bin/easy_install-3.12', 'package manager'],
      ['usr/bin/npm', 'package manager'],
      ['usr/bin/npx', 'package manager'],
      ['usr/lib/python3.12/ensurepip', 'package manager'],
      ['usr/lib/python3.12/site-packages/pip', 'package manager'],
      ['usr/lib/python3.12/site-packages/pip/_internal/cli/main.py', 'package manager'],
      ['usr/lib/python3.12/site-packages/pip-24.0.dist-info', 'package manager'],
      ['usr/lib/node_modules/npm', 'package manager'],
      ['usr/local/lib/node_modules/npm/bin/npm-cli.js', 'package manager'],
      ['lib/apk', 'package database'],
      ['usr/lib/apk/db/installed', 'package database'],
      ['etc/apk/repositories', 'package database'],
      ['var/cache/apk', 'package database'],
      ['var/lib/dpkg', 'package database'],
    ]
    for (const [path, reason] of cases) assert.equal(reasonOf(path), reason, path)
    // Python's and Node's other packages stay.
    assert.equal(reasonOf('usr/lib/python3.12/site-packages/requests/__init__.py'), undefined)
    assert.equal(reasonOf('usr/lib/python3.12/site-packages/pipx'), undefined)
    assert.equal(reasonOf('usr/lib/node_modules/express'), undefined)
  })

  it('names headers, static and libtool archives, crt files, pkg-config files, build-system files, man pages and docs', () => {
    const cases: [string, string][] = [
      ['usr/include', 'C headers'],
      ['usr/include/stdio.h', 'C headers'],
      ['usr/local/include', 'C headers'],
      ['usr/lib/libc.a', 'static library or libtool archive'],
      ['usr/lib/x86_64-linux-gnu/libz.a', 'static library or libtool archive'],
      ['usr/lib/libfoo.la', 'static library or libtool archive'],
      ['lib/libbar.a', 'static library or libtool archive'],
      ['usr/lib/crt1.o', 'C runtime start files'],
      ['usr/lib/Scrt1.o', 'C runtime start files'],
      ['usr/lib/pkgconfig', 'pkg-config files'],
      ['usr/lib/pkgconfig/zlib.pc', 'pkg-config files'],
      ['usr/lib64/pkgconfig/zlib.pc', 'pkg-config files'],
      ['usr/lib/x86_64-linux-gnu/pkgconfig/zlib.pc', 'pkg-config files'],
      ['usr/share/pkgconfig/xorg.pc', 'pkg-config files'],
      ['usr/lib/cmake', 'build system files'],
      ['usr/share/aclocal', 'build system files'],
      ['usr/share/man', 'man pages and documentation'],
      ['usr/share/man/man1/ls.1.gz', 'man pages and documentation'],
      ['usr/share/doc', 'man pages and documentation'],
      ['usr/share/info', 'man pages and documentation'],
    ]
    for (const [path, reason] of cases) assert.equal(reasonOf(path), reason, path)
    assert.equal(reasonOf('usr/lib/libz.so.1'), undefined)
    assert.equal(reasonOf('usr/lib/libfoo.a.so'), undefined)
    assert.equal(reasonOf('usr/share/zoneinfo/UTC'), undefined)
    assert.equal(reasonOf('etc/pkgconfig.conf'), undefined)
  })

  it('every rule has a reason', () => {
    for (const rule of DEFAULT_PRUNE_RULES) assert.match(rule.reason, /^[a-zA-Z][a-z -]+$/)
  })

  it('removes a matched folder with everything below it, one row per package, with bytes (a hardlink counted once)', () => {
    const tree = treeOf([
      ['usr/bin/sh', 'file', 100, 'core-busybox'],
      ['usr/bin/gcc', 'file', 1000, 'core-gcc'],
      ['usr/bin/x86_64-linux-musl-gcc', 'symlink', 0, 'core-gcc', 'gcc'],
      ['usr/include', 'dir', 0, 'core-musl'],
      ['usr/include/stdio.h', 'file', 30, 'core-musl'],
      ['usr/include/zlib.h', 'file', 20, 'core-zlib'],
      ['usr/include/sys', 'dir', 0, 'core-musl'],
      ['usr/include/sys/types.h', 'file', 7, 'core-musl'],
      ['usr/lib/libz.so.1', 'file', 90, 'core-zlib'],
      ['usr/lib/libz.a', 'file', 120, 'core-zlib'],
    ])
    // A second name for stdio.h inside the same folder: its bytes are counted once.
    tree.entries.set('usr/include/stdio-copy.h', tree.entries.get('usr/include/stdio.h')!)
    const report = prune(tree)
    assert.deepEqual(report.removed, [
      {path: '/usr/bin/gcc', reason: 'compiler or build tool', package: 'core-gcc', entries: 1, bytes: 1000},
      {path: '/usr/bin/x86_64-linux-musl-gcc', reason: 'compiler or build tool', package: 'core-gcc', entries: 1, bytes: 0},
      {path: '/usr/include', reason: 'C headers', package: 'core-musl', entries: 5, bytes: 37},
      {path: '/usr/include', reason: 'C headers', package: 'core-zlib', entries: 1, bytes: 20},
      {path: '/usr/lib/libz.a', reason: 'static library or libtool archive', package: 'core-zlib', entries: 1, bytes: 120},
    ])
    assert.deepEqual([...tree.entries.keys()].sort(), ['', 'usr', 'usr/bin', 'usr/bin/sh', 'usr/lib', 'usr/lib/libz.so.1'])
    assert.deepEqual(
      removalsByPackage(report.removed).map((g) => [g.package, g.entries, g.bytes, g.removed.length]),
      [['core-gcc', 2, 1000, 2], ['core-musl', 5, 37, 1], ['core-zlib', 2, 140, 2]],
    )
    assert.deepEqual(report.kept, [])
  })

  it('says "unknown package" for what has no origin', () => {
    const tree = treeOf([['usr/share/doc/README', 'file', 5]])
    assert.deepEqual(prune(tree).removed, [{path: '/usr/share/doc', reason: 'man pages and documentation', package: UNKNOWN_PACKAGE, entries: 2, bytes: 5}])
  })

  it('keeps what keep: names (a file, or a folder with what is below it), and the folders above it, removing their other contents', () => {
    const tree = treeOf([
      ['usr/bin/gcc', 'file', 10, 'core-gcc'],
      ['usr/bin/make', 'file', 10, 'core-make'],
      ['usr/lib/gcc/x86_64-linux-musl/13/libgcc_s_special.so', 'file', 40, 'core-gcc'],
      ['usr/lib/gcc/x86_64-linux-musl/13/cc1', 'file', 500, 'core-gcc'],
      ['usr/lib/gcc/x86_64-linux-musl/13/include/stddef.h', 'file', 5, 'core-gcc'],
      ['usr/share/doc/licenses', 'dir', 0, 'core-gcc'],
      ['usr/share/doc/licenses/COPYING', 'file', 3, 'core-gcc'],
      ['usr/share/doc/gcc/README', 'file', 4, 'core-gcc'],
    ])
    const report = prune(tree, {keep: ['/usr/bin/make', '/usr/lib/gcc/x86_64-linux-musl/13/libgcc_s_special.so', '/usr/share/doc/licenses/']})
    assert.ok(tree.entries.has('usr/bin/make'))
    assert.ok(tree.entries.has('usr/lib/gcc/x86_64-linux-musl/13/libgcc_s_special.so'))
    assert.ok(tree.entries.has('usr/share/doc/licenses/COPYING'))
    for (const gone of ['usr/bin/gcc', 'usr/lib/gcc/x86_64-linux-musl/13/cc1', 'usr/lib/gcc/x86_64-linux-musl/13/include', 'usr/share/doc/gcc'])
      assert.ok(!tree.entries.has(gone), gone)
    assert.deepEqual(report.removed.map((r) => [r.path, r.reason]), [
      ['/usr/bin/gcc', 'compiler or build tool'],
      ['/usr/lib/gcc/x86_64-linux-musl/13/cc1', 'compiler private tree'],
      ['/usr/lib/gcc/x86_64-linux-musl/13/include', 'compiler private tree'],
      ['/usr/share/doc/gcc', 'man pages and documentation'],
    ])
    assert.deepEqual(report.kept, [
      {path: '/usr/bin/make', keep: '/usr/bin/make', reason: 'compiler or build tool', package: 'core-make'},
      {path: '/usr/lib/gcc/x86_64-linux-musl/13/libgcc_s_special.so', keep: '/usr/lib/gcc/x86_64-linux-musl/13/libgcc_s_special.so', reason: 'compiler private tree', package: 'core-gcc'},
      {path: '/usr/share/doc/licenses', keep: '/usr/share/doc/licenses/', reason: 'man pages and documentation', package: 'core-gcc'},
    ])
  })

  it('resolves keep: through the tree\'s links (/lib/apk is usr/lib/apk when lib -> usr/lib)', () => {
    const tree = treeOf([
      ['lib', 'symlink', 0, 'core-filesystem', 'usr/lib'],
      ['usr/lib/apk/db/installed', 'file', 9, 'core-apk'],
    ])
    const report = prune(tree, {keep: ['/lib/apk']})
    assert.ok(tree.entries.has('usr/lib/apk/db/installed'))
    assert.deepEqual(report.kept.map((k) => [k.path, k.reason]), [['/usr/lib/apk', 'package database']])
  })

  it('refuses a keep: path that is not in the image, or the root (exit 2, where the profile says it)', () => {
    const tree = treeOf([['usr/bin/gcc', 'file', 1, 'core-gcc']])
    const refusal = (keep: string, pattern: RegExp) =>
      assert.throws(
        () => prune(tree, {keep: [keep], locateKeep: (i) => `p.yaml:9:${i + 5}`}),
        (error: unknown) => isStagexError(error) && error.exitCode === 2 && pattern.test(error.message),
      )
    refusal('/usr/bin/gcc-13', /^p\.yaml:9:5: keep\[0\] "\/usr\/bin\/gcc-13" is not in the image/)
    refusal('/', /names the image root/)
    refusal('/../etc', /is not a path inside the image/)
    assert.ok(tree.entries.has('usr/bin/gcc'), 'nothing was pruned')
  })
})
