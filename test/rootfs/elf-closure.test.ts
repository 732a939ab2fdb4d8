import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {checkElfClosure, providersOf} from '../../src/rootfs/elf-closure.js'
import {createTree, putInode, type Tree} from '../../src/rootfs/tree.js'
import {openContentReader, openSpool, type Spool} from '../../src/store/spool.js'

describe('rootfs: ELF closure', () => {
  let dir: string
  let spool: Spool
  const reader = openContentReader()
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-elf-'))
    spool = await openSpool(join(dir, 'spool'))
  })
  after(async () => {
    reader.close()
    await rm(dir, {recursive: true, force: true})
  })

  async function addFile(tree: Tree, path: string, hostPath: string) {
    const content = await spool.putBytes(await readFile(hostPath))
    putInode(tree, path, {type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, content})
  }

  it('finds a static binary complete', async () => {
    const tree = createTree()
    await addFile(tree, 'usr/bin/busybox', '/bin/busybox')
    const report = await checkElfClosure(tree, reader)
    assert.equal(report.elfFiles, 1)
    assert.equal(report.dynamic, 0)
    assert.deepEqual(report.problems, [])
  })

  it('names the missing interpreter and libraries of a dynamic binary, then finds them through lib -> usr/lib', async () => {
    const tree = createTree()
    await addFile(tree, 'usr/bin/ls', '/usr/bin/ls')
    const missing = await checkElfClosure(tree, reader)
    assert.deepEqual(missing.problems.map((p) => p.problem), [
      'its interpreter /lib64/ld-linux-x86-64.so.2 is not in the image',
      'needs libselinux.so.1, which is not in the image',
      'needs libc.so.6, which is not in the image',
    ])
    putInode(tree, 'lib64', {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target: 'usr/lib'})
    putInode(tree, 'lib', {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target: 'usr/lib'})
    await addFile(tree, 'usr/lib/ld-linux-x86-64.so.2', '/lib64/ld-linux-x86-64.so.2')
    await addFile(tree, 'usr/lib/libc.so.6', '/lib/x86_64-linux-gnu/libc.so.6')
    await addFile(tree, 'usr/lib/libselinux.so.1', '/lib/x86_64-linux-gnu/libselinux.so.1')
    const report = await checkElfClosure(tree, reader)
    assert.deepEqual(report.problems.filter((p) => p.path === '/usr/bin/ls'), [])
  })

  /** A tree with StageX's links: lib -> usr/lib, lib64 -> usr/lib. */
  const withLinks = (tree = createTree()) => {
    putInode(tree, 'lib', {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target: 'usr/lib'})
    putInode(tree, 'lib64', {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target: 'usr/lib'})
    return tree
  }

  it('names what is missing and where the loader looked', async () => {
    const tree = withLinks()
    await addFile(tree, 'usr/bin/env', '/usr/bin/env')
    Object.assign(tree.entries.get('usr/bin/env')!, {origin: {package: 'core-env'}})
    const report = checkElfClosure(tree, reader)
    assert.deepEqual(
      report.problems.map((p) => [p.path, p.package, p.kind, p.missing]),
      [
        ['/usr/bin/env', 'core-env', 'interpreter', '/lib64/ld-linux-x86-64.so.2'],
        ['/usr/bin/env', 'core-env', 'library', 'libc.so.6'],
      ],
    )
    assert.deepEqual(report.problems[1]!.searched, ['lib/libc.so.6', 'usr/local/lib/libc.so.6', 'usr/lib/libc.so.6', 'lib64/libc.so.6', 'usr/lib64/libc.so.6'])
  })

  it('allowMissing: waives a library name, an interpreter path, or a program', async () => {
    const tree = withLinks()
    await addFile(tree, 'usr/bin/env', '/usr/bin/env')
    await addFile(tree, 'usr/bin/ls', '/usr/bin/ls')
    const report = checkElfClosure(tree, reader, {allowMissing: ['libc.so.6', '/lib64/ld-linux-x86-64.so.2', '/usr/bin/ls']})
    assert.deepEqual(report.problems, [])
    assert.deepEqual(report.allowed.map((p) => [p.path, p.missing]), [
      ['/usr/bin/env', '/lib64/ld-linux-x86-64.so.2'],
      ['/usr/bin/env', 'libc.so.6'],
      ['/usr/bin/ls', '/lib64/ld-linux-x86-64.so.2'],
      ['/usr/bin/ls', 'libselinux.so.1'],
      ['/usr/bin/ls', 'libc.so.6'],
    ])
  })

  it('says which fetched image has a missing file, at a path the loader searches, or that none does', async () => {
    const tree = withLinks()
    await addFile(tree, 'usr/bin/env', '/usr/bin/env')
    // A libc image without the links (StageX packages carry their own files only): usr/lib is where lib/ leads.
    const glibc = createTree()
    await addFile(glibc, 'usr/lib/libc.so.6', '/lib/x86_64-linux-gnu/libc.so.6')
    const report = checkElfClosure(tree, reader)
    providersOf(report.problems, tree, [{name: 'core-env', role: 'package', tree: createTree()}, {name: 'core-glibc', role: 'boot', tree: glibc}])
    assert.deepEqual(report.problems.map((p) => p.provider), [
      "none of the profile's images provides it",
      "core-glibc (fetched as the profile's boot package, not one of its packages) has it at /usr/lib/libc.so.6: add core-glibc to packages:",
    ])
    assert.match(report.problems[1]!.problem, /^needs libc\.so\.6, which is not in the image; core-glibc/)
  })

  it('says so when a profile package has the file but pruning removed it', async () => {
    const tree = withLinks()
    await addFile(tree, 'usr/bin/env', '/usr/bin/env')
    const pkg = withLinks()
    await addFile(pkg, 'usr/lib/gcc/x86_64-linux-musl/libc.so.6', '/lib/x86_64-linux-gnu/libc.so.6')
    const report = checkElfClosure(tree, reader)
    // As if /etc/ld-musl-x86_64.path had named that folder for the loader.
    report.problems[1]!.searched!.push('usr/lib/gcc/x86_64-linux-musl/libc.so.6')
    providersOf(report.problems.slice(1), tree, [{name: 'core-gcc', role: 'package', tree: pkg}], [
      {path: '/usr/lib/gcc', reason: 'compiler private tree', package: 'core-gcc', entries: 3, bytes: 10},
    ])
    assert.equal(report.problems[1]!.provider, 'core-gcc has it at /usr/lib/gcc/x86_64-linux-musl/libc.so.6, which pruning removed (compiler private tree): add /usr/lib/gcc/x86_64-linux-musl/libc.so.6 to keep:')
  })
})
