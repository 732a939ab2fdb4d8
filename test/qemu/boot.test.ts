// bootAndExpect's checks of a request: each mistake is a clear error before QEMU starts.
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {StagexError} from '../../src/errors.js'
import {bootAndExpect, classifyBootImage} from '../../src/qemu/boot.js'
import type {BootOptions} from '../../src/qemu/types.js'

describe('qemu/boot: request checks', () => {
  let dir = ''
  let kernel = ''
  let pe = ''
  let raw = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'stagex-boot-checks-'))
    kernel = join(dir, 'bzImage')
    pe = join(dir, 'uki.efi')
    raw = join(dir, 'disk.img')
    // Just the headers the checks read: Linux's "HdrS" at 0x202, a PE's "MZ", an MBR's 55 AA.
    const bzImage = Buffer.alloc(1024)
    bzImage.write('MZ', 0)
    bzImage.write('HdrS', 0x202)
    writeFileSync(kernel, bzImage)
    writeFileSync(pe, 'MZ and the rest of a PE file')
    const mbr = Buffer.alloc(512)
    mbr[510] = 0x55
    mbr[511] = 0xaa
    writeFileSync(raw, mbr)
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  const base: BootOptions = {expect: ['x'], timeoutSeconds: 10, accel: 'tcg', qemuBinary: '/nonexistent/qemu'}
  const rejectsWith = (options: Partial<BootOptions>, exitCode: number, message: RegExp) =>
    assert.rejects(bootAndExpect({...base, ...options}), (error: unknown) => {
      assert.ok(error instanceof StagexError, String(error))
      assert.equal(error.exitCode, exitCode)
      assert.match(error.message, message)
      return true
    })

  it('needs exactly one thing to boot', async () => {
    await rejectsWith({}, 2, /nothing to boot/)
    await rejectsWith({kernel, disk: raw}, 2, /only one of --kernel, a disk/)
  })

  it('keeps --initrd and --append for --kernel', async () => {
    await rejectsWith({disk: raw, initrd: kernel}, 2, /--initrd and --append go with --kernel/)
  })

  it('checks the deadline, the memory and the files', async () => {
    await rejectsWith({kernel, timeoutSeconds: 0}, 2, /--timeout/)
    await rejectsWith({kernel, memoryMiB: 8}, 2, /--memory/)
    await rejectsWith({kernel: join(dir, 'missing')}, 2, /kernel not readable: .*missing \(ENOENT\)/)
    await rejectsWith({kernel, initrd: join(dir, 'missing')}, 2, /initrd not readable/)
  })

  it('refuses a UKI that is not a PE file, and direct boot of a disk', async () => {
    await rejectsWith({uki: raw}, 4, /not a PE file/)
    await rejectsWith({disk: raw, firmware: 'direct'}, 2, /a disk needs firmware \(--firmware uefi or bios\); direct boot is for --kernel/)
  })

  it('rejects a bad regular expression before starting anything', async () => {
    await rejectsWith({kernel, expect: ['[unclosed']}, 2, /invalid --expect regular expression/)
  })

  it("expect-exit 0 is not fooled by QEMU's own exit 1 (its error line), and still passes a silent exit 1 (isa-debug-exit status 0)", async () => {
    const fake = (name: string, script: string) => {
      const path = join(dir, name)
      writeFileSync(path, `#!/bin/sh\n${script}\n`, {mode: 0o755})
      return path
    }
    const failing = fake('qemu-fails', `echo "qemu-system-x86_64: -drive if=none,id=boot-disk: Could not open 'gone.img': No such file or directory" >&2; exit 1`)
    const guestZero = fake('qemu-guest-status-0', 'echo "qemu-system-x86_64: warning: TCG does not support requested feature" >&2; exit 1')
    const steps = [{expectExit: 0}]
    const failed = await bootAndExpect({...base, kernel, expect: [], steps, qemuBinary: failing})
    assert.equal(failed.passed, false)
    assert.match(failed.reason, /^step 1 \(expect-exit 0\): QEMU itself failed \(exit 1, not a guest status\): qemu-system-x86_64: -drive if=none,id=boot-disk: Could not open 'gone.img'/)
    const passed = await bootAndExpect({...base, kernel, expect: [], steps, qemuBinary: guestZero})
    assert.equal(passed.passed, true, passed.reason)
  })

  it('tells a UKI from a disk image by the PE header', async () => {
    assert.equal(await classifyBootImage(pe), 'uki')
    assert.equal(await classifyBootImage(raw), 'disk')
  })
})
