// The iso output's assembly: where the BIOS files are looked for, isolinux.cfg, the ids from the seed,
// and the ISO's files (the ESP as the UEFI entry, isolinux.bin as the BIOS one, patched).
import assert from 'node:assert/strict'
import {bytesSource, concatBytes} from '../../src/formats/bytes.js'
import {parseSeed} from '../../src/formats/seed.js'
import {buildIso, ISO_PATHS, ISOHDPFX_PATHS, ISOLINUX_BIN_PATHS, isolinuxConfig, isoVolumeId, LDLINUX_C32_PATHS} from '../../src/image/iso.js'
import {findFile, syslinuxConfig} from '../../src/image/loader.js'
import {createTree, putInode, type Tree} from '../../src/rootfs/tree.js'

const seed = parseSeed('750b6cd5c4ae4012a15e7be3c29e6a47')
const enc = (s: string) => new TextEncoder().encode(s)

function treeWith(files: Record<string, string>): Tree {
  const tree = createTree()
  for (const [path, name] of Object.entries(files))
    putInode(tree, path, {type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: {id: `sha256:${name}`, size: 1, path: `/spool/${name}`, offset: 0}})
  return tree
}

function input() {
  return {
    profileName: 'minimal-iso',
    seed,
    sourceDateEpoch: 1,
    cmdline: 'console=ttyS0 quiet',
    isolinuxBin: new Uint8Array(2048).fill(7),
    ldlinuxC32: enc('ldlinux'),
    isohdpfx: new Uint8Array(432).fill(0x90),
    kernel: bytesSource(enc('kernel')),
    initrd: bytesSource(enc('initrd')),
    esp: bytesSource(new Uint8Array(4096)),
  }
}

describe('image: iso', () => {
  it('finds the BIOS files in StageX\'s user-syslinux layout first, then Debian\'s', () => {
    const stagex = treeWith({'usr/share/syslinux/isolinux.bin': 'stagex', 'usr/lib/ISOLINUX/isolinux.bin': 'debian'})
    assert.equal(findFile([{name: 'boot', tree: stagex}], ISOLINUX_BIN_PATHS, undefined, 'isolinux.bin', '').content.path, '/spool/stagex')
    const debian = treeWith({'usr/lib/ISOLINUX/isolinux.bin': 'i', 'usr/lib/syslinux/modules/bios/ldlinux.c32': 'l', 'usr/lib/ISOLINUX/isohdpfx.bin': 'm'})
    for (const [paths, what] of [[ISOLINUX_BIN_PATHS, 'i'], [LDLINUX_C32_PATHS, 'l'], [ISOHDPFX_PATHS, 'm']] as const)
      assert.equal(findFile([{name: 'boot', tree: debian}], paths, undefined, what, '').content.path, `/spool/${what}`)
    const bios = treeWith({'usr/lib/syslinux/bios/ldlinux.c32': 'arch'})
    assert.equal(findFile([{name: 'boot', tree: bios}], LDLINUX_C32_PATHS, undefined, 'ldlinux.c32', '').path, 'usr/lib/syslinux/bios/ldlinux.c32')
  })

  it('isolinux.cfg boots the one kernel at once, as syslinux.cfg does on the ESP; a line break in the command line is refused', () => {
    const cfg = isolinuxConfig('console=ttyS0 panic=-1')
    assert.equal(cfg, 'DEFAULT appliance\nPROMPT 0\nTIMEOUT 0\nNOESCAPE 1\nLABEL appliance\n  LINUX /VMLINUZ\n  INITRD /INITRD.IMG\n  APPEND console=ttyS0 panic=-1\n')
    assert.deepEqual(cfg.split('\n').slice(0, 5), syslinuxConfig('x').split('\n').slice(0, 5))
    assert.throws(() => isolinuxConfig('a\nb'), /line break/)
  })

  it('the volume id is the profile name in d-characters and 32 bits of the seed; another seed, another id', () => {
    assert.match(isoVolumeId('minimal-iso', seed), /^MINIMAL_ISO_[0-9A-F]{8}$/)
    assert.equal(isoVolumeId('minimal-iso', seed), isoVolumeId('minimal-iso', seed))
    assert.notEqual(isoVolumeId('minimal-iso', seed), isoVolumeId('minimal-iso', parseSeed('00'.repeat(16))))
    const long = isoVolumeId('a.very-long.appliance-name-for-a-dvd', seed)
    assert.ok(long.length <= 32)
    assert.match(long, /^A_VERY_LONG_APPLIANCE_N_[0-9A-F]{8}$/)
  })

  it('lays out the BIOS entry on isolinux.bin and the UEFI entry on ESP.IMG, with the MBR id from the seed', async () => {
    const iso = buildIso(input())
    assert.deepEqual(iso.layout.bootEntries.map((e) => [e.platform, e.path]), [['bios', ISO_PATHS.isolinux], ['uefi', ISO_PATHS.esp]])
    assert.equal(iso.layout.bootEntries[1]!.loadSectors, 8)
    assert.notEqual(iso.mbrId, buildIso({...input(), seed: parseSeed('00'.repeat(16))}).mbrId)
    assert.deepEqual(iso.layout.mbr!.partitions.map((p) => p.type), [0x00, 0xef])
    // The record's isolinux.bin is the patched one: the boot info table names its own block.
    const isolinux = iso.files.find((f) => f.path === ISO_PATHS.isolinux)!
    const bytes = concatBytes([...(isolinux.source.open() as Iterable<Uint8Array>)])
    assert.equal(new DataView(bytes.buffer).getUint32(12, true), iso.layout.bootEntries[0]!.lba)
    const parts: Uint8Array[] = []
    for await (const chunk of iso.stream()) parts.push(chunk)
    const image = concatBytes(parts)
    assert.equal(image.length, iso.layout.sizeBytes)
  })

  it('without an ESP (iso.uefi false): the BIOS entry alone, one MBR partition, no ESP.IMG', async () => {
    const iso = buildIso({...input(), esp: undefined})
    assert.deepEqual(iso.layout.bootEntries.map((e) => [e.platform, e.path]), [['bios', ISO_PATHS.isolinux]])
    assert.deepEqual(iso.layout.mbr!.partitions.map((p) => p.type), [0x00])
    assert.ok(!iso.layout.files.some((f) => f.path === ISO_PATHS.esp))
  })

  it('refuses an isohdpfx.bin shorter than the MBR code (exit 4)', () => {
    assert.throws(() => buildIso({...input(), isohdpfx: new Uint8Array(100)}), (e: Error & {exitCode?: number}) => e.exitCode === 4 && /432 bytes/.test(e.message))
  })
})
