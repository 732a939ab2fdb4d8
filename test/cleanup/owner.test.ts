// How a leftover's owner is judged (src/cleanup/owner.ts) and how the interrupt line names what it removed.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describeUndone, interruptExitCode} from '../../src/cleanup/interrupt.js'
import {FOREIGN_STALE_HOURS, hostTag, type OwnerMark, ownerOfTempName, processStartTicks, readOwnerMark, tempSuffix, whyStale, writeOwnerMark} from '../../src/cleanup/owner.js'

const owner = (fields: Partial<OwnerMark>): OwnerMark => ({tool: 'stagex-image', pid: process.pid, host: hostTag(), startedAt: Date.now(), ...fields})

describe('cleanup/owner', () => {
  it('a live pid on this host is not stale; an exited one is; a reused one is', () => {
    assert.equal(whyStale(owner({pidStart: processStartTicks(process.pid)})), undefined)
    const dead = spawnSync('true').pid!
    assert.equal(whyStale(owner({pid: dead})), `pid ${dead} has exited`)
    assert.equal(whyStale(owner({pidStart: processStartTicks(process.pid)! + 1})), `pid ${process.pid} is another process now`)
  })

  it(`another host's leftover is stale only after ${FOREIGN_STALE_HOURS} hours`, () => {
    const now = Date.now()
    assert.equal(whyStale(owner({host: 'elsewhere', pid: 1, startedAt: now - 3_600_000}), now), undefined)
    assert.match(whyStale(owner({host: 'elsewhere', pid: 1, startedAt: now - 25 * 3_600_000}), now)!, /^from host elsewhere, 25 h old$/)
  })

  it('temp names carry host and pid; names not ours carry no owner', () => {
    const name = `.abc${tempSuffix('0123abcd')}`
    assert.deepEqual(ownerOfTempName(name, 5), {tool: 'stagex-image', host: hostTag(), pid: process.pid, startedAt: 5})
    assert.equal(ownerOfTempName('.abc.tmp-1234-0123abcd', 5), undefined, 'the old form, without a host')
    assert.equal(ownerOfTempName('.abc.tmp-host-0-0123abcd', 5), undefined, 'pid 0 is no process')
    assert.equal(ownerOfTempName('layer.tar', 5), undefined)
  })

  it('reads back the mark it wrote, and nothing from a folder without one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stagex-owner-test-'))
    try {
      assert.equal(readOwnerMark(dir), undefined)
      writeOwnerMark(dir)
      const mark = readOwnerMark(dir)!
      assert.equal(mark.pid, process.pid)
      assert.equal(mark.host, hostTag())
      assert.equal(whyStale(mark), undefined)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('cleanup/interrupt', () => {
  it('exits 130 for SIGINT and 143 for SIGTERM', () => {
    assert.equal(interruptExitCode('SIGINT'), 130)
    assert.equal(interruptExitCode('SIGTERM'), 143)
  })

  it('names what it stopped and removed in one line', () => {
    assert.equal(describeUndone([], []), 'nothing to remove')
    assert.equal(
      describeUndone(['QEMU (process group 7)'], [
        {what: 'work folder', path: '/t/stagex-image-a'},
        {what: 'partial download', path: '/s/tmp/.a'},
        {what: 'partial download', path: '/s/tmp/.b'},
      ]),
      'stopped QEMU (process group 7); removed the work folder /t/stagex-image-a and 2 partial downloads in /s/tmp',
    )
  })
})
