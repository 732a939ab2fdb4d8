// The profile's test: section: expect (with its own timeout), send, expect-exit, fail-on.
import assert from 'node:assert/strict'
import {isStagexError} from '../../src/errors.js'
import {parseProfile} from '../../src/profile/load.js'

const withTest = (test: string) => Buffer.from(`name: demo
packages: [core-busybox]
kernel: {package: user-linux-generic}
test:
${test}`)

describe('profile: test steps', () => {
  it('reads expect with a timeout, send, expect-exit and fail-on', () => {
    const profile = parseProfile(
      withTest(`  fail-on: ["segfault"]
  steps:
    - expect: "^READY$"
      timeout: 2.5
    - send: "echo hi"
    - expect-exit: 3
    - expect-exit: true
`),
      '/p/demo.yaml',
    )
    assert.deepEqual(profile.test.steps, [{expect: '^READY$', timeout: 2.5}, {send: 'echo hi'}, {expectExit: 3}, {expectExit: true}])
    assert.deepEqual(profile.test.failOn, ['segfault'])
  })

  it('leaves fail-on to the harness defaults when absent', () => {
    assert.equal(parseProfile(withTest('  steps: [{expect: OK}]\n'), '/p/demo.yaml').test.failOn, undefined)
  })

  for (const [what, test] of [
    ['a step that is two kinds at once', '  steps: [{expect: OK, send: x}]\n'],
    ['a status above 127', '  steps: [{expect-exit: 300}]\n'],
    ['a zero timeout', '  steps: [{expect: OK, timeout: 0}]\n'],
    ['a timeout on send', '  steps: [{send: x, timeout: 3}]\n'],
  ] as const)
    it(`refuses ${what} (exit 2)`, () => {
      assert.throws(
        () => parseProfile(withTest(test), '/p/demo.yaml'),
        (error) => isStagexError(error) && error.exitCode === 2,
      )
    })
})
