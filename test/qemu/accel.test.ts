// The KVM probe against stand-ins for QEMU that behave like the three cases seen on real hosts.
import assert from 'node:assert/strict'
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {chooseAccel, probeKvmWithKernel} from '../../src/qemu/accel.js'
import {liveGroups} from '../../src/qemu/process-group.js'

describe('qemu/accel', function () {
  this.timeout(20_000)
  let dir = ''
  const fakeQemu = (name: string, script: string): string => {
    const path = join(dir, name)
    writeFileSync(path, `#!/bin/sh\n${script}\n`)
    chmodSync(path, 0o755)
    return path
  }
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'stagex-accel-'))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('takes KVM when the kernel banner appears, and stops the probe at once', async () => {
    const qemu = fakeQemu('works', 'echo "[    0.000000] Linux version 6.1.0-56-amd64"; sleep 30')
    const started = Date.now()
    const probe = await probeKvmWithKernel('/k', qemu, 5)
    assert.equal(probe.alive, true)
    assert.ok(Date.now() - started < 3000)
  })

  it('gives up on a guest that hangs after the real-mode loader (seen on these hosts)', async () => {
    const qemu = fakeQemu('hangs', 'echo "Probing EDD (edd=off to disable)... ok"; sleep 30')
    const probe = await probeKvmWithKernel('/k', qemu, 1)
    assert.equal(probe.alive, false)
    assert.match(probe.finding, /no sign of life within 1s/)
    assert.deepEqual(liveGroups(), [])
  })

  it('reports QEMU failing under KVM with its first error line', async () => {
    const qemu = fakeQemu('fails', 'echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2; exit 134')
    const probe = await probeKvmWithKernel('/k', qemu, 5)
    assert.equal(probe.alive, false)
    assert.match(probe.finding, /exited at once under KVM \(qemu-system-x86_64: error: failed to set MSR/)
  })

  it('takes an explicit tcg as given, without probing', async () => {
    assert.deepEqual(await chooseAccel('tcg', undefined, '/nonexistent'), {accel: 'tcg', reason: 'tcg: asked for'})
  })
})
