// Kernel requirements derived from the profile (src/kernel/requirements.ts), checked against the
// real StageX kernel configs (../shared/stagex/kernel-configs, savedefconfig fragments) through the
// Kconfig defaults table (src/kernel/defaults.ts), and against the fixture world's Debian kernel.
import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {isStagexError} from '../../src/errors.js'
import {configForm, KCONFIG_DEFAULTS, resolveOption} from '../../src/kernel/defaults.js'
import {parseKconfig} from '../../src/kernel/kconfig.js'
import {checkKernelConfig, describeMismatches} from '../../src/kernel/package.js'
import {derivedRequirements} from '../../src/kernel/requirements.js'
import {kernelMismatchError, type KernelStage} from '../../src/pipeline/pipeline.js'
import {loadProfile, parseProfile} from '../../src/profile/load.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const STAGEX_CONFIGS = join(ROOT, '../shared/stagex/kernel-configs')
const stagex = (name: string) => readFileSync(join(STAGEX_CONFIGS, name), 'utf8')
const DEBIAN_CONFIG = join(ROOT, '.cache/world/kernel/config')

/** A profile with a gzip initramfs, a serial console and an init script mounting devtmpfs. */
function profileWith(boot: string, outputs: string, extra = ''): ReturnType<typeof parseProfile> {
  const text = `name: t
packages: [core-busybox]
kernel:
  package: user-linux-airgap
  cmdline: console=ttyS0 panic=-1
${boot}
init: /usr/bin/appliance-init
files:
  - path: /etc/hostname
    contents: "t\\n"
  - path: /usr/bin/appliance-init
    mode: "0755"
    contents: |
      #!/bin/sh
      mount -t proc proc /proc
      mount -t devtmpfs devtmpfs /dev
initramfs:
  compression: gzip
outputs: ${outputs}
${extra}`
  return parseProfile(Buffer.from(text), '/p/t.yaml', 't.yaml')
}

const SYSLINUX = 'boot:\n  loader: syslinux\n  packages: [user-syslinux]'
const UKI = 'boot:\n  loader: uki\n  stub: user-systemd-stub'

describe('kernel requirements derived from the profile', () => {
  it('names each option with the setting that asks for it', () => {
    const derived = derivedRequirements(profileWith(SYSLINUX, '[kernel, initramfs, disk]'))
    const by = new Map(derived.map((d) => [d.option, d]))
    assert.deepEqual([...by.keys()].sort(), [
      'CONFIG_BLK_DEV_INITRD', 'CONFIG_DEVTMPFS', 'CONFIG_EFI', 'CONFIG_EFI_STUB', 'CONFIG_RD_GZIP', 'CONFIG_SERIAL_8250', 'CONFIG_SERIAL_8250_CONSOLE',
    ])
    assert.ok(derived.every((d) => d.value === 'y'))
    assert.equal(by.get('CONFIG_RD_GZIP')!.rule, 'initramfs.compression: gzip')
    assert.match(by.get('CONFIG_RD_GZIP')!.where, /^t\.yaml:\d+:\d+$/)
    assert.equal(by.get('CONFIG_EFI_STUB')!.rule, 'boot.loader: syslinux')
    assert.equal(by.get('CONFIG_SERIAL_8250_CONSOLE')!.rule, 'kernel.cmdline: console=ttyS0')
    assert.match(by.get('CONFIG_DEVTMPFS')!.rule, /\/usr\/bin\/appliance-init \(the init\) mounts devtmpfs/)
    assert.match(by.get('CONFIG_BLK_DEV_INITRD')!.rule, /^outputs: initramfs$/)
  })

  it('asks nothing the profile does not need', () => {
    const base = profileWith('', '[rootfs-tar]')
    const plain = {
      ...base,
      kernel: {...base.kernel!, cmdline: 'console=tty0 quiet'},
      files: base.files.filter((f) => f.path === '/etc/hostname'),
    }
    assert.deepEqual(derivedRequirements(plain), [])
    // An initramfs without compression needs initrd support, not RD_GZIP.
    const uncompressed = {...plain, outputs: ['initramfs' as const], initramfs: {...plain.initramfs, compression: 'none' as const}}
    assert.deepEqual(derivedRequirements(uncompressed).map((d) => d.option), ['CONFIG_BLK_DEV_INITRD'])
    // A commented-out mount does not count; an `umount` is not a mount.
    const commented = {
      ...plain,
      files: [{path: '/usr/bin/appliance-init', mode: 0o755, dirMode: 0o755, uid: 0, gid: 0, contents: '#!/bin/sh\n# mount -t devtmpfs devtmpfs /dev\numount devtmpfs\n'}],
    }
    assert.deepEqual(derivedRequirements(commented), [])
    // console=ttyS1,115200n8 is a serial console too.
    const ttyS1 = {...plain, kernel: {...plain.kernel!, cmdline: 'quiet console=ttyS1,115200n8'}}
    assert.deepEqual(derivedRequirements(ttyS1).map((d) => d.rule), ['kernel.cmdline: console=ttyS1', 'kernel.cmdline: console=ttyS1'])
  })

  for (const [loader, boot, outputs] of [
    ['syslinux', SYSLINUX, '[kernel, initramfs, esp, disk]'],
    ['uki', UKI, '[kernel, initramfs, uki, esp, disk]'],
  ] as const) {
    it(`holds against the real user-linux-airgap config (gzip initramfs, loader ${loader})`, async () => {
      const derived = derivedRequirements(profileWith(boot, outputs))
      assert.equal(derived.length, 7)
      const check = await checkKernelConfig(stagex('airgap.config'), undefined, 't.yaml:3:3', {derived})
      assert.equal(check.form, 'savedefconfig')
      assert.deepEqual(check.mismatches, [])
      assert.equal(check.derived, 7)
    })
  }

  it('fails against the real nitro config (no EFI stub), naming EFI_STUB and boot.loader in a table', async () => {
    const derived = derivedRequirements(profileWith(SYSLINUX, '[kernel, initramfs, disk]'))
    const check = await checkKernelConfig(stagex('nitro.config'), undefined, 't.yaml:3:3', {derived})
    assert.deepEqual(check.mismatches.map((m) => m.option).sort(), ['CONFIG_EFI', 'CONFIG_EFI_STUB'])
    const stub = check.mismatches.find((m) => m.option === 'CONFIG_EFI_STUB')!
    assert.equal(stub.wanted, 'y')
    assert.match(stub.found, /^not set \(absent: Kconfig default, arch\/x86\/Kconfig/)
    assert.match(stub.wantedBy, /^boot\.loader: syslinux \(t\.yaml:\d+:\d+\)$/)
    const table = describeMismatches(check)
    assert.match(table, /option\s+wanted\s+found\s+wanted by/)
    assert.match(table, /CONFIG_EFI_STUB\s+=y\s+not set .*boot\.loader: syslinux/)
    assert.match(table, /savedefconfig form/)
    // build refuses it with exit 2 (a kernel that does not meet the profile), the table in the message.
    const profile = profileWith(SYSLINUX, '[kernel, initramfs, disk]')
    const kernel = {package: {request: {name: 'user-linux-nitro'}}, check} as unknown as KernelStage
    const error = kernelMismatchError(profile, kernel)
    assert.ok(isStagexError(error))
    assert.equal(error.exitCode, 2)
    assert.match(error.message, /^t\.yaml:\d+:\d+: the kernel of user-linux-nitro does not meet the profile/)
    assert.match(error.message, /CONFIG_EFI_STUB/)
    assert.match(error.message, /boot\.loader/)
  })

  it('puts fragment rows (file:line) and derived rows in one table', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagex-kreq-'))
    try {
      const fragment = join(dir, 'need.config')
      await writeFile(fragment, '# what the appliance needs\nCONFIG_BLK_DEV_INITRD=y\nCONFIG_EFI_STUB=y\nCONFIG_PROC_FS=y\n')
      const derived = derivedRequirements(profileWith(SYSLINUX, '[kernel, initramfs, disk]'))
      const check = await checkKernelConfig(stagex('nitro.config'), fragment, 't.yaml:5:3', {derived, fragmentName: 'kernel/need.config'})
      assert.equal(check.required, 3)
      const rows = check.mismatches.map((m) => `${m.option} ${m.wantedBy}`)
      assert.ok(rows.includes('CONFIG_EFI_STUB kernel/need.config:3'), rows.join('\n'))
      // PROC_FS is absent from the fragment-form config and not in the defaults table: undecided, not a pass.
      const proc = check.mismatches.find((m) => m.option === 'CONFIG_PROC_FS')!
      assert.equal(proc.wantedBy, 'kernel/need.config:4')
      assert.match(proc.found, /undecided/)
      assert.ok(rows.some((r) => /^CONFIG_EFI_STUB boot\.loader: syslinux/.test(r)))
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})

describe('the Kconfig defaults table, for configs in savedefconfig form', () => {
  const fragments = readdirSync(STAGEX_CONFIGS).filter((f) => f.endsWith('.config')).sort()

  it('reads every StageX config as savedefconfig form, a make-written .config as full', () => {
    assert.deepEqual(fragments, ['airgap.config', 'guest-net.config', 'guest.config', 'nitro.config', 'server.config'])
    for (const f of fragments) assert.equal(configForm(stagex(f)), 'savedefconfig', f)
    assert.equal(configForm('# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.19.3 Kernel Configuration\nCONFIG_EFI=y\n'), 'full')
    assert.equal(configForm('CONFIG_CC_VERSION_TEXT="gcc (GCC) 14.2.0"\nCONFIG_EFI=y\n'), 'full')
    if (existsSync(DEBIAN_CONFIG)) assert.equal(configForm(readFileSync(DEBIAN_CONFIG, 'utf8')), 'full')
  })

  it('decides RD_GZIP (default y under BLK_DEV_INITRD, usr/Kconfig) for every StageX fragment', () => {
    for (const f of fragments) {
      const config = parseKconfig(stagex(f))
      assert.equal(config.get('CONFIG_RD_GZIP'), undefined, `${f} leaves RD_GZIP at its default`)
      assert.equal(config.get('CONFIG_BLK_DEV_INITRD'), 'y', f)
      const rd = resolveOption(config, 'savedefconfig', 'CONFIG_RD_GZIP')
      assert.deepEqual([rd.value, rd.how], ['y', 'default'], f)
      assert.match(rd.source!, /^usr\/Kconfig:54 /)
    }
    // Without initrd support the default does not apply.
    const noInitrd = parseKconfig('# CONFIG_BLK_DEV_INITRD is not set\n')
    assert.equal(resolveOption(noInitrd, 'savedefconfig', 'CONFIG_RD_GZIP').value, 'n')
    assert.equal(resolveOption(parseKconfig(''), 'savedefconfig', 'CONFIG_RD_GZIP').value, 'n', 'BLK_DEV_INITRD defaults to n')
    // In a full .config, make wrote every symbol: absent is not set, whatever the table says.
    assert.deepEqual(resolveOption(parseKconfig('CONFIG_BLK_DEV_INITRD=y\n'), 'full', 'CONFIG_RD_GZIP'), {value: 'n', how: 'absent'})
  })

  it('says where each default comes from; SERIAL_8250_CONSOLE needs SERIAL_8250=y', () => {
    for (const d of KCONFIG_DEFAULTS) assert.match(d.source, /^(usr|init|arch\/x86|drivers\/[a-z0-9/]+)\/?Kconfig(:\d+)? \(config /, d.option)
    assert.equal(resolveOption(parseKconfig('CONFIG_SERIAL_8250=m\n'), 'savedefconfig', 'CONFIG_SERIAL_8250_CONSOLE').value, 'n')
    assert.equal(resolveOption(parseKconfig('CONFIG_FOO=y\n'), 'savedefconfig', 'CONFIG_FOO').how, 'set')
    assert.equal(resolveOption(parseKconfig(''), 'savedefconfig', 'CONFIG_PROC_FS').how, 'undecided')
  })

  it('does not take =m for what the kernel needs before userspace', async () => {
    const full = 'CONFIG_CC_VERSION_TEXT="gcc"\nCONFIG_SERIAL_8250=m\nCONFIG_BLK_DEV_INITRD=y\n'
    const derived = derivedRequirements(profileWith('', '[kernel, initramfs]'))
    const check = await checkKernelConfig(full, undefined, 't.yaml:3:3', {derived})
    const serial = check.mismatches.find((m) => m.option === 'CONFIG_SERIAL_8250')!
    assert.match(serial.found, /^=m \(a module/)
    assert.equal(check.mismatches.find((m) => m.option === 'CONFIG_RD_GZIP')!.found, 'not set (absent)')
  })
})

describe('derived requirements of the example profiles', () => {
  const examples = readdirSync(join(ROOT, 'profiles')).filter((f) => f.endsWith('.yaml')).sort()

  it('hold against the fixture world\'s Debian kernel config (every option =y, none only a module)', async function () {
    if (!existsSync(DEBIAN_CONFIG)) this.skip()
    const debian = readFileSync(DEBIAN_CONFIG, 'utf8')
    for (const name of examples) {
      const profile = await loadProfile(join(ROOT, 'profiles', name))
      // Enclave profiles need the Nitro options (VIRTIO_MMIO, VSOCKETS, NSM), which Debian's kernel lacks: checked below.
      if (profile.outputs.includes('eif')) continue
      const derived = derivedRequirements(profile)
      assert.ok(derived.length >= 4, `${name}: ${derived.map((d) => d.option).join(', ')}`)
      const check = await checkKernelConfig(debian, undefined, name, {derived})
      assert.deepEqual(check.mismatches, [], name)
    }
  })

  it('enclave profiles: nitro-enclave holds against the real nitro config, minimal-enclave against the fixture stand-in; Debian\'s kernel is refused', async function () {
    const nitro = await loadProfile(join(ROOT, 'profiles/nitro-enclave.yaml'))
    const derived = derivedRequirements(nitro)
    for (const option of ['CONFIG_BLK_DEV_INITRD', 'CONFIG_SERIAL_8250', 'CONFIG_SERIAL_8250_CONSOLE', 'CONFIG_VIRTIO_MMIO', 'CONFIG_VSOCKETS', 'CONFIG_VIRTIO_VSOCKETS', 'CONFIG_NSM'])
      assert.ok(derived.some((d) => d.option === option), option)
    assert.ok(!derived.some((d) => d.option === 'CONFIG_EFI_STUB' || d.option === 'CONFIG_RD_GZIP'), 'an EIF needs no EFI and has plain cpio ramdisks')
    assert.deepEqual((await checkKernelConfig(stagex('nitro.config'), undefined, 'nitro-enclave.yaml', {derived})).mismatches, [])
    const standIn = join(ROOT, '.cache/world/oci/user-linux-nitro')
    if (!existsSync(DEBIAN_CONFIG) || !existsSync(standIn)) this.skip()
    const minimal = await loadProfile(join(ROOT, 'profiles/minimal-enclave.yaml'))
    const {nitroStandInConfig} = await import('../../scripts/world/packages.js')
    const fixture = nitroStandInConfig(readFileSync(DEBIAN_CONFIG, 'utf8'))
    assert.deepEqual((await checkKernelConfig(fixture, undefined, 'minimal-enclave.yaml', {derived: derivedRequirements(minimal)})).mismatches, [])
    const debian = await checkKernelConfig(readFileSync(DEBIAN_CONFIG, 'utf8'), undefined, 'minimal-enclave.yaml', {derived: derivedRequirements(minimal)})
    assert.deepEqual(debian.mismatches.map((m) => m.option).sort(), ['CONFIG_NSM', 'CONFIG_VIRTIO_MMIO', 'CONFIG_VIRTIO_VSOCKETS', 'CONFIG_VSOCKETS'])
    assert.ok(debian.mismatches.every((m) => /^outputs: eif \(.*minimal-enclave\.yaml:\d+:\d+\)$/.test(m.wantedBy)), JSON.stringify(debian.mismatches))
    assert.match(describeMismatches(debian), /CONFIG_NSM\s+=y\s+not set.*outputs: eif/)
  })

  it('an EFI loader asked for with the nitro kernel is refused by the same rules, beside the eif output', async () => {
    const derived = derivedRequirements(profileWith(UKI, '[eif, uki]'))
    const check = await checkKernelConfig(stagex('nitro.config'), undefined, 't.yaml:3:3', {derived})
    assert.deepEqual(check.mismatches.map((m) => m.option).sort(), ['CONFIG_EFI', 'CONFIG_EFI_STUB'])
    assert.ok(check.mismatches.every((m) => m.wantedBy.startsWith('boot.loader: uki')), JSON.stringify(check.mismatches))
  })

  it('airgap-signer: its fragment and its derived requirements hold against the real airgap config', async () => {
    const profile = await loadProfile(join(ROOT, 'profiles/airgap-signer.yaml'))
    const derived = derivedRequirements(profile)
    assert.ok(derived.some((d) => d.option === 'CONFIG_EFI_STUB' && d.rule === 'boot.loader: syslinux'))
    const check = await checkKernelConfig(stagex('airgap.config'), profile.kernel!.config, 'airgap-signer.yaml', {derived})
    assert.deepEqual(check.mismatches, [])
    const nitro = await checkKernelConfig(stagex('nitro.config'), profile.kernel!.config, 'airgap-signer.yaml', {derived})
    assert.ok(nitro.mismatches.some((m) => m.option === 'CONFIG_EFI_STUB' && m.wantedBy.startsWith('boot.loader: syslinux')))
  })
})
