import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {profileValidatorSource, VALIDATOR_PATH} from '../../scripts/profile-validator.js'

describe('profile: the generated validator', () => {
  it('is what ajv compiles from schema.ts (run `npm run build` after changing the schema)', async () => {
    assert.equal(await readFile(VALIDATOR_PATH, 'utf8'), profileValidatorSource())
  })
})
