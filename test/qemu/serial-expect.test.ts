import assert from 'node:assert/strict'
import {consoleText} from '../../src/qemu/serial-expect.js'

describe('qemu/serial-expect', () => {
  describe('consoleText', () => {
    it('removes the escape sequences firmware paints the screen with, and carriage returns', () => {
      assert.equal(consoleText('\x1bc\x1b[?7l\x1b[2J\x1b[01;01HBdsDxe: loading\r\n'), 'BdsDxe: loading\n')
      assert.equal(consoleText('a\x1b]0;title\x07b\x00c\td'), 'abc\td')
    })
  })
})
