// The JUnit report: counts per output and in total, a failure with the console tail, statuses as
// properties, and well-formed XML whatever the guest printed.
import assert from 'node:assert/strict'
import {XMLParser, XMLValidator} from 'fast-xml-parser'
import {junitXml} from '../../src/pipeline/junit.js'

describe('pipeline: JUnit report', () => {
  const xml = junitXml('demo', [
    {output: 'disk', seconds: 9.5, reason: 'all 1 step(s) passed', steps: [{step: 'expect /OK/', kind: 'expect', outcome: 'passed', atSeconds: 9.5, seconds: 9.5}], consoleTail: [], runFolder: null},
    {
      output: 'initramfs',
      seconds: 7,
      reason: 'step 2 (expect-exit 0): the guest powered off with status 3',
      steps: [
        {step: 'expect /OK/', kind: 'expect', outcome: 'passed', atSeconds: 6, seconds: 6},
        {step: 'expect-exit 0', kind: 'expect-exit', outcome: 'failed', atSeconds: 7, seconds: 1, status: 3, detail: 'the guest powered off with status 3'},
        {step: 'send "x"', kind: 'send', outcome: 'not-run'},
      ],
      consoleTail: ['OK <&> "quoted"', 'bell \x07 and \uFFFF here'],
      runFolder: '/tmp/stagex-boot-x',
    },
  ])

  it('is well-formed XML with the right counts', () => {
    assert.equal(XMLValidator.validate(xml), true)
    const doc = new XMLParser({ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase'].includes(name)}).parse(xml)
    assert.deepEqual([doc.testsuites.tests, doc.testsuites.failures, doc.testsuites.skipped], ['4', '1', '1'])
    const [disk, initramfs] = doc.testsuites.testsuite
    assert.deepEqual([disk.name, disk.tests, disk.failures], ['demo disk', '1', '0'])
    assert.deepEqual([initramfs.name, initramfs.tests, initramfs.failures, initramfs.skipped], ['demo initramfs', '3', '1', '1'])
    const failed = initramfs.testcase[1]
    assert.equal(failed.properties.property.value, '3')
    assert.equal(failed.failure.type, 'failed')
    assert.match(failed.failure['#text'], /OK <&> "quoted"/)
    assert.match(failed.failure['#text'], /run folder kept: \/tmp\/stagex-boot-x/)
  })
})
