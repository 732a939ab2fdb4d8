import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {StagexError} from '../../src/errors.js'
import {copyVarsTemplate, findOvmf, OVMF_CANDIDATES, SECURE_BOOT_OVMF_CANDIDATES} from '../../src/qemu/firmware.js'

describe('qemu/firmware', () => {
  let dir = ''
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'stagex-firmware-'))
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('takes the first installed pair, skipping a pair with a missing half', async () => {
    for (const name of ['a-code', 'b-code', 'b-vars']) writeFileSync(join(dir, name), name)
    const pairs = [
      {code: join(dir, 'a-code'), vars: join(dir, 'a-vars')},
      {code: join(dir, 'b-code'), vars: join(dir, 'b-vars')},
    ]
    assert.deepEqual(await findOvmf({}, pairs), pairs[1])
  })

  it('says what to install when nothing is found', async () => {
    await assert.rejects(findOvmf({}, [{code: join(dir, 'x'), vars: join(dir, 'y')}]), (error: unknown) => {
      return error instanceof StagexError && error.exitCode === 2 && /ovmf/.test(error.message)
    })
  })

  it('uses an override only as a complete, readable pair', async () => {
    writeFileSync(join(dir, 'code'), 'c')
    writeFileSync(join(dir, 'vars'), 'v')
    assert.deepEqual(await findOvmf({code: join(dir, 'code'), vars: join(dir, 'vars')}, []), {code: join(dir, 'code'), vars: join(dir, 'vars')})
    await assert.rejects(findOvmf({code: join(dir, 'code')}, []), /both --firmware-code and --firmware-vars/)
    await assert.rejects(findOvmf({code: join(dir, 'code'), vars: join(dir, 'nope')}, []), /not readable/)
  })

  it('gives each run its own copy of the variable store', async () => {
    writeFileSync(join(dir, 'vars'), 'template')
    const copy = await copyVarsTemplate({code: join(dir, 'code'), vars: join(dir, 'vars')}, mkdtempSync(join(dir, 'run-')))
    assert.notEqual(copy, join(dir, 'vars'))
    assert.equal(readFileSync(copy, 'utf8'), 'template')
  })

  it('Secure Boot: the secboot code with a store of enrolled keys, never the plain pair', async function () {
    const found = await findOvmf({}, SECURE_BOOT_OVMF_CANDIDATES).catch((error: unknown) => {
      if (error instanceof StagexError) return undefined
      throw error
    })
    if (!found) {
      console.log('      (skipped: no OVMF Secure Boot firmware installed; scripts/setup.sh installs ovmf)')
      this.skip()
    }
    assert.match(found.code, /secboot/)
    assert.match(found.vars, /snakeoil|secboot/)
    for (const pair of SECURE_BOOT_OVMF_CANDIDATES) assert.ok(!OVMF_CANDIDATES.includes(pair))
    await assert.rejects(findOvmf({}, SECURE_BOOT_OVMF_CANDIDATES.map((c) => ({code: c.code + '.missing', vars: c.vars}))), /no OVMF Secure Boot firmware with enrolled keys found/)
  })

  it('finds the OVMF installed on this machine', async function () {
    try {
      const found = await findOvmf()
      assert.match(found.code, /CODE/i)
    } catch (error) {
      if (error instanceof StagexError) this.skip()
      throw error
    }
  })
})
