// Shape: profile files and init, /dev/console, and file capabilities (which newc cannot carry).
import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {isStagexError} from '../../src/errors.js'
import {parseProfile} from '../../src/profile/load.js'
import {shapeTree} from '../../src/rootfs/shape.js'
import {createTree, putInode, type Tree} from '../../src/rootfs/tree.js'
import {openSpool, type Spool} from '../../src/store/spool.js'

const profileText = (extra = '') => `name: shape
packages: [core-busybox]
kernel: {package: user-linux-generic}
init: /usr/bin/init
prune: none
files:
  - {path: /usr/bin/init, mode: "0755", contents: "#!/bin/sh\\necho hi\\n"}
${extra}`

describe('rootfs: shape', () => {
  let dir: string
  let spool: Spool
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-shape-'))
    spool = await openSpool(join(dir, 'spool'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  async function treeWithCapability(): Promise<Tree> {
    const tree = createTree()
    const content = await spool.putBytes(Buffer.from('ping'))
    putInode(tree, 'usr/bin/ping', {type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 1, content, xattrs: {'security.capability': Buffer.from([1, 0, 0, 2])}})
    return tree
  }

  it('adds the profile files, /init -> the init, and /dev/console', async () => {
    const tree = createTree()
    const report = await shapeTree(tree, parseProfile(Buffer.from(profileText()), join(dir, 'p.yaml')), spool)
    assert.deepEqual(report.files, ['/usr/bin/init'])
    const init = tree.entries.get('usr/bin/init')!
    assert.equal(init.mode, 0o755)
    assert.equal(await readFile(init.content!.path, 'utf8'), '#!/bin/sh\necho hi\n')
    assert.deepEqual(tree.entries.get('init'), {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target: '/usr/bin/init'})
    assert.deepEqual(tree.entries.get('dev/console')?.rdev, {major: 5, minor: 1})
  })

  it('refuses a file capability by default (exit 4), naming the file and the way out', async () => {
    const tree = await treeWithCapability()
    await assert.rejects(shapeTree(tree, parseProfile(Buffer.from(profileText()), join(dir, 'p.yaml')), spool), (error: unknown) => {
      assert.ok(isStagexError(error))
      assert.equal(error.exitCode, 4)
      assert.match(error.message, /\/usr\/bin\/ping; set initramfs\.capabilities: drop/)
      return true
    })
  })

  it('drops it, and reports it, when the profile says initramfs.capabilities: drop', async () => {
    const tree = await treeWithCapability()
    const profile = parseProfile(Buffer.from(profileText('initramfs: {capabilities: drop}\n')), join(dir, 'p.yaml'))
    const report = await shapeTree(tree, profile, spool)
    assert.deepEqual(report.droppedCapabilities, ['/usr/bin/ping'])
    assert.deepEqual(tree.entries.get('usr/bin/ping')!.xattrs, {})
  })

  it('refuses an init that is missing or not executable (exit 2, at the init line)', async () => {
    const missing = parseProfile(Buffer.from(profileText().replace('init: /usr/bin/init', 'init: /sbin/nothing')), join(dir, 'p.yaml'))
    await assert.rejects(shapeTree(createTree(), missing, spool), /p\.yaml:4:7: init "\/sbin\/nothing" is not in the image/)
    const plain = parseProfile(Buffer.from(profileText().replace('mode: "0755"', 'mode: "0644"')), join(dir, 'p.yaml'))
    await assert.rejects(shapeTree(createTree(), plain, spool), /is not executable/)
  })
})
