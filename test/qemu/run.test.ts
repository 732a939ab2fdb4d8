// runQemu's process handling, with a shell standing in for QEMU: fast, and it can misbehave on purpose.
import assert from 'node:assert/strict'
import {liveGroupMembers, liveGroups} from '../../src/qemu/process-group.js'
import {runQemu} from '../../src/qemu/run.js'

const shell = (script: string) => ({binary: 'sh', argv: ['-c', script]})

describe('qemu/run (with a stand-in for QEMU)', function () {
  this.timeout(20_000)

  it('reports a process that exits by itself, with its status and stderr', async () => {
    const chunks: string[] = []
    const end = await runQemu({
      ...shell('echo console-line; echo qemu-complaint >&2; exit 3'),
      deadlineSeconds: 10,
      onConsole: (chunk) => void chunks.push(chunk.toString()),
    })
    assert.equal(end.ending, 'exited')
    assert.deepEqual(end.exit, {code: 3, signal: null})
    assert.equal(chunks.join(''), 'console-line\n')
    assert.equal(end.stderrTail, 'qemu-complaint\n')
  })

  it('kills the whole process group at the deadline, grandchildren included', async () => {
    const started = Date.now()
    // The grandchild ignores SIGTERM and would outlive a kill of the direct child alone.
    const end = await runQemu({
      ...shell("sh -c 'trap \"\" TERM; while :; do sleep 1; done' & echo started; wait"),
      deadlineSeconds: 1,
      graceSeconds: 0.5,
      onConsole: () => undefined,
    })
    assert.equal(end.ending, 'deadline')
    assert.equal(end.exit, null)
    assert.ok(Date.now() - started < 5000)
    assert.deepEqual(liveGroupMembers(end.pid), [])
    assert.deepEqual(liveGroups(), [])
  })

  it('stops when the console handler asks, at once or a little later', async () => {
    const end = await runQemu({
      ...shell('echo ready; sleep 30'),
      deadlineSeconds: 10,
      onConsole: (chunk) => (chunk.toString().includes('ready') ? {afterSeconds: 0.3} : undefined),
    })
    assert.equal(end.ending, 'stopped')
    assert.ok(end.seconds >= 0.25 && end.seconds < 5, `stopped after ${end.seconds}s`)
    assert.deepEqual(liveGroupMembers(end.pid), [])
  })

  it('kills the group also when the console handler throws', async () => {
    let pid = 0
    await assert.rejects(
      runQemu({
        ...shell('echo $$; sleep 30'),
        deadlineSeconds: 10,
        onConsole: (chunk) => {
          pid = Number.parseInt(chunk.toString(), 10)
          throw new Error('handler failed')
        },
      }),
      /handler failed/,
    )
    assert.ok(pid > 0)
    assert.deepEqual(liveGroupMembers(pid), [])
  })

  it('names the missing binary', async () => {
    await assert.rejects(
      runQemu({binary: '/nonexistent/qemu-system-x86_64', argv: [], deadlineSeconds: 1, onConsole: () => undefined}),
      /not found: install qemu-system-x86/,
    )
  })
})
