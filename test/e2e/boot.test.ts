// End to end: the `boot` command against the real Debian kernel and a busybox initramfs, under TCG.
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {liveGroupMembers} from '../../src/qemu/process-group.js'
import type {BootResult} from '../../src/qemu/types.js'
import {
  buildTestFatDisk,
  buildTestInitramfs,
  buildTestUki,
  ensureTestKernel,
  processesMentioning,
  PROJECT_ROOT,
  uefiFixturesMissing,
} from '../helpers/boot-fixtures.js'

interface CliRun {
  status: number | null
  stdout: string
  stderr: string
  seconds: number
}

/** Runs `stagex-image ...` from the sources; `whileRunning` may act on the live child (e.g. interrupt it). */
function runCli(args: string[], whileRunning?: (child: ReturnType<typeof spawn>) => void): Promise<CliRun> {
  const started = Date.now()
  const child = spawn('node', ['--import', 'tsx', 'test/helpers/run-command-from-source.ts', ...args], {cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => (stdout += c))
  child.stderr.on('data', (c) => (stderr += c))
  // A safety net only: the command has its own deadline, and a test failing here is a bug found.
  const safety = setTimeout(() => child.kill('SIGKILL'), 90_000)
  whileRunning?.(child)
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(safety)
      resolve({status, stdout, stderr, seconds: (Date.now() - started) / 1000})
    }),
  )
}

/** --json prints the BootResult on success and {error: {..., result}} on failure. */
function bootResultOf(run: CliRun): BootResult {
  const document = JSON.parse(run.stdout)
  return document.error ? document.error.result : document
}

describe('e2e: boot (QEMU, TCG)', function () {
  this.timeout(100_000)
  let work = ''
  let kernel = ''
  let initrd = ''

  before(function () {
    const world = ensureTestKernel()
    if ('skip' in world) {
      console.log(`      skipping boot e2e: ${world.skip}`)
      this.skip()
    }
    kernel = world.kernel
    work = mkdtempSync(join(tmpdir(), 'stagex-boot-e2e-'))
    initrd = buildTestInitramfs(work)
  })

  afterEach(() => {
    // Whatever happened, nothing this file started may outlive the test.
    if (!work) return
    const leftovers = processesMentioning(work)
    for (const pid of leftovers) process.kill(pid, 'SIGKILL')
    assert.deepEqual(leftovers, [], `processes left running: ${leftovers.join(', ')}`)
  })

  after(() => {
    if (work) rmSync(work, {recursive: true, force: true})
  })

  const direct = (mode: string) => ['boot', '--kernel', kernel, '--initrd', initrd, '--append', `console=ttyS0 stagex.test=${mode}`]

  it('passes when the marker appears (exit 0) and writes the console log', async () => {
    const log = join(work, 'ok.log')
    const run = await runCli([...direct('ok'), '--accel', 'tcg', '--expect', 'Run /init', '--expect', 'STAGEX-BOOT-OK', '--timeout', '60', '--log', log, '--json'])
    assert.equal(run.status, 0, run.stderr)
    const result = bootResultOf(run)
    assert.equal(result.outcome, 'passed')
    assert.equal(result.passed, true)
    assert.deepEqual(
      result.seen.map((s) => s.pattern),
      ['Run /init', 'STAGEX-BOOT-OK'],
    )
    assert.deepEqual(result.missing, [])
    assert.equal(result.accel, 'tcg')
    assert.equal(result.logFile, log)
    assert.match(readFileSync(log, 'utf8'), /STAGEX-BOOT-OK/)
    assert.deepEqual(liveGroupMembers(result.qemuPid), [])
    console.log(`      marker seen after ${result.seen[1].atSeconds.toFixed(1)}s under TCG`)
  })

  it('times out (exit 6) within the deadline plus 5 s and leaves no QEMU behind', async () => {
    // A loaded host may not even reach init in 8 s, so the only expectation is one that never comes.
    const run = await runCli([...direct('hang'), '--accel', 'tcg', '--expect', 'NEVER-PRINTED', '--timeout', '8', '--json'])
    assert.equal(run.status, 6, run.stderr)
    assert.ok(run.seconds < 8 + 5, `took ${run.seconds}s`)
    const result = bootResultOf(run)
    assert.equal(result.outcome, 'timeout')
    assert.deepEqual(result.seen, [])
    assert.deepEqual(result.missing, ['NEVER-PRINTED'])
    assert.deepEqual(liveGroupMembers(result.qemuPid), [], `QEMU process group ${result.qemuPid} still runs`)
  })

  it('fails (exit 5) on a kernel panic when init exits', async () => {
    const run = await runCli([...direct('exit'), '--accel', 'tcg', '--expect', 'STAGEX-BOOT-OK', '--timeout', '60', '--json'])
    assert.equal(run.status, 5, run.stderr)
    const error = JSON.parse(run.stdout).error
    assert.equal(error.kind, 'boot-failed')
    assert.equal(error.result.outcome, 'panic')
    assert.match(error.result.reason, /Kernel panic - not syncing: Attempted to kill init/)
  })

  it('--accel auto falls back to tcg here and says why', async () => {
    const run = await runCli([...direct('ok'), '--accel', 'auto', '--expect', 'STAGEX-BOOT-OK', '--timeout', '60', '--json'])
    assert.equal(run.status, 0, run.stderr)
    const result = bootResultOf(run)
    assert.equal(result.accel, 'tcg')
    assert.match(result.accelReason, /^auto: .*using tcg$/)
  })

  describe('under OVMF', () => {
    let uki = ''
    before(function () {
      const missing = uefiFixturesMissing()
      if (missing) {
        console.log(`      skipping UEFI boots: ${missing}`)
        this.skip()
      }
      uki = buildTestUki(work, kernel, initrd, 'console=ttyS0 panic=-1 stagex.test=ok')
    })

    it('boots a UKI from a throwaway ESP (exit 0)', async () => {
      const run = await runCli(['boot', uki, '--accel', 'tcg', '--expect', 'STAGEX-BOOT-OK', '--timeout', '60', '--json'])
      assert.equal(run.status, 0, run.stderr)
      const result = bootResultOf(run)
      assert.ok(result.qemuArgv.some((a) => a.includes('if=pflash')))
      assert.ok(result.qemuArgv.some((a) => a.includes('file=fat:')))
      console.log(`      UKI: marker seen after ${result.seen[0].atSeconds.toFixed(1)}s under TCG`)
    })

    it('boots a disk image without writing to it (exit 0)', async () => {
      const disk = buildTestFatDisk(work, uki)
      const digest = () => createHash('sha256').update(readFileSync(disk)).digest('hex')
      const before = digest()
      const run = await runCli(['boot', disk, '--accel', 'tcg', '--expect', 'STAGEX-BOOT-OK', '--timeout', '60', '--json'])
      assert.equal(run.status, 0, run.stderr)
      assert.ok(bootResultOf(run).qemuArgv.some((a) => a.includes('snapshot=on')))
      assert.equal(digest(), before)
    })

    it('--secure-boot: the firmware refuses an unsigned UKI at once (exit 5, not a timeout), and says so', async () => {
      const run = await runCli(['boot', uki, '--secure-boot', '--accel', 'tcg', '--expect', 'STAGEX-BOOT-OK', '--timeout', '60', '--json'])
      assert.equal(run.status, 5, run.stderr)
      const result = bootResultOf(run)
      assert.equal(result.outcome, 'failed')
      assert.match(result.reason, /^the firmware refused the boot image under Secure Boot \(not signed by a key in its db, or changed after signing\) at [\d.]+s: BdsDxe: failed to load Boot0001 .*: Access Denied$/)
      assert.ok(result.qemuArgv.includes('q35,smm=on') && result.qemuArgv.some((a) => a.includes('OVMF_CODE_4M.secboot.fd')), result.qemuArgv.join(' '))
      assert.ok(run.seconds < 40, `refused after ${run.seconds}s`)
    })
  })

  it('--firmware bios --cdrom: an ISO without a boot record ends at once with what SeaBIOS tried (exit 5)', async () => {
    const root = join(work, 'plain-iso')
    mkdirSync(root)
    writeFileSync(join(root, 'README.TXT'), 'no boot record here\n')
    const iso = join(work, 'plain.iso')
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, root], {stdio: 'ignore'})
    const run = await runCli(['boot', iso, '--cdrom', '--firmware', 'bios', '--accel', 'tcg', '--expect', 'STAGEX-BOOT-OK', '--timeout', '60', '--json'])
    assert.equal(run.status, 5, run.stderr)
    const result = bootResultOf(run)
    assert.match(result.reason, /^the BIOS found nothing to boot \(SeaBIOS: Booting from DVD\/CD\.\.\.; Boot failed: Could not read from CDROM \(code 0004\);.* No bootable device\.\)$/)
    assert.ok(result.qemuArgv.includes('ide-cd,drive=boot-cd,bus=ide.0,bootindex=0'))
    assert.ok(!result.qemuArgv.some((a) => a.includes('pflash')), 'SeaBIOS, no OVMF')
    assert.ok(run.seconds < 30, `ended after ${run.seconds}s`)
  })

  it('kills QEMU when the command itself is interrupted (SIGINT)', async () => {
    let sawGuest = false
    let consoleSoFar = ''
    const run = await runCli([...direct('hang'), '--accel', 'tcg', '--expect', 'NEVER-PRINTED', '--timeout', '60', '--console'], (child) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        // QEMU passes the serial port on in small pieces: look at what arrived so far, not one chunk.
        consoleSoFar = (consoleSoFar + chunk.toString()).slice(-200)
        if (!sawGuest && consoleSoFar.includes('STAGEX-HANGING')) {
          sawGuest = true
          child.kill('SIGINT')
        }
      })
    })
    assert.ok(sawGuest, `the guest never started: ${run.stderr.slice(-2000)}`)
    assert.ok(run.seconds < 60, `took ${run.seconds}s: the interrupt did not end the run`)
    // The command re-raises the signal after killing QEMU, so it ends the way an interrupted program does.
    assert.ok(run.status === null || run.status === 130, `exit status ${run.status}`)
    // afterEach checks that no QEMU mentioning this test's files survived.
  })
})
