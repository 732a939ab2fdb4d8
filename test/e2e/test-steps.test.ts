// `stagex-image test` with console steps, end to end: send answered by the guest's shell and
// expect-exit through isa-debug-exit; every bootable output booted with a JUnit report checked by
// an XML parser, while another profile's test runs at the same time; a reported status 3 failing
// its step; and SIGKILL of `test` taking QEMU with it (pdeathsig), its run folder removed by the next run.
import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {XMLParser} from 'fast-xml-parser'
import {profileVariant, REPO} from '../helpers/cli.js'
import {childrenOf, commandOf} from '../helpers/proc.js'

const RUNNER = join(REPO, 'test/helpers/run-command-from-source.ts')

interface Ended {
  code: number | null
  stdout: string
  stderr: string
}

/** `stagex-image ARGS` from the sources with its own TMPDIR. */
function startCli(args: string[], tmp: string): {child: ChildProcess; ended: Promise<Ended>} {
  const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, ...args], {cwd: REPO, env: {...process.env, TMPDIR: tmp}, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return {child, ended: new Promise((resolve) => child.on('close', (code) => resolve({code, stdout, stderr})))}
}

/** The minimal appliance with another init and other steps. */
const INIT_LINE = '      echo "STAGEX-APPLIANCE-OK $(hostname) $(uname -r)"\n      poweroff -f\n'
const STEPS = '  steps:\n    - expect: "STAGEX-APPLIANCE-OK minimal"\n'
const variant = (dir: string, name: string, init: string, steps: string) =>
  profileVariant('minimal', dir, name, (text) => {
    assert.ok(text.includes(INIT_LINE) && text.includes(STEPS), 'profiles/minimal.yaml changed: update this test')
    return text.replace(INIT_LINE, init).replace(STEPS, steps)
  })

/** The README's isa-debug-exit snippet, as an init uses it. */
const EXIT_SNIPPET = `      stagex_exit() { printf "\\\\$(printf %03o "$1")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null; }\n`

const parseJunit = (path: string) => new XMLParser({ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase', 'property'].includes(name)}).parse(readFileSync(path, 'utf8'))

const pidAlive = (pid: number): boolean => {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'latin1').slice(readFileSync(`/proc/${pid}/stat`, 'latin1').lastIndexOf(')') + 2)[0]
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

describe('e2e: test PROFILE with console steps (TCG)', function () {
  this.timeout(300_000)
  let dir = ''
  let tmp = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-test-steps-'))
    tmp = join(dir, 'tmp')
    mkdirSync(tmp)
  })
  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('boots disk, uki and initramfs with a JUnit report, while a send + expect-exit 0 profile passes at the same time', async () => {
    const ask = await variant(
      dir,
      'ask',
      EXIT_SNIPPET + '      echo "NUMBER?"\n      read n\n      echo "SQUARE=$((n * n))"\n      stagex_exit 0\n',
      '  steps:\n    - expect: "^NUMBER\\\\?$"\n    - send: "12"\n    - expect: "^SQUARE=144$"\n      timeout: 20\n    - expect-exit: 0\n',
    )
    const uki = await profileVariant('minimal-uki', dir, 'minimal-uki')
    const junit = join(dir, 'uki.junit.xml')
    const [all, sent] = await Promise.all([
      startCli(['test', uki, '--out', join(dir, 'out-uki'), '--accel', 'tcg', '--jobs', '2', '--junit', junit, '--json'], tmp).ended,
      startCli(['test', ask, '--out', join(dir, 'out-ask'), '--accel', 'tcg', '--junit', join(dir, 'ask.junit.xml')], tmp).ended,
    ])
    assert.equal(sent.code, 0, sent.stderr + sent.stdout)
    assert.match(sent.stdout, /initramfs +ok {3}step 3: expect \/\^SQUARE=144\$\/ at [\d.]+ s/)
    assert.match(sent.stdout, /step 4: expect-exit 0 at [\d.]+ s \([\d.]+ s\) status 0/)
    assert.equal(all.code, 0, all.stderr + all.stdout)
    const report = JSON.parse(all.stdout)
    assert.deepEqual(report.runs.map((r: {output: string}) => r.output), ['disk', 'uki', 'initramfs'])
    const argvOf = (output: string): string[] => report.runs.find((r: {output: string}) => r.output === output).boot.qemuArgv
    assert.ok(argvOf('disk').some((a) => a.includes('disk.raw') && a.includes('snapshot=on')), 'the disk output, never written')
    assert.ok(argvOf('uki').some((a) => a.includes('file=fat:')) && !argvOf('uki').includes('-kernel'), 'the UKI from a throwaway ESP')
    assert.ok(argvOf('initramfs').includes('-kernel') && !argvOf('initramfs').some((a) => a.includes('pflash')), 'kernel + initramfs directly')
    const xml = parseJunit(junit)
    assert.equal(xml.testsuites.tests, '3')
    assert.equal(xml.testsuites.failures, '0')
    assert.deepEqual(xml.testsuites.testsuite.map((s: {name: string; tests: string}) => [s.name, s.tests]), [['minimal-uki disk', '1'], ['minimal-uki uki', '1'], ['minimal-uki initramfs', '1']])
  })

  it('expect-exit 0 against a guest reporting status 3: exit 5, the status in the JUnit file, the run folder kept', async () => {
    const three = await variant(dir, 'three', EXIT_SNIPPET + '      echo "CHECKS-DONE"\n      stagex_exit 3\n', '  steps:\n    - expect: "^CHECKS-DONE$"\n    - expect-exit: 0\n')
    const junit = join(dir, 'three.junit.xml')
    const ended = await startCli(['test', three, '--out', join(dir, 'out-three'), '--accel', 'tcg', '--junit', junit], tmp).ended
    assert.equal(ended.code, 5, ended.stderr)
    assert.match(ended.stderr, /expect-exit 0\): the guest powered off with status 3/)
    const kept = /run folder kept: (\S+?)\)/.exec(ended.stderr)?.[1]
    assert.ok(kept && existsSync(join(kept, 'console.log')), ended.stderr)
    const cases = parseJunit(junit).testsuites.testsuite[0].testcase
    assert.equal(cases.length, 2)
    assert.equal(cases[1].properties.property[0].value, '3')
    assert.match(cases[1].failure.message, /status 3/)
    assert.match(cases[1].failure['#text'], /CHECKS-DONE/, 'the console tail is in the failure')
    await rm(kept!, {recursive: true, force: true})
  })

  it('SIGKILL of `stagex-image test` mid-boot: its QEMU is gone 5 s later (by pid); the next run removes its run folder', async () => {
    const hang = await variant(dir, 'hang', '      echo "STAGEX-HANGING"\n      while :; do sleep 60; done\n', '  steps:\n    - expect: "NEVER-PRINTED"\n')
    const killTmp = join(dir, 'tmp-kill')
    mkdirSync(killTmp)
    const run = startCli(['test', hang, '--out', join(dir, 'out-hang'), '--accel', 'tcg'], killTmp)
    let qemu: number | undefined
    for (let i = 0; i < 1500 && qemu === undefined && run.child.exitCode === null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      qemu = childrenOf(run.child.pid!).find((pid) => /qemu/.test(commandOf(pid)))
    }
    assert.ok(qemu, 'QEMU started')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    run.child.kill('SIGKILL')
    await run.ended
    await new Promise((resolve) => setTimeout(resolve, 5000))
    assert.equal(pidAlive(qemu), false, `QEMU (pid ${qemu}) outlived the killed command`)
    const left = readdirSync(killTmp).filter((n) => n.startsWith('stagex-boot-'))
    assert.equal(left.length, 1, 'the killed run left its run folder')
    // Any later run that builds sweeps it (TMPDIR/stagex-boot-* with a dead owner).
    const next = await startCli(['build', hang, '--out', join(dir, 'out-hang')], killTmp).ended
    assert.equal(next.code, 0, next.stderr)
    assert.ok(!existsSync(join(killTmp, left[0]!)), next.stderr)
  })
})
