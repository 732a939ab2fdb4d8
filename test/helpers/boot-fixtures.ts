// Boot-test fixtures: the test world's Debian kernel, a busybox initramfs built with the host's
// cpio (tests only; the product writes its own), and a way to find processes a test left behind.
import {spawnSync} from 'node:child_process'
import {chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

export const PROJECT_ROOT = join(import.meta.dirname, '..', '..')
export const TEST_KERNEL = join(PROJECT_ROOT, '.cache', 'world', 'kernel', 'vmlinuz')

/**
 * The Debian kernel of the test world; runs scripts/setup.sh (idempotent) once if it is missing.
 * Returns a reason instead of a path when it still cannot be had, for the test to skip with.
 */
export function ensureTestKernel(): {kernel: string} | {skip: string} {
  if (!existsSync(TEST_KERNEL)) {
    const setup = spawnSync('bash', ['scripts/setup.sh'], {cwd: PROJECT_ROOT, stdio: 'inherit', timeout: 600_000})
    if (setup.status !== 0) return {skip: `scripts/setup.sh failed (status ${setup.status}); no test kernel at ${TEST_KERNEL}`}
  }
  if (!existsSync(TEST_KERNEL)) return {skip: `no test kernel at ${TEST_KERNEL}`}
  for (const tool of ['qemu-system-x86_64', 'cpio'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return {skip: `${tool} is not installed`}
  if (!existsSync('/bin/busybox')) return {skip: '/bin/busybox (busybox-static) is not installed'}
  return {kernel: TEST_KERNEL}
}

/**
 * The init of the test initramfs. What it does is chosen on the kernel command line, so one
 * initramfs serves every case: stagex.test=ok prints STAGEX-BOOT-OK and powers off; =hang
 * prints STAGEX-HANGING and sleeps forever; =exit returns from init, which makes the kernel panic;
 * =halfline prints half a line, pauses, then the rest; =aaaa feeds a catastrophic pattern and hangs.
 */
export const TEST_INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
mode=ok
for word in $(/bin/busybox cat /proc/cmdline); do
  case "$word" in stagex.test=*) mode="\${word#stagex.test=}" ;; esac
done
case "$mode" in
  ok) echo STAGEX-BOOT-OK; /bin/busybox poweroff -f ;;
  halfline) printf 'RESULT: OK'; /bin/busybox sleep 2; echo ' -- 3 checks FAILED'; /bin/busybox poweroff -f ;;
  aaaa) echo STAGEX-HANGING; echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while :; do /bin/busybox sleep 60; done ;;
  hang) echo STAGEX-HANGING; while :; do /bin/busybox sleep 60; done ;;
  exit) echo STAGEX-INIT-EXITING; exit 3 ;;
esac
`

/** Writes `<dir>/initramfs.cpio`: static busybox, /init, and /dev/console when we may create it. */
export function buildTestInitramfs(dir: string): string {
  const root = join(dir, 'initramfs-root')
  for (const sub of ['bin', 'dev', 'proc']) mkdirSync(join(root, sub), {recursive: true})
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'))
  chmodSync(join(root, 'bin', 'busybox'), 0o755)
  writeFileSync(join(root, 'init'), TEST_INIT, {mode: 0o755})
  // Without /dev/console the kernel may start init with no stdout; creating the node needs root.
  if (process.getuid?.() === 0) spawnSync('mknod', ['-m', '600', join(root, 'dev', 'console'), 'c', '5', '1'])
  const archive = join(dir, 'initramfs.cpio')
  const pack = spawnSync('sh', ['-c', `cd "${root}" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > "${archive}"`])
  if (pack.status !== 0) throw new Error(`cpio failed: ${pack.stderr.toString()}`)
  return archive
}

export const SYSTEMD_EFI_STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub'

const hostTool = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0

/** Why UEFI fixtures cannot be built here, or undefined when they can. */
export function uefiFixturesMissing(): string | undefined {
  if (!existsSync(SYSTEMD_EFI_STUB)) return `no EFI stub at ${SYSTEMD_EFI_STUB} (systemd-boot-efi)`
  for (const tool of ['objcopy', 'mkfs.vfat', 'mcopy', 'mmd']) if (!hostTool(tool)) return `${tool} is not installed`
  return undefined
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args)
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.toString()}`)
}

/**
 * `<dir>/test-uki.efi`: systemd's EFI stub with the kernel, initrd and command line added as
 * sections by the host's objcopy. A stand-in for our own UKI writer, to test booting a UKI.
 */
export function buildTestUki(dir: string, kernel: string, initrd: string, cmdline: string): string {
  writeFileSync(join(dir, 'uki-cmdline'), cmdline)
  writeFileSync(join(dir, 'uki-os-release'), 'ID=stagex-test\nNAME="stagex boot test"\n')
  const uki = join(dir, 'test-uki.efi')
  // Section addresses above the stub's own (which end below 0x20000), as systemd's docs lay them out.
  run('objcopy', [
    ...['--add-section', `.osrel=${join(dir, 'uki-os-release')}`, '--change-section-vma', '.osrel=0x20000'],
    ...['--add-section', `.cmdline=${join(dir, 'uki-cmdline')}`, '--change-section-vma', '.cmdline=0x30000'],
    ...['--add-section', `.linux=${kernel}`, '--change-section-vma', '.linux=0x2000000'],
    ...['--add-section', `.initrd=${initrd}`, '--change-section-vma', '.initrd=0x3000000'],
    SYSTEMD_EFI_STUB,
    uki,
  ])
  return uki
}

/** `<dir>/test-disk.img`: a partitionless FAT32 disk holding `efiBinary` as EFI/BOOT/BOOTX64.EFI. */
export function buildTestFatDisk(dir: string, efiBinary: string): string {
  const disk = join(dir, 'test-disk.img')
  run('mkfs.vfat', ['-C', '-F', '32', '-n', 'STAGEXTEST', disk, String(64 * 1024)])
  run('mmd', ['-i', disk, '::/EFI', '::/EFI/BOOT'])
  run('mcopy', ['-i', disk, efiBinary, '::/EFI/BOOT/BOOTX64.EFI'])
  return disk
}

/** Pids of running processes whose command line contains `text` (e.g. a test's own temp dir). */
export function processesMentioning(text: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline: string
    try {
      cmdline = readFileSync(join('/proc', entry, 'cmdline'), 'utf8')
    } catch {
      continue // gone meanwhile
    }
    if (cmdline.includes(text) && Number(entry) !== process.pid) pids.push(Number(entry))
  }
  return pids
}
