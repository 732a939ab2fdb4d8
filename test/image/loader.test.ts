// Loader files: the search order and overrides in the boot packages, syslinux.cfg, the ESP layouts.
import assert from 'node:assert/strict'
import {StagexError} from '../../src/errors.js'
import {bytesSource, concatBytes} from '../../src/formats/bytes.js'
import {ESP_PATHS, findFile, generatedOsRelease, LDLINUX_PATHS, SYSLINUX_EFI_PATHS, syslinuxConfig, syslinuxEspFiles, ukiEspFiles} from '../../src/image/loader.js'
import {createTree, putInode, type Tree} from '../../src/rootfs/tree.js'

function treeWith(files: Record<string, string>, links: Record<string, string> = {}): Tree {
  const tree = createTree()
  for (const [path, name] of Object.entries(files))
    putInode(tree, path, {type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: {id: `sha256:${name}`, size: 1, path: `/spool/${name}`, offset: 0}})
  for (const [path, target] of Object.entries(links)) putInode(tree, path, {type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, target})
  return tree
}

describe('image: loader', () => {
  it('finds syslinux.efi under usr/share first, then usr/lib, in the boot tree before the rootfs', () => {
    const both = treeWith({'usr/share/syslinux/efi64/syslinux.efi': 'share', 'usr/lib/syslinux/efi64/syslinux.efi': 'lib'})
    assert.equal(findFile([{name: 'boot', tree: both}], SYSLINUX_EFI_PATHS, undefined, 'syslinux.efi', '').content.path, '/spool/share')
    const libOnly = treeWith({'usr/lib/syslinux/efi64/ldlinux.e64': 'lib'})
    assert.equal(findFile([{name: 'boot', tree: libOnly}], LDLINUX_PATHS, undefined, 'ldlinux.e64', '').path, 'usr/lib/syslinux/efi64/ldlinux.e64')
    const rootfs = treeWith({'usr/share/syslinux/efi64/syslinux.efi': 'rootfs'})
    assert.equal(
      findFile([{name: 'boot', tree: both}, {name: 'rootfs', tree: rootfs}], SYSLINUX_EFI_PATHS, undefined, 'syslinux.efi', '').content.path,
      '/spool/share',
    )
  })

  it('follows symlinks inside the tree (lib -> usr/lib) and takes an override alone', () => {
    const tree = treeWith({'usr/lib/syslinux/efi64/syslinux.efi': 'lib', 'opt/efi/sl.efi': 'custom'}, {lib: 'usr/lib'})
    assert.equal(findFile([{name: 'boot', tree}], ['lib/syslinux/efi64/syslinux.efi'], undefined, 'syslinux.efi', '').path, 'usr/lib/syslinux/efi64/syslinux.efi')
    assert.equal(findFile([{name: 'boot', tree}], SYSLINUX_EFI_PATHS, '/opt/efi/sl.efi', 'syslinux.efi', '').content.path, '/spool/custom')
    assert.throws(() => findFile([{name: 'boot', tree}], SYSLINUX_EFI_PATHS, '/opt/missing.efi', 'syslinux.efi', ''), /boot:\/opt\/missing\.efi/)
  })

  it('names every place it looked when a file is missing (exit 4)', () => {
    const error = (() => {
      try {
        findFile([{name: 'boot', tree: createTree()}, {name: 'rootfs', tree: createTree()}], SYSLINUX_EFI_PATHS, undefined, 'syslinux.efi', 'List it in boot.packages.')
      } catch (e) {
        return e as StagexError
      }
    })()
    assert.ok(error instanceof StagexError)
    assert.equal(error.exitCode, 4)
    assert.match(error.message, /no syslinux\.efi found; looked at boot:\/usr\/share\/syslinux\/efi64\/syslinux\.efi, boot:\/usr\/lib\/syslinux\/efi64\/syslinux\.efi, rootfs:/)
    assert.match(error.message, /List it in boot\.packages\./)
  })

  it('writes a syslinux.cfg that boots the one kernel at once with the profile\'s command line', () => {
    const cfg = syslinuxConfig('console=ttyS0 panic=-1 quiet')
    assert.equal(
      cfg,
      'DEFAULT appliance\nPROMPT 0\nTIMEOUT 0\nNOESCAPE 1\nLABEL appliance\n  LINUX /LINUX\n  INITRD /INITRD\n  APPEND console=ttyS0 panic=-1 quiet\n',
    )
    assert.throws(() => syslinuxConfig('a\nb'), /line break/)
  })

  it('lays the ESP out: BOOTX64.EFI, ldlinux.e64 beside it, config, kernel and initrd; or one UKI', () => {
    const bytes = (s: string) => new TextEncoder().encode(s)
    const kernel = bytesSource(bytes('k'))
    const files = syslinuxEspFiles({syslinuxEfi: bytes('efi'), ldlinux: bytes('ld'), kernel, initrd: bytesSource(bytes('i')), cmdline: 'quiet'})
    assert.deepEqual(files.map((f) => f.path), ['EFI/BOOT/BOOTX64.EFI', 'EFI/BOOT/LDLINUX.E64', 'EFI/BOOT/SYSLINUX.CFG', 'LINUX', 'INITRD'])
    assert.equal(new TextDecoder().decode(concatBytes([...(files[2]!.source.open() as Iterable<Uint8Array>)])), syslinuxConfig('quiet'))
    assert.equal(files[3]!.source, kernel, 'the kernel is passed on as its source, not read')
    const uki = bytesSource(bytes('MZ'))
    assert.deepEqual(ukiEspFiles(uki).map((f) => f.path), [ESP_PATHS.bootloader])
    assert.equal(ukiEspFiles(uki)[0]!.source, uki)
    assert.match(generatedOsRelease('demo'), /^NAME="demo"\nID=demo\n/)
  })
})
