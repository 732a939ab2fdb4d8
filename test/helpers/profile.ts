// Parses profile text as demo.yaml and returns the refusal's message (asserting exit code 2).
import assert from 'node:assert/strict'
import {isStagexError} from '../../src/errors.js'
import {parseProfile} from '../../src/profile/load.js'

export function profileErrorOf(text: string): string {
  try {
    parseProfile(Buffer.from(text), '/p/demo.yaml', 'demo.yaml')
  } catch (error) {
    assert.ok(isStagexError(error), `expected a StagexError, got ${error}`)
    assert.equal(error.exitCode, 2)
    return error.message
  }
  assert.fail('the profile was accepted')
}
