// `test PROFILE` end to end: build the minimal profile and boot it under TCG to its marker.
import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {profileVariant, REPO, runCli} from '../helpers/cli.js'

describe('e2e: test profiles/minimal.yaml (build, then boot under TCG)', function () {
  this.timeout(600_000)
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-test-cmd-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('boots to the marker and writes a JUnit report', async () => {
    const junit = join(dir, 'junit.xml')
    const log = join(dir, 'console.log')
    const result = runCli(['test', join(REPO, 'profiles/minimal.yaml'), '--out', join(dir, 'out'), '--accel', 'tcg', '--junit', junit, '--log', log, '--json'])
    assert.equal(result.code, 0, result.stderr + result.stdout)
    const report = JSON.parse(result.stdout)
    assert.equal(report.outcome, 'passed')
    assert.deepEqual(report.runs.map((r: {output: string}) => r.output), ['initramfs'])
    assert.equal(report.runs[0].boot.accel, 'tcg')
    assert.deepEqual(report.runs[0].boot.steps.map((s: {outcome: string}) => s.outcome), ['passed'])
    assert.match(await readFile(log, 'utf8'), /STAGEX-APPLIANCE-OK minimal/)
    const xml = await readFile(junit, 'utf8')
    assert.match(xml, /<testsuite name="minimal initramfs" tests="1" failures="0"/)
  })

  it('profiles/minimal-secure-boot.yaml: test --secure-boot boots the signed disk and the ISO under OVMF secboot', async () => {
    const profile = join(REPO, 'profiles/minimal-secure-boot.yaml')
    const result = runCli(['test', profile, '--out', join(dir, 'out-sb'), '--accel', 'tcg', '--jobs', '2', '--secure-boot', '--json'])
    assert.equal(result.code, 0, result.stderr + result.stdout)
    const report = JSON.parse(result.stdout) as {outcome: string; runs: {output: string; via?: string; boot: {qemuArgv: string[]}}[]}
    assert.equal(report.outcome, 'passed')
    assert.deepEqual(report.runs.map((r) => [r.output, r.via]), [['disk', 'uefi secure boot'], ['iso', 'uefi secure boot, as a disk']])
    for (const run of report.runs) assert.ok(run.boot.qemuArgv.includes('q35,smm=on') && run.boot.qemuArgv.some((a) => a.includes('OVMF_CODE_4M.secboot.fd')), run.output)
  })

  it('exits 6 when a step never appears, naming the deadline', async () => {
    const profile = await profileVariant('minimal', dir, 'never', (text) =>
      text.replace('    - expect: "STAGEX-APPLIANCE-OK minimal"', '    - expect: "THIS-NEVER-APPEARS"').replace('poweroff -f', 'sleep 600'),
    )
    const started = Date.now()
    const result = runCli(['test', profile, '--out', join(dir, 'out-never'), '--accel', 'tcg', '--timeout', '10'])
    assert.equal(result.code, 6, result.stderr)
    assert.match(result.stderr, /boot test of minimal timed out: initramfs: deadline of 10s reached during step 1/)
    assert.ok(Date.now() - started < 10_000 + 5_000 + 10_000, 'ends within the deadline (plus build time and 5 s)')
  })
})
