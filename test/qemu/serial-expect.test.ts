import assert from 'node:assert/strict'
import {StagexError} from '../../src/errors.js'
import {consoleText, createSerialMatcher} from '../../src/qemu/serial-expect.js'

describe('qemu/serial-expect', () => {
  describe('consoleText', () => {
    it('removes the escape sequences firmware paints the screen with, and carriage returns', () => {
      assert.equal(consoleText('\x1bc\x1b[?7l\x1b[2J\x1b[01;01HBdsDxe: loading\r\n'), 'BdsDxe: loading\n')
      assert.equal(consoleText('a\x1b]0;title\x07b\x00c\td'), 'abc\td')
    })
  })

  describe('createSerialMatcher', () => {
    it('matches expectations in order, each after the previous one', () => {
      const matcher = createSerialMatcher(['second', 'first'])
      assert.deepEqual(
        matcher.feed('first\nsecond\n', 1).map((e) => e.kind),
        ['seen'],
      )
      assert.deepEqual(matcher.missing(), ['first'])
      const events = matcher.feed('first again\n', 2)
      assert.deepEqual(
        events.map((e) => e.kind),
        ['seen', 'all-seen'],
      )
      assert.deepEqual(matcher.seen(), [
        {pattern: 'second', atSeconds: 1},
        {pattern: 'first', atSeconds: 2},
      ])
      assert.deepEqual(matcher.missing(), [])
    })

    it('does not let one occurrence satisfy two expectations', () => {
      const matcher = createSerialMatcher(['OK', 'OK'])
      matcher.feed('OK\n', 1)
      assert.deepEqual(matcher.missing(), ['OK'])
      matcher.feed('OK\n', 2)
      assert.deepEqual(matcher.missing(), [])
    })

    it('finds a pattern split across chunks', () => {
      const matcher = createSerialMatcher(['STAGEX-BOOT-OK'])
      for (const [i, piece] of ['STA', 'GEX-B', 'OOT', '-OK\n'].entries()) matcher.feed(piece, i)
      assert.deepEqual(matcher.seen(), [{pattern: 'STAGEX-BOOT-OK', atSeconds: 3}])
    })

    it('treats patterns as regular expressions with ^ and $ at line ends', () => {
      const matcher = createSerialMatcher(['^login: ?$', 'Linux version \\d+\\.\\d+'])
      matcher.feed('[ 0.0] Linux version 6.1.0\nx login: y\nlogin: \n', 1)
      assert.deepEqual(matcher.missing(), ['Linux version \\d+\\.\\d+'])
    })

    it('reports a kernel panic once, even when the marker is split, and keeps its line', () => {
      const matcher = createSerialMatcher(['never'])
      assert.deepEqual(matcher.feed('[ 1.5] Kernel pan', 1), [])
      const events = matcher.feed('ic - not syncing: Attempted to kill init!', 2)
      assert.deepEqual(events, [{kind: 'panic', atSeconds: 2}])
      matcher.feed(' exitcode=0x00000300\nCPU: 0 PID: 1\nKernel panic - not syncing again\n', 3)
      assert.equal(matcher.panicLine(), '[ 1.5] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000300')
    })

    it('reports a fail pattern with its line', () => {
      const matcher = createSerialMatcher(['BOOT-OK'], ['Oops|BUG:'])
      const events = matcher.feed('fine\n[ 2.0] BUG: unable to handle page fault\n', 4)
      assert.deepEqual(events, [{kind: 'fail-pattern', pattern: 'Oops|BUG:', atSeconds: 4}])
      assert.equal(matcher.failLine(), '[ 2.0] BUG: unable to handle page fault')
    })

    it('rejects an invalid regular expression as a usage error', () => {
      assert.throws(
        () => createSerialMatcher(['(unclosed']),
        (error: unknown) => error instanceof StagexError && error.exitCode === 2 && /--expect/.test(error.message),
      )
    })

    it('bounds the text it keeps while nothing matches', () => {
      const matcher = createSerialMatcher(['END'])
      for (let i = 0; i < 200; i++) matcher.feed('x'.repeat(1000) + '\n', i)
      matcher.feed('END\n', 200)
      assert.deepEqual(matcher.missing(), [])
    })
  })
})
