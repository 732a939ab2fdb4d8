// With --json every failure is one JSON document on stdout (kind, exitCode, message), usage errors
// from the argument parser included; without it, one line on stderr and nothing on stdout.
import assert from 'node:assert/strict'
import {runCli} from '../helpers/cli.js'

describe('cli: failures with --json', () => {
  it('a missing argument: exit 2 and one JSON document', () => {
    const r = runCli(['build', '--json'])
    assert.equal(r.code, 2, r.stderr)
    const doc = JSON.parse(r.stdout) as {error: {kind: string; exitCode: number; message: string}}
    assert.deepEqual([doc.error.kind, doc.error.exitCode], ['usage', 2])
    assert.match(doc.error.message, /Missing 1 required arg/)
  })

  it('an unknown flag: exit 2 and one JSON document', () => {
    const r = runCli(['rootfs', 'x.yaml', '--no-such-flag', '--json'])
    assert.equal(r.code, 2, r.stderr)
    assert.equal((JSON.parse(r.stdout) as {error: {kind: string}}).error.kind, 'usage')
  })

  it('without --json: the message on stderr, stdout empty', () => {
    const r = runCli(['build'])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^error: Missing 1 required arg/)
  })
})
