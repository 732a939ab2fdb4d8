// Console steps against a real guest (the test initramfs under TCG, direct boot): whole-line
// matching, a catastrophic pattern that cannot stretch the deadline or hold up SIGTERM, a step's own
// timeout, a panic. (send and expect-exit run through `test PROFILE` in test-steps.test.ts.)
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {bootAndExpect} from '../../src/qemu/boot.js'
import {liveGroupMembers} from '../../src/qemu/process-group.js'
import type {BootOptions, ConsoleStep} from '../../src/qemu/types.js'
import {buildTestInitramfs, ensureTestKernel, processesMentioning, PROJECT_ROOT} from '../helpers/boot-fixtures.js'

describe('e2e: console steps against a real guest', function () {
  this.timeout(120_000)
  let work = ''
  let kernel = ''
  let initrd = ''

  before(function () {
    const world = ensureTestKernel()
    if ('skip' in world) this.skip()
    kernel = world.kernel
    work = mkdtempSync(join(tmpdir(), 'stagex-console-steps-'))
    initrd = buildTestInitramfs(work)
  })
  after(() => {
    if (work) rmSync(work, {recursive: true, force: true})
  })

  const boot = (mode: string, steps: ConsoleStep[], extra: Partial<BootOptions> = {}) =>
    bootAndExpect({kernel, initrd, append: `console=ttyS0 quiet stagex.test=${mode}`, expect: [], steps, timeoutSeconds: 60, accel: 'tcg', logFile: join(work, `${mode}.log`), ...extra})

  it('half a line does not pass `^RESULT: OK$`: the step fails (QEMU ended first) and the whole line is in the log', async () => {
    const result = await boot('halfline', [{expect: '^RESULT: OK$'}])
    assert.equal(result.outcome, 'failed', result.reason)
    assert.equal(result.steps[0]!.outcome, 'failed')
    assert.match(readFileSync(join(work, 'halfline.log'), 'utf8'), /RESULT: OK -- 3 checks FAILED/)
  })

  it('a catastrophic pattern against guest output: the run ends within its deadline plus 5 s', async () => {
    const result = await boot('aaaa', [{expect: 'STAGEX-HANGING'}, {expect: '(a+)+b', timeout: 5}])
    assert.equal(result.outcome, 'timeout', result.reason)
    const deadline = result.steps[0]!.atSeconds! + 5
    assert.ok(result.seconds < deadline + 5, `ended at ${result.seconds}s, deadline ${deadline}s`)
    assert.ok(result.warnings.some((w) => w.includes('(a+)+b') && w.includes('budget')), result.warnings.join('\n'))
    assert.deepEqual(liveGroupMembers(result.qemuPid), [])
  })

  it('a catastrophic pattern being matched: SIGTERM of `stagex-image boot` is honoured within 2 s, QEMU gone', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/run-command-from-source.ts', 'boot', '--kernel', kernel, '--initrd', initrd,
      '--append', 'console=ttyS0 quiet stagex.test=aaaa', '--accel', 'tcg', '--expect', 'STAGEX-HANGING', '--expect', '(a+)+b', '--timeout', '60', '--console'], {cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (/a{50}/.test(stderr)) resolve()
      })
      child.on('close', () => reject(new Error(`ended before the guest printed its line: ${stderr.slice(-2000)}`)))
    })
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const signalled = Date.now()
    child.kill('SIGTERM')
    const code = await ended
    const seconds = (Date.now() - signalled) / 1000
    assert.equal(code, 143, stderr.slice(-2000))
    assert.ok(seconds < 2, `took ${seconds}s after SIGTERM`)
    assert.deepEqual(processesMentioning(initrd), [], 'no QEMU of the run is left')
  })

  it("an expectation that never comes while the guest stays up: timeout at the step's own timeout, not the global one; no QEMU left", async () => {
    const result = await boot('hang', [{expect: 'STAGEX-HANGING'}, {expect: 'NEVER-PRINTED', timeout: 3}], {timeoutSeconds: 60})
    assert.equal(result.outcome, 'timeout', result.reason)
    assert.match(result.reason, /step 2 \(expect \/NEVER-PRINTED\/\) not seen within its timeout of 3s/)
    const hanging = result.steps[0]!.atSeconds!
    assert.ok(result.seconds < hanging + 3 + 2, `ended at ${result.seconds}s, the step began at ${hanging}s`)
    assert.deepEqual(liveGroupMembers(result.qemuPid), [])
  })

  it('a guest init that panics: failed within 10 s of the panic line, the panic line in the reason', async () => {
    const result = await boot('exit', [{expect: 'NEVER-PRINTED'}])
    assert.equal(result.outcome, 'panic', result.reason)
    assert.match(result.reason, /Kernel panic - not syncing: Attempted to kill init/)
    assert.ok(result.seconds - result.steps[0]!.atSeconds! < 10)
  })
})
