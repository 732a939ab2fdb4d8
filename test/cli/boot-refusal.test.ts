// `boot` refuses at once what QEMU could never boot, saying what the file looks like (exit 4),
// instead of waiting in the firmware until the deadline.
import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {describeFile} from '../../src/formats/sniff.js'
import {runCli} from '../helpers/cli.js'

describe('cli: boot refuses files that cannot boot', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-boot-refuse-'))
  })
  after(() => rm(dir, {recursive: true, force: true}))

  it('a text file given as a disk: exit 4 at once, "looks like a text file"', async () => {
    const file = join(dir, 'notes.txt')
    await writeFile(file, 'these are notes, not a disk\n'.repeat(40))
    const started = Date.now()
    const r = runCli(['boot', file, '--timeout', '60', '--accel', 'tcg'])
    assert.equal(r.code, 4, r.stderr)
    assert.match(r.stderr, /is not a disk image \(no MBR or GPT\): it looks like a text file/)
    assert.ok(Date.now() - started < 15_000, 'refused before any boot')
  })

  it('an initramfs given as --kernel: exit 4, "not a Linux kernel", it looks like gzip data', async () => {
    const initrd = join(dir, 'initramfs.cpio.gz')
    await writeFile(initrd, gzipSync(Buffer.from('070701' + '0'.repeat(200))))
    const r = runCli(['boot', '--kernel', initrd, '--timeout', '60', '--accel', 'tcg', '--json'])
    assert.equal(r.code, 4, r.stderr)
    assert.match((JSON.parse(r.stdout) as {error: {message: string}}).error.message, /is not a Linux kernel .*gzip data/)
  })

  it('--cdrom wants an ISO 9660 image: a disk image without CD001 at byte 32768 is refused (exit 4)', async () => {
    const disk = join(dir, 'disk.raw')
    const bytes = Buffer.alloc(64 * 1024)
    bytes[510] = 0x55
    bytes[511] = 0xaa
    await writeFile(disk, bytes)
    const r = runCli(['boot', disk, '--cdrom', '--timeout', '60', '--accel', 'tcg'])
    assert.equal(r.code, 4, r.stderr)
    assert.match(r.stderr, /is not an ISO 9660 image \(no CD001 volume descriptor at byte 32768\): it looks like a disk image/)
  })

  it('firmware that cannot boot the target is a usage error (exit 2) before QEMU starts', async () => {
    const uki = join(dir, 'uki.efi')
    await writeFile(uki, Buffer.concat([Buffer.from('MZ'), Buffer.alloc(2000)]))
    const kernel = join(dir, 'vmlinuz')
    const k = Buffer.alloc(1024)
    k.write('MZ', 0)
    k.write('HdrS', 0x202)
    await writeFile(kernel, k)
    const cases: [string[], RegExp][] = [
      [[uki, '--firmware', 'bios'], /a UKI is an EFI program: it boots under --firmware uefi, not bios/],
      [[uki, '--cdrom'], /--cdrom attaches an ISO image as optical media; a UKI is put on a FAT disk/],
      [['--kernel', kernel, '--secure-boot'], /--secure-boot is OVMF's Secure Boot: it needs --firmware uefi, not direct/],
      [['--kernel', kernel, '--firmware', 'bios'], /--kernel boots directly/],
    ]
    for (const [args, message] of cases) {
      const r = runCli(['boot', ...args, '--timeout', '60', '--accel', 'tcg'])
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message)
    }
  })

  it('tells formats apart by their first bytes', () => {
    const kernel = Buffer.alloc(1024)
    kernel.write('MZ', 0)
    kernel.write('HdrS', 0x202)
    const mbr = Buffer.alloc(1024)
    mbr[510] = 0x55
    mbr[511] = 0xaa
    assert.equal(describeFile(kernel), 'linux-kernel')
    assert.equal(describeFile(Buffer.from('MZ' + '\0'.repeat(100))), 'pe')
    assert.equal(describeFile(mbr), 'disk')
    assert.equal(describeFile(Buffer.from('070701')), 'cpio')
    assert.equal(describeFile(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip')
    assert.equal(describeFile(new Uint8Array(0)), 'empty')
    assert.equal(describeFile(Buffer.from([0, 1, 2, 3, 0xff])), 'unknown')
  })
})
