// The demo's own flow (scripts/demo.ts, what `npm run demo` runs after set-up): local registry,
// pull with 2-of-3 trust, build, boot to the marker. Kept in the suite so the README's first
// command cannot rot.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {REPO} from '../helpers/cli.js'

describe('e2e: the demo (scripts/demo.ts)', function () {
  this.timeout(600_000)

  it('pulls from the local registry, verifies, builds, boots to the marker, and prints each output with its sha256', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {cwd: REPO, encoding: 'utf8', timeout: 540_000})
    const all = `${result.stdout}\n${result.stderr}`
    assert.equal(result.status, 0, all)
    assert.match(all, /STAGEX-APPLIANCE-OK minimal \d/)
    assert.match(all, /trust: core-busybox: 2 distinct signers \(2 needed\)/)
    for (const kind of ['kernel', 'initramfs', 'record']) assert.match(result.stdout, new RegExp(`^ {2}${kind} +/\\S+ {2}sha256:[0-9a-f]{64} {2}\\d+ bytes$`, 'm'), kind)
    // one line per output and step: the initramfs booted and its expect step passed
    assert.match(result.stdout, /^ {2}initramfs ok +step 1: expect \/STAGEX-APPLIANCE-OK minimal\/ at [\d.]+ s/m)
  })
})
