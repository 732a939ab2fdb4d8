// The profile's shaping fields: users, groups, files with source, dirs, symlinks, keep, allowMissing.
import assert from 'node:assert/strict'
import {parseProfile} from '../../src/profile/load.js'
import {profileErrorOf} from '../helpers/profile.js'

const base = `name: demo
packages: [core-busybox]
kernel: {package: user-linux-generic}
`
const load = (extra: string) => parseProfile(Buffer.from(base + extra), '/work/p/demo.yaml', 'demo.yaml')

describe('profile: shaping fields', () => {
  it('gives every new field its default: empty lists', () => {
    const profile = load('')
    for (const field of ['users', 'groups', 'dirs', 'symlinks', 'keep', 'allowMissing'] as const) assert.deepEqual(profile[field], [], field)
  })

  it('fills a user from its uid and name: gid = uid, home /home/NAME (/root for uid 0), shell /bin/sh', () => {
    const profile = load('users:\n  - {name: signer, uid: 2000}\n  - {name: toor, uid: 0}\n  - {name: op, uid: 7, gid: 100, home: /srv/op, shell: /bin/ash}\n')
    assert.deepEqual(profile.users, [
      {name: 'signer', uid: 2000, gid: 2000, home: '/home/signer', shell: '/bin/sh'},
      {name: 'toor', uid: 0, gid: 0, home: '/root', shell: '/bin/sh'},
      {name: 'op', uid: 7, gid: 100, home: '/srv/op', shell: '/bin/ash'},
    ])
  })

  it('reads groups, dirs, symlinks, keep and allowMissing', () => {
    const profile = load(
      'groups: [{name: signers, gid: 2000, members: [signer]}, {name: ops, gid: 2001}]\n' +
        'dirs: [{path: /srv/keys, mode: "0700", uid: 2000, gid: 2000}, {path: /var/empty}]\n' +
        'symlinks: [{path: /etc/localtime, target: ../usr/share/zoneinfo/UTC}]\n' +
        'keep: [/usr/bin/gpg]\nallowMissing: [libfoo.so.1]\n',
    )
    assert.deepEqual(profile.groups, [
      {name: 'signers', gid: 2000, members: ['signer']},
      {name: 'ops', gid: 2001, members: []},
    ])
    assert.deepEqual(profile.dirs, [
      {path: '/srv/keys', mode: 0o700, uid: 2000, gid: 2000},
      {path: '/var/empty', mode: 0o755, uid: 0, gid: 0},
    ])
    assert.deepEqual(profile.symlinks, [{path: '/etc/localtime', target: '../usr/share/zoneinfo/UTC'}])
    assert.deepEqual(profile.keep, ['/usr/bin/gpg'])
    assert.deepEqual(profile.allowMissing, ['libfoo.so.1'])
  })

  it('resolves files[].source against the profile folder (or keeps it absolute), with modes for files and folders', () => {
    const profile = load('files:\n  - {path: /etc/motd, source: files/motd}\n  - {path: /srv, source: /abs/tree, mode: "0600", dirMode: "0750", uid: 5}\n')
    assert.deepEqual(profile.files, [
      {path: '/etc/motd', source: '/work/p/files/motd', mode: 0o644, dirMode: 0o755, uid: 0, gid: 0},
      {path: '/srv', source: '/abs/tree', mode: 0o600, dirMode: 0o750, uid: 5, gid: 0},
    ])
  })

  it('wants exactly one of contents and source (exit 2, at the item)', () => {
    const both = profileErrorOf(`${base}files:\n  - {path: /a, contents: x, source: y}\n`)
    assert.equal(both, 'demo.yaml:5:5: "files[0]" needs exactly one of "contents" (the bytes) or "source" (a host file or folder)')
    const neither = profileErrorOf(`${base}files:\n  - {path: /a}\n`)
    assert.equal(neither, 'demo.yaml:5:5: "files[0]" needs exactly one of "contents" (the bytes) or "source" (a host file or folder)')
  })

  it('takes POSIX portable user and group names only', () => {
    for (const name of ['-x', '1000', 'a b', 'a:b', 'é', 'x'.repeat(33)])
      assert.match(profileErrorOf(`${base}users:\n  - {name: "${name}", uid: 2000}\n`), /^demo\.yaml:5:\d+: field "users\[0\]\.name" has an invalid value \(a POSIX portable name/, name)
    assert.match(profileErrorOf(`${base}groups:\n  - {name: g, gid: 1, members: ["-x"]}\n`), /field "groups\[0\]\.members\[0\]" has an invalid value \(a POSIX portable name/)
    for (const name of ['signer', 'Op_1.x-y', '_svc', 'a'.repeat(32)]) assert.equal(load(`users:\n  - {name: "${name}", uid: 2000}\n`).users[0]!.name, name)
  })

  it('takes ids 0..2^32-2 (2^32-1 is "no id")', () => {
    assert.equal(load('users:\n  - {name: a, uid: 4294967294}\n').users[0]!.uid, 4294967294)
    assert.match(profileErrorOf(`${base}users:\n  - {name: a, uid: 4294967295}\n`), /field "users\[0\]\.uid" must be <= 4294967294 \(an id is 0\.\.4294967294\)/)
    assert.match(profileErrorOf(`${base}groups:\n  - {name: a, gid: -1}\n`), /field "groups\[0\]\.gid" must be >= 0/)
    assert.match(profileErrorOf(`${base}dirs:\n  - {path: /a, uid: 1.5}\n`), /field "dirs\[0\]\.uid" must be an integer/)
  })

  it('refuses a home or shell that would split a passwd line, and a relative one', () => {
    assert.match(profileErrorOf(`${base}users:\n  - {name: a, uid: 1, home: "/a:b"}\n`), /field "users\[0\]\.home" has an invalid value \(an absolute path without ":" or a line break\)/)
    assert.match(profileErrorOf(`${base}users:\n  - {name: a, uid: 1, shell: "bin/sh"}\n`), /field "users\[0\]\.shell" has an invalid value/)
  })

  it('refuses a user or group name or id given twice, naming both places', () => {
    assert.equal(
      profileErrorOf(`${base}users:\n  - {name: a, uid: 1}\n  - {name: a, uid: 2}\n`),
      'demo.yaml:6:5: user name "a" is given twice (first at demo.yaml:5:5)',
    )
    assert.match(profileErrorOf(`${base}users:\n  - {name: a, uid: 1}\n  - {name: b, uid: 1}\n`), /^demo\.yaml:6:5: uid 1 is given twice/)
    assert.match(profileErrorOf(`${base}groups:\n  - {name: a, gid: 1}\n  - {name: a, gid: 2}\n`), /^demo\.yaml:6:5: group name "a" is given twice/)
    assert.match(profileErrorOf(`${base}groups:\n  - {name: a, gid: 1}\n  - {name: b, gid: 1}\n`), /^demo\.yaml:6:5: gid 1 is given twice/)
  })

  it('wants a target for every symlink and absolute paths everywhere', () => {
    assert.match(profileErrorOf(`${base}symlinks:\n  - {path: /a}\n`), /missing required field "symlinks\[0\]\.target"/)
    assert.match(profileErrorOf(`${base}dirs:\n  - {path: srv}\n`), /field "dirs\[0\]\.path" has an invalid value \(an absolute path/)
    assert.match(profileErrorOf(`${base}keep:\n  - usr/bin/gpg\n`), /field "keep\[0\]" has an invalid value \(an absolute path/)
  })
})
