import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {TOOL_VERSION} from '../../src/version.js'

describe('cli: version', () => {
  it('prints the tool version as JSON', () => {
    const out = execFileSync('node', ['bin/run.js', 'version', '--json'], {encoding: 'utf8'})
    assert.equal(JSON.parse(out).version, TOOL_VERSION)
  })
})
