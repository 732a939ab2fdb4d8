// Shape: profile files and init, /dev/console, file capabilities (which newc cannot carry); users,
// groups, files from the host, dirs and symlinks, and the refusals of each.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {isStagexError} from '../../src/errors.js'
import {parseProfile} from '../../src/profile/load.js'
import {shapeStage} from '../../src/pipeline/pipeline.js'
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
    assert.deepEqual(report.files.map((f) => [f.path, f.size]), [['/usr/bin/init', 18]])
    assert.match(report.files[0]!.sha256, /^sha256:[0-9a-f]{64}$/)
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

describe('rootfs: shape, the profile\'s users, groups, files from the host, dirs and symlinks', () => {
  let dir: string
  let spool: Spool
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-shape-fields-'))
    spool = await openSpool(join(dir, 'spool'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n'
  const GROUP = 'root:x:0:\nwheel:x:10:root\nuser:x:1000:\n'

  /** A tree as core-filesystem leaves it: /etc/passwd, /etc/group, /home/user; `/bin -> usr/bin`. */
  function packageTree(extra: Record<string, string> = {}): Tree {
    const tree = createTree()
    for (const [path, text] of Object.entries({'etc/passwd': PASSWD, 'etc/group': GROUP, ...extra}))
      putInode(tree, path, {type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5, content: spool.putBytes(Buffer.from(text))})
    putInode(tree, 'home/user', {type: 'dir', mode: 0o755, uid: 1000, gid: 1000, mtime: 5})
    putInode(tree, 'bin', {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 5, target: 'usr/bin'})
    return tree
  }

  /** Profile text in its own file (so `source:` resolves against `dir`), parsed as "t.yaml". */
  async function profileOf(extra: string, name = 't.yaml') {
    const path = join(dir, name)
    const text = `name: t\npackages: [core-busybox]\nkernel: {package: user-linux-generic}\nprune: none\n${extra}`
    await writeFile(path, text)
    return parseProfile(await readFile(path), path, name)
  }

  const textOf = (tree: Tree, path: string) => {
    const inode = tree.entries.get(path)
    assert.ok(inode?.content, `${path} has content`)
    return readFileSync(inode.content.path).subarray(inode.content.offset, inode.content.offset + inode.content.size).toString('utf8')
  }

  const refusal = (code: number, pattern: RegExp) => (error: unknown) => {
    assert.ok(isStagexError(error), `expected a StagexError, got ${error}`)
    assert.equal(error.exitCode, code, error.message)
    assert.match(error.message, pattern)
    return true
  }

  it('makes dirs (0755 root:root unless given) and symlinks (target as written)', async () => {
    const tree = packageTree()
    const profile = await profileOf('dirs:\n  - {path: /srv/keys, mode: "0700", uid: 2000, gid: 2000}\n  - {path: /var/empty}\nsymlinks:\n  - {path: /etc/localtime, target: ../usr/share/zoneinfo/UTC}\n  - {path: /bin/vi, target: busybox}\n')
    const report = await shapeTree(tree, profile, spool)
    assert.deepEqual(tree.entries.get('srv/keys'), {type: 'dir', mode: 0o700, uid: 2000, gid: 2000, mtime: 0})
    assert.deepEqual(tree.entries.get('var/empty'), {type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0})
    assert.equal(tree.entries.get('etc/localtime')?.target, '../usr/share/zoneinfo/UTC')
    // The parent follows /bin -> usr/bin, as a layer entry's would.
    assert.equal(tree.entries.get('usr/bin/vi')?.target, 'busybox')
    assert.deepEqual(report.dirs, ['/srv/keys', '/var/empty'])
    assert.deepEqual(report.symlinks, [
      {path: '/etc/localtime', target: '../usr/share/zoneinfo/UTC'},
      {path: '/usr/bin/vi', target: 'busybox'},
    ])
  })

  it('copies a source file\'s bytes with the profile\'s mode and owner, never the host\'s', async () => {
    await mkdir(join(dir, 'one'), {recursive: true})
    await writeFile(join(dir, 'one/motd'), 'welcome\n', {mode: 0o600})
    const tree = packageTree()
    const profile = await profileOf('files:\n  - {path: /etc/motd, source: one/motd, uid: 2000, gid: 3}\n')
    const report = await shapeTree(tree, profile, spool)
    const motd = tree.entries.get('etc/motd')!
    assert.deepEqual([motd.type, motd.mode, motd.uid, motd.gid, motd.mtime], ['file', 0o644, 2000, 3, 0])
    assert.equal(textOf(tree, 'etc/motd'), 'welcome\n')
    assert.deepEqual(report.files, [{path: '/etc/motd', size: 8, sha256: `sha256:${createHash('sha256').update('welcome\n').digest('hex')}`}])
  })

  it('copies a source folder: every file below it, sorted by UTF-8 bytes, files with mode, folders 0755 (or dirMode)', async () => {
    const src = join(dir, 'tree-src')
    await mkdir(join(src, 'b/deeper'), {recursive: true})
    await mkdir(join(src, 'a'), {recursive: true})
    await writeFile(join(src, 'b/deeper/z'), 'z', {mode: 0o755})
    await writeFile(join(src, 'a/x'), 'xx')
    await writeFile(join(src, 'Z'), 'upper')
    await writeFile(join(src, 'é'), 'utf8')
    const tree = packageTree()
    const profile = await profileOf('files:\n  - {path: /opt/app, source: tree-src, mode: "0640", uid: 7, gid: 8}\n  - {path: /opt/other, source: tree-src, dirMode: "0750"}\n')
    const report = await shapeTree(tree, profile, spool)
    assert.deepEqual(report.files.map((f) => [f.path, f.size]).slice(0, 4), [
      ['/opt/app/Z', 5],
      ['/opt/app/a/x', 2],
      ['/opt/app/b/deeper/z', 1],
      ['/opt/app/é', 4],
    ])
    assert.deepEqual(report.dirs.slice(0, 4), ['/opt/app', '/opt/app/a', '/opt/app/b', '/opt/app/b/deeper'])
    const z = tree.entries.get('opt/app/b/deeper/z')!
    assert.deepEqual([z.mode, z.uid, z.gid], [0o640, 7, 8], 'the host\'s 0755 is not kept')
    assert.deepEqual([tree.entries.get('opt/app/b')!.mode, tree.entries.get('opt/app/b')!.uid], [0o755, 7])
    assert.equal(tree.entries.get('opt/other/b/deeper')!.mode, 0o750)
    assert.equal(tree.entries.get('opt/other/a/x')!.mode, 0o644)
    assert.equal(textOf(tree, 'opt/app/a/x'), 'xx')
  })

  it('refuses symlinks inside a source folder (exit 2), naming every one', async () => {
    const src = join(dir, 'links-src')
    await mkdir(join(src, 'sub'), {recursive: true})
    await writeFile(join(src, 'ok'), 'ok')
    await symlink('/etc/shadow', join(src, 'sub/secret'))
    await symlink('ok', join(src, 'alias'))
    const profile = await profileOf('files:\n  - {path: /opt/app, source: links-src}\n')
    await assert.rejects(
      shapeTree(packageTree(), profile, spool),
      refusal(2, /^t\.yaml:6:30: source ".*links-src" holds entries that are not files or folders: .*links-src\/alias \(a symlink\), .*links-src\/sub\/secret \(a symlink\); give symlinks in the profile's symlinks: list instead$/),
    )
  })

  it('refuses a source that is missing (exit 2, at the source field)', async () => {
    const profile = await profileOf('files:\n  - {path: /etc/motd, source: nothing/here}\n')
    await assert.rejects(shapeTree(packageTree(), profile, spool), refusal(2, /^t\.yaml:6:31: cannot read source ".*nothing\/here" \(no such file or folder\)$/))
  })

  for (const [field, item] of [
    ['dirs', '{path: "/srv/../etc"}'],
    ['symlinks', '{path: "/a/../../x", target: y}'],
    ['files', '{path: "/etc/../../x", contents: y}'],
  ] as const)
    it(`refuses ".." in ${field}[0].path (exit 2, at the field)`, async () => {
      const profile = await profileOf(`${field}:\n  - ${item}\n`)
      await assert.rejects(shapeTree(packageTree(), profile, spool), refusal(2, new RegExp(`^t\\.yaml:6:\\d+: ${field}\\[0\\]\\.path ".*" contains "\\.\\."`)))
    })

  for (const [field, item] of [
    ['dirs', '{path: "//"}'],
    ['symlinks', '{path: "/.", target: y}'],
  ] as const)
    it(`refuses a ${field}[0].path naming the root (exit 2)`, async () => {
      const profile = await profileOf(`${field}:\n  - ${item}\n`)
      await assert.rejects(shapeTree(packageTree(), profile, spool), refusal(2, new RegExp(`^t\\.yaml:6:\\d+: ${field}\\[0\\]\\.path ".*" names the image root`)))
    })

  it('refuses ".." in the init (exit 2, at the init line)', async () => {
    const profile = await profileOf('init: /usr/../usr/bin/init\n')
    await assert.rejects(shapeTree(packageTree(), profile, spool), refusal(2, /^t\.yaml:5:7: init "\/usr\/\.\.\/usr\/bin\/init" contains "\.\."/))
  })

  it('refuses ".." in a user\'s home (exit 2)', async () => {
    const profile = await profileOf('users:\n  - {name: a, uid: 2000, home: /home/../etc}\n')
    await assert.rejects(shapeTree(packageTree(), profile, spool), refusal(2, /^t\.yaml:6:\d+: users\[0\]\.home "\/home\/\.\.\/etc" contains "\.\."/))
  })

  it('adds users and groups after the image\'s lines, in profile order; locks every user in /etc/shadow; makes missing homes', async () => {
    const tree = packageTree()
    const profile = await profileOf(
      'users:\n  - {name: signer, uid: 2000, gid: 2000, home: /home/signer, shell: /bin/sh}\n  - {name: audit, uid: 1999, gid: 100, home: /home/user}\n' +
        'groups:\n  - {name: signers, gid: 2000, members: [signer, audit]}\n  - {name: wheel, gid: 10, members: [signer, root]}\n',
    )
    const report = await shapeTree(tree, profile, spool)
    assert.equal(
      textOf(tree, 'etc/passwd'),
      `${PASSWD}signer:x:2000:2000::/home/signer:/bin/sh\naudit:x:1999:100::/home/user:/bin/sh\n`,
    )
    assert.equal(textOf(tree, 'etc/group'), 'root:x:0:\nwheel:x:10:root,signer\nuser:x:1000:\nsigners:x:2000:signer,audit\n')
    assert.equal(textOf(tree, 'etc/shadow'), 'root:!:1::::::\nuser:!:1::::::\nsigner:!:1::::::\naudit:!:1::::::\n')
    const shadow = tree.entries.get('etc/shadow')!
    assert.deepEqual([shadow.mode, shadow.uid, shadow.gid], [0o600, 0, 0])
    assert.deepEqual(tree.entries.get('home/signer'), {type: 'dir', mode: 0o700, uid: 2000, gid: 2000, mtime: 0})
    assert.deepEqual(tree.entries.get('home/user'), {type: 'dir', mode: 0o755, uid: 1000, gid: 1000, mtime: 5}, 'an existing home is left as it is')
    assert.deepEqual(report.homes, ['/home/signer'])
    assert.deepEqual(report.users.map((u) => u.name), ['signer', 'audit'])
    assert.deepEqual(report.groups.map((g) => g.name), ['signers', 'wheel'])
  })

  it('keeps the image\'s /etc/shadow lines and does not repeat a user or group that is already there with the same values', async () => {
    const tree = packageTree({'etc/shadow': 'root:$6$salt$hash:19000:0:99999:7:::\n'})
    const profile = await profileOf('users:\n  - {name: user, uid: 1000, home: /home/user}\ngroups:\n  - {name: user, gid: 1000}\n')
    await shapeTree(tree, profile, spool)
    assert.equal(textOf(tree, 'etc/passwd'), PASSWD)
    assert.equal(textOf(tree, 'etc/group'), GROUP)
    assert.equal(textOf(tree, 'etc/shadow'), 'root:$6$salt$hash:19000:0:99999:7:::\nuser:!:1::::::\n')
  })

  it('writes only /etc/group when the profile has groups and no users', async () => {
    const tree = packageTree()
    const before = tree.entries.get('etc/passwd')
    await shapeTree(tree, await profileOf('groups:\n  - {name: ops, gid: 3000}\n'), spool)
    assert.equal(tree.entries.get('etc/passwd'), before)
    assert.equal(tree.entries.get('etc/shadow'), undefined)
    assert.match(textOf(tree, 'etc/group'), /\nops:x:3000:\n$/)
  })

  it('refuses a user whose name or uid the image has with other values (exit 2), naming both', async () => {
    const sameName = await profileOf('users:\n  - {name: user, uid: 2000}\n')
    await assert.rejects(
      shapeTree(packageTree(), sameName, spool),
      refusal(2, /^t\.yaml:6:5: user "user" \(user:x:2000:2000::\/home\/user:\/bin\/sh\) conflicts with line 2 of the image's \/etc\/passwd: "user:x:1000:1000::\/home\/user:\/bin\/sh": the same name with other values/),
    )
    const sameUid = await profileOf('users:\n  - {name: signer, uid: 1000}\n')
    await assert.rejects(
      shapeTree(packageTree(), sameUid, spool),
      refusal(2, /^t\.yaml:6:5: user "signer" has uid 1000, which line 2 of the image's \/etc\/passwd: "user:x:1000:1000::\/home\/user:\/bin\/sh" already has; choose another uid$/),
    )
  })

  it('refuses a group whose name or gid the image has with other values (exit 2), and a member nobody knows', async () => {
    await assert.rejects(
      shapeTree(packageTree(), await profileOf('groups:\n  - {name: wheel, gid: 11}\n'), spool),
      refusal(2, /^t\.yaml:6:5: group "wheel" \(gid 11\) conflicts with line 2 of the image's \/etc\/group: "wheel:x:10:root"/),
    )
    await assert.rejects(
      shapeTree(packageTree(), await profileOf('groups:\n  - {name: staff, gid: 10}\n'), spool),
      refusal(2, /^t\.yaml:6:5: group "staff" has gid 10, which line 2 of the image's \/etc\/group: "wheel:x:10:root" already has/),
    )
    await assert.rejects(
      shapeTree(packageTree(), await profileOf('groups:\n  - {name: ops, gid: 3000, members: [ghost]}\n'), spool),
      refusal(2, /^t\.yaml:6:\d+: group "ops" lists "ghost", who is neither in users: nor in the image's \/etc\/passwd$/),
    )
  })

  it('refuses an image /etc/shadow line for a user only the profile adds (exit 4): its password was never audited', async () => {
    const tree = packageTree({'etc/shadow': 'signer:$6$x$y:1::::::\n'})
    await assert.rejects(shapeTree(tree, await profileOf('users:\n  - {name: signer, uid: 2000}\n'), spool), refusal(4, /line 1 of the image's \/etc\/shadow has an entry for "signer"/))
  })

  it('gives the same shape stage sha256 whatever the source file\'s host mode, owner and mtime', async () => {
    const src = join(dir, 'repro-src')
    await mkdir(join(src, 'sub'), {recursive: true})
    await writeFile(join(src, 'sub/file'), 'same bytes\n')
    await writeFile(join(src, 'top'), 'top\n')
    const text = 'files:\n  - {path: /opt/r, source: repro-src}\n  - {path: /etc/one, source: repro-src/top}\nusers:\n  - {name: signer, uid: 2000}\n'
    const shapeSha = async () => {
      const profile = await profileOf(text)
      const flattened = {tree: packageTree(), report: {} as never, entries: 0, sha256: ''}
      const shaped = await shapeStage(flattened, {profile, sourceDateEpoch: 1}, spool)
      return shaped.sha256
    }
    const first = await shapeSha()
    await chmod(join(src, 'sub/file'), 0o700)
    await chmod(join(src, 'sub'), 0o711)
    await chmod(join(src, 'top'), 0o444)
    await utimes(join(src, 'sub/file'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'))
    await utimes(join(src, 'top'), 1234567890, 1234567890)
    if (process.getuid?.() === 0) await chown(join(src, 'top'), 4321, 8765)
    assert.equal(await shapeSha(), first)
    await writeFile(join(src, 'sub/file'), 'other bytes\n')
    assert.notEqual(await shapeSha(), first, 'the bytes do count')
  })
})
