// `boot --help` teaches with the file names `build` writes, so its examples run as they are.
import assert from 'node:assert/strict'
import {runCli} from '../helpers/cli.js'

describe('cli: boot --help', () => {
  it('names the files build writes (disk.raw, vmlinuz, initramfs.cpio.gz, uki.efi)', () => {
    const help = runCli(['boot', '--help'])
    assert.equal(help.code, 0, help.stderr)
    for (const file of ['out/disk.raw', 'out/vmlinuz', 'out/initramfs.cpio.gz', 'out/uki.efi']) assert.ok(help.stdout.includes(file), `${file} in boot --help`)
    assert.doesNotMatch(help.stdout, /minimal\.img|bzImage --initrd|minimal\.efi/)
  })
})
