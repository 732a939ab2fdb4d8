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
 * prints STAGEX-HANGING and sleeps forever; =exit returns from init, which makes the kernel panic.
 */
export const TEST_INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
mode=ok
for word in $(/bin/busybox cat /proc/cmdline); do
  case "$word" in stagex.test=*) mode="\${word#stagex.test=}" ;; esac
done
case "$mode" in
  ok) echo STAGEX-BOOT-OK; /bin/busybox poweroff -f ;;
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
