// Profile checks the schema cannot express: which outputs need a loader or a stub, and qcow2's refusal.
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {plannedOutputs} from '../../src/image/outputs.js'
import {derivedRequirements} from '../../src/kernel/requirements.js'
import {loadProfile, parseProfile} from '../../src/profile/load.js'
import {profileErrorOf} from '../helpers/profile.js'
import {REPO} from '../helpers/cli.js'

const base = `name: demo
packages:
  - core-busybox
kernel:
  package: user-linux-generic
`


describe('profile: boot loaders and image outputs', () => {
  it('refuses qcow2 with the reason and what to do, at the list item', () => {
    const message = profileErrorOf(`${base}boot:\n  loader: syslinux\noutputs: [disk, qcow2]\n`)
    assert.match(message, /^demo\.yaml:8:17: the qcow2 output is not offered: stagex-image writes only bytes it can reproduce/)
    assert.match(message, /qemu-img convert -O qcow2 disk\.raw disk\.qcow2/)
  })

  it('needs a loader for disk and esp, and a stub for uki', () => {
    assert.match(profileErrorOf(`${base}outputs: [kernel, disk]\n`), /demo\.yaml:6:19: the "disk" output needs a boot loader on the ESP/)
    assert.match(profileErrorOf(`${base}outputs: [esp]\n`), /the "esp" output needs a boot loader/)
    assert.match(profileErrorOf(`${base}boot:\n  loader: uki\n`), /demo\.yaml:7:11: boot\.loader uki needs boot\.stub/)
    assert.match(profileErrorOf(`${base}boot:\n  loader: syslinux\noutputs: [uki]\n`), /the "uki" output needs boot\.stub/)
  })

  it('reads loader path overrides', () => {
    const profile = parseProfile(
      Buffer.from(`${base}boot:\n  loader: syslinux\n  packages: [user-syslinux]\n  syslinuxEfi: /opt/s.efi\n  ldlinux: opt/l.e64\n  espSize: 64M\n`),
      '/p/demo.yaml',
    )
    assert.equal(profile.boot.syslinuxEfi, '/opt/s.efi')
    assert.equal(profile.boot.ldlinux, 'opt/l.e64')
    assert.equal(profile.boot.espSize, '64M')
  })

  it('the iso output needs loader uki: with syslinux it is refused with the measured reason, without a loader too', () => {
    const syslinux = profileErrorOf(`${base}boot:\n  loader: syslinux\n  packages: [user-syslinux]\noutputs: [iso]\n`)
    assert.match(syslinux, /^demo\.yaml:9:11: the "iso" output boots UEFI from its ESP and needs boot\.loader uki \(not syslinux\)/)
    assert.match(syslinux, /syslinux\.efi crashes under OVMF when started from optical media \(X64 Exception Type 06, #UD - Invalid Opcode/)
    assert.match(syslinux, /an ESP holding a UKI boots from both\. Set boot\.loader to uki, or iso: \{uefi: false\} for a BIOS-only ISO/)
    assert.match(profileErrorOf(`${base}outputs: [iso]\n`), /the "iso" output boots UEFI from its ESP and needs boot\.loader uki \(not none\): Set boot\.loader to uki, or iso: \{uefi: false\}/)
  })

  it('iso: {uefi: false} is a BIOS-only ISO: any loader, no ESP planned, no EFI kernel options wanted', () => {
    for (const loader of ['syslinux', 'none', 'uki']) {
      const stub = loader === 'uki' ? '  stub: user-systemd-stub\n' : ''
      const profile = parseProfile(Buffer.from(`${base}boot:\n  loader: ${loader}\n${stub}  packages: [user-syslinux]\noutputs: [iso]\niso: {uefi: false}\n`), '/p/demo.yaml')
      assert.deepEqual(profile.iso, {uefi: false})
      assert.deepEqual([...plannedOutputs(profile)].sort(), ['initramfs', 'iso', 'kernel'], loader)
    }
    const none = parseProfile(Buffer.from(`${base}outputs: [iso]\niso: {uefi: false}\n`), '/p/demo.yaml')
    assert.ok(!derivedRequirements(none).some((r) => r.option === 'CONFIG_EFI_STUB'), 'isolinux enters the kernel, not UEFI')
    const uefi = parseProfile(Buffer.from(`${base}boot:\n  loader: uki\n  stub: user-systemd-stub\noutputs: [iso]\n`), '/p/demo.yaml')
    assert.deepEqual(uefi.iso, {uefi: true})
    assert.ok(plannedOutputs(uefi).has('esp') && plannedOutputs(uefi).has('uki'))
    assert.ok(derivedRequirements(uefi).some((r) => r.option === 'CONFIG_EFI_STUB'))
    assert.match(profileErrorOf(`${base}outputs: [iso]\niso: {uefi: no}\n`), /iso\.uefi/)
  })

  it('reads the iso loader path overrides', () => {
    const profile = parseProfile(
      Buffer.from(`${base}boot:\n  loader: uki\n  stub: user-systemd-stub\n  isolinuxBin: /opt/isolinux.bin\n  ldlinuxC32: opt/ldlinux.c32\n  isohdpfxBin: opt/mbr.bin\noutputs: [iso]\n`),
      '/p/demo.yaml',
    )
    assert.deepEqual([profile.boot.isolinuxBin, profile.boot.ldlinuxC32, profile.boot.isohdpfxBin], ['/opt/isolinux.bin', 'opt/ldlinux.c32', 'opt/mbr.bin'])
    assert.deepEqual(profile.outputs, ['iso'])
  })

  it('the example disk profiles load', async () => {
    const syslinux = await loadProfile(join(REPO, 'profiles/minimal-syslinux.yaml'))
    assert.deepEqual(syslinux.boot.packages, ['user-syslinux'])
    assert.ok(syslinux.outputs.includes('disk'))
    const uki = await loadProfile(join(REPO, 'profiles/minimal-uki.yaml'))
    assert.equal(uki.boot.stub, 'user-systemd-stub')
    assert.ok(uki.outputs.includes('uki') && uki.outputs.includes('disk'))
  })
})
