import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {checkElfClosure} from '../../src/rootfs/elf-closure.js'
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
})
