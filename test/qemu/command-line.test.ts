import assert from 'node:assert/strict'
import {buildQemuArgv, directBootAppend, escapeDriveValue} from '../../src/qemu/command-line.js'

/** The value following `flag` each time it occurs. */
const valuesOf = (argv: string[], flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []))

describe('qemu/command-line', () => {
  describe('directBootAppend', () => {
    it('adds the serial console and panic=-1 to an empty line', () => {
      assert.equal(directBootAppend(undefined), 'console=ttyS0 panic=-1')
    })
    it("keeps the caller's console= and panic=", () => {
      assert.equal(directBootAppend('  quiet console=ttyS1,115200  panic=5 '), 'quiet console=ttyS1,115200 panic=5')
    })
    it('adds only what is missing', () => {
      assert.equal(directBootAppend('rdinit=/bin/sh panic=10'), 'console=ttyS0 rdinit=/bin/sh panic=10')
    })
  })

  describe('buildQemuArgv', () => {
    const direct = buildQemuArgv({
      accel: 'tcg',
      memoryMiB: 256,
      medium: {kind: 'direct', kernel: '/k/vmlinuz', initrd: '/k/initrd.cpio', append: 'console=ttyS0 panic=-1'},
    })

    it('builds a q35 machine with only a serial console on stdio, and no reboot', () => {
      assert.deepEqual(valuesOf(direct, '-machine'), ['q35'])
      assert.deepEqual(valuesOf(direct, '-accel'), ['tcg'])
      assert.deepEqual(valuesOf(direct, '-m'), ['256'])
      assert.deepEqual(valuesOf(direct, '-serial'), ['stdio'])
      assert.deepEqual(valuesOf(direct, '-display'), ['none'])
      for (const flag of ['-nodefaults', '-no-user-config', '-no-reboot']) assert.ok(direct.includes(flag), flag)
      assert.ok(!direct.includes('-cpu'), 'tcg keeps the default CPU model')
    })

    it('boots a kernel directly without firmware files', () => {
      assert.deepEqual(valuesOf(direct, '-kernel'), ['/k/vmlinuz'])
      assert.deepEqual(valuesOf(direct, '-initrd'), ['/k/initrd.cpio'])
      assert.deepEqual(valuesOf(direct, '-append'), ['console=ttyS0 panic=-1'])
      assert.ok(!valuesOf(direct, '-drive').some((d) => d.includes('pflash')))
    })

    it('leaves -initrd out when there is none', () => {
      const argv = buildQemuArgv({accel: 'tcg', memoryMiB: 256, medium: {kind: 'direct', kernel: '/k', append: 'x'}})
      assert.ok(!argv.includes('-initrd'))
    })

    it('passes the host CPU through under KVM', () => {
      const argv = buildQemuArgv({accel: 'kvm', memoryMiB: 512, medium: {kind: 'direct', kernel: '/k', append: 'x'}})
      assert.deepEqual(valuesOf(argv, '-accel'), ['kvm'])
      assert.deepEqual(valuesOf(argv, '-cpu'), ['host'])
    })

    it('maps OVMF code read-only and the vars copy writable, and never writes the disk', () => {
      const argv = buildQemuArgv({
        accel: 'tcg',
        memoryMiB: 512,
        medium: {kind: 'disk', disk: '/out/a,b.img', format: 'raw'},
        uefi: {code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsCopy: '/tmp/run/OVMF_VARS.fd'},
      })
      assert.deepEqual(valuesOf(argv, '-drive'), [
        'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
        'if=pflash,format=raw,unit=1,file=/tmp/run/OVMF_VARS.fd',
        'if=none,id=boot-disk,format=raw,snapshot=on,file=/out/a,,b.img',
      ])
      assert.deepEqual(valuesOf(argv, '-device'), ['virtio-blk-pci,drive=boot-disk,bootindex=0'])
      assert.ok(!argv.includes('-kernel'))
    })

    it('attaches a qcow2 disk with its format', () => {
      const argv = buildQemuArgv({accel: 'tcg', memoryMiB: 512, medium: {kind: 'disk', disk: '/d.qcow2', format: 'qcow2'}, uefi: {code: '/c', varsCopy: '/v'}})
      assert.ok(valuesOf(argv, '-drive').includes('if=none,id=boot-disk,format=qcow2,snapshot=on,file=/d.qcow2'))
    })

    it('puts an ISO on a read-only CD-ROM drive on the AHCI bus, booted first', () => {
      const argv = buildQemuArgv({accel: 'tcg', memoryMiB: 512, medium: {kind: 'cdrom', image: '/out/image.iso'}})
      assert.deepEqual(valuesOf(argv, '-drive'), ['if=none,id=boot-cd,media=cdrom,format=raw,readonly=on,file=/out/image.iso'])
      assert.deepEqual(valuesOf(argv, '-device'), ['ide-cd,drive=boot-cd,bus=ide.0,bootindex=0'])
      assert.ok(!argv.some((a) => a.includes('pflash')), 'no firmware files: SeaBIOS')
    })

    it('Secure Boot: SMM on and the flash writable by SMM only', () => {
      const argv = buildQemuArgv({accel: 'tcg', memoryMiB: 512, medium: {kind: 'disk', disk: '/d', format: 'raw'}, uefi: {code: '/c.secboot.fd', varsCopy: '/v', secureBoot: true}})
      assert.deepEqual(valuesOf(argv, '-machine'), ['q35,smm=on'])
      assert.deepEqual(valuesOf(argv, '-global'), ['driver=cfi.pflash01,property=secure,value=on'])
      const plain = buildQemuArgv({accel: 'tcg', memoryMiB: 512, medium: {kind: 'disk', disk: '/d', format: 'raw'}, uefi: {code: '/c', varsCopy: '/v'}})
      assert.deepEqual(valuesOf(plain, '-machine'), ['q35'])
      assert.deepEqual(valuesOf(plain, '-global'), [])
    })

    it('shows a directory to the guest as a read-only FAT disk', () => {
      const argv = buildQemuArgv({accel: 'tcg', memoryMiB: 512, medium: {kind: 'fat-dir', dir: '/tmp/run/esp'}, uefi: {code: '/c', varsCopy: '/v'}})
      assert.ok(valuesOf(argv, '-drive').includes('if=none,id=boot-disk,format=raw,readonly=on,file=fat:/tmp/run/esp'))
    })
  })

  it('escapes commas in -drive values', () => {
    assert.equal(escapeDriveValue('/a,b,,c'), '/a,,b,,,,c')
  })
})
