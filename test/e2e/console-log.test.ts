// Where the serial console log goes: --log FILE when given; for `test`, console.log in --out beside
// the outputs; for `boot` without --log, a temp file removed when the run ends. Each case runs with a
// TMPDIR of its own, which must hold no new file (no log, no run folder) after the run.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {buildTestInitramfs, ensureTestKernel, PROJECT_ROOT} from '../helpers/boot-fixtures.js'

/** `stagex-image ...` from the sources, with TMPDIR set to `tmp`. */
function run(args: string[], tmp: string): {status: number | null; stdout: string; stderr: string} {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/run-command-from-source.ts', ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: {...process.env, TMPDIR: tmp},
    timeout: 300_000,
  })
  return {status: result.status, stdout: result.stdout, stderr: result.stderr}
}

/** Every path under `dir`, recursively (what a run left in its TMPDIR), but tsx's compile cache (tsx-UID/). */
function contents(dir: string): string[] {
  return readdirSync(dir, {recursive: true, encoding: 'utf8'})
    .filter((path) => !/^tsx-\d+(\/|$)/.test(path))
    .sort()
}

describe('e2e: serial console logs go where the flags say, never left in TMPDIR', function () {
  this.timeout(400_000)
  let work = ''
  let kernel = ''
  let initrd = ''

  before(function () {
    const world = ensureTestKernel()
    if ('skip' in world) {
      console.log(`      skipping console-log e2e: ${world.skip}`)
      this.skip()
    }
    kernel = world.kernel
    work = mkdtempSync(join(tmpdir(), 'stagex-console-log-'))
    initrd = buildTestInitramfs(work)
  })
  after(() => {
    if (work) rmSync(work, {recursive: true, force: true})
  })

  const freshTmp = (name: string): string => {
    const dir = join(work, `tmp-${name}`)
    mkdirSync(dir)
    return dir
  }
  const boot = ['boot', '--accel', 'tcg', '--expect', 'STAGEX-BOOT-OK', '--timeout', '60']

  it('boot without --log: the console goes to a temp file that is gone afterwards; logFile is null', () => {
    const tmp = freshTmp('boot-default')
    const result = run([...boot, '--kernel', kernel, '--initrd', initrd, '--append', 'console=ttyS0 stagex.test=ok', '--json'], tmp)
    assert.equal(result.status, 0, result.stderr)
    assert.equal(JSON.parse(result.stdout).logFile, null)
    assert.deepEqual(contents(tmp), [], 'nothing left in TMPDIR')
  })

  it('boot --log FILE: the console is in FILE, named in the result; nothing in TMPDIR', () => {
    const tmp = freshTmp('boot-log')
    const log = join(work, 'boot-console.log')
    const result = run([...boot, '--kernel', kernel, '--initrd', initrd, '--append', 'console=ttyS0 stagex.test=ok', '--log', log, '--json'], tmp)
    assert.equal(result.status, 0, result.stderr)
    assert.equal(JSON.parse(result.stdout).logFile, log)
    assert.match(readFileSync(log, 'utf8'), /STAGEX-BOOT-OK/)
    assert.deepEqual(contents(tmp), [])
  })

  it('boot failing without --log still leaves nothing in TMPDIR', () => {
    const tmp = freshTmp('boot-fail')
    const result = run([...boot, '--kernel', kernel, '--initrd', initrd, '--append', 'console=ttyS0 stagex.test=exit', '--json'], tmp)
    assert.equal(result.status, 5, result.stderr)
    assert.equal(JSON.parse(result.stdout).error.result.logFile, null)
    assert.deepEqual(contents(tmp), [])
  })

  it('test PROFILE --out OUT: the console is OUT/console.log, printed and in --json; nothing in TMPDIR', () => {
    const tmp = freshTmp('test-default')
    const out = join(work, 'out')
    const result = run(['test', join(PROJECT_ROOT, 'profiles/minimal.yaml'), '--out', out, '--accel', 'tcg', '--json'], tmp)
    assert.equal(result.status, 0, result.stderr)
    const log = join(out, 'console.log')
    assert.equal(JSON.parse(result.stdout).runs[0].boot.logFile, log)
    assert.match(readFileSync(log, 'utf8'), /STAGEX-APPLIANCE-OK minimal/)
    assert.deepEqual(contents(tmp), [], 'nothing left in TMPDIR')

    // Without --json the path is printed; --log puts it elsewhere (and leaves OUT's alone).
    const other = join(work, 'elsewhere.log')
    rmSync(log)
    const text = run(['test', join(PROJECT_ROOT, 'profiles/minimal.yaml'), '--out', out, '--accel', 'tcg', '--log', other], tmp)
    assert.equal(text.status, 0, text.stderr)
    assert.ok(text.stdout.includes(`console log: ${other}`), text.stdout)
    assert.match(readFileSync(other, 'utf8'), /STAGEX-APPLIANCE-OK minimal/)
    assert.equal(existsSync(log), false, 'no console.log in --out when --log names another file')
    assert.deepEqual(contents(tmp), [])
  })
})
