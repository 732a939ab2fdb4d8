// Line-based console matching: whole lines only, partial lines only as partial (no `$` at their end),
// and patterns that backtrack catastrophically cost their budget in a worker, never the main thread.
import assert from 'node:assert/strict'
import {ConsoleLineSplitter, MAX_LINE_CHARS} from '../../src/qemu/console-lines.js'
import {matchesLine} from '../../src/qemu/line-match.js'
import {PatternMatcher} from '../../src/qemu/pattern-matcher.js'

describe('qemu: console lines', () => {
  it('gives complete lines only, however the text is cut', () => {
    const lines = new ConsoleLineSplitter()
    assert.deepEqual(lines.feed('RESULT: O'), [])
    assert.deepEqual(lines.feed('K'), [])
    assert.deepEqual(lines.feed(' -- 3 checks FAILED\nnext'), [{text: 'RESULT: OK -- 3 checks FAILED', partial: false}])
    assert.equal(lines.unfinished, 'next')
  })

  it('offers a partial line once per new text, and cuts an endless line', () => {
    const lines = new ConsoleLineSplitter()
    lines.feed('login: ')
    assert.deepEqual(lines.quietPartial(), {text: 'login: ', partial: true})
    assert.equal(lines.quietPartial(), undefined)
    lines.feed('x')
    assert.deepEqual(lines.quietPartial(), {text: 'login: x', partial: true})
    const long = lines.feed('y'.repeat(MAX_LINE_CHARS * 2))
    assert.deepEqual(long.map((l) => l.text.length), [MAX_LINE_CHARS, MAX_LINE_CHARS])
    assert.equal(lines.unfinished.length, 'login: x'.length)
  })

  it('`$` never matches where a partial line merely stopped', () => {
    assert.equal(matchesLine(/^RESULT: OK$/, 'RESULT: OK', true), false)
    assert.equal(matchesLine(/^RESULT: OK.*$/, 'RESULT: OK', true), false)
    assert.equal(matchesLine(/RESULT: OK/, 'RESULT: OK', true), true)
    assert.equal(matchesLine(/^login: $/, 'login: ', true), false)
    assert.equal(matchesLine(/^RESULT: OK$/, 'RESULT: OK', false), true)
    assert.equal(matchesLine(/^RESULT: OK$/, 'RESULT: OK -- 3 checks FAILED', false), false)
  })

  it('a catastrophic pattern costs its budget in the worker; timers on the main thread keep firing', async function () {
    this.timeout(20_000)
    const matcher = new PatternMatcher(['(a+)+b', '^ok$'], 300)
    try {
      let ticks = 0
      const ticker = setInterval(() => ticks++, 50)
      const started = Date.now()
      const verdict = await matcher.match(0, {text: 'a'.repeat(40), partial: false})
      const seconds = (Date.now() - started) / 1000
      clearInterval(ticker)
      assert.equal(verdict, 'over-budget')
      assert.ok(seconds < 5, `took ${seconds}s`)
      assert.ok(ticks >= 4, `the main thread's timers fired ${ticks} times`)
      // A fresh worker takes the next line.
      assert.equal(await matcher.match(1, {text: 'ok', partial: false}), 'match')
      assert.equal(await matcher.match(1, {text: 'ok', partial: true}), 'no-match')
    } finally {
      await matcher.close()
    }
  })
})
