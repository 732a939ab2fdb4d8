// A profile's lookaside URL: relative file:// folders are resolved against the profile's folder.
import assert from 'node:assert/strict'
import {resolveLookasideUrl} from '../../src/trust/lookaside.js'

describe('trust: resolveLookasideUrl', () => {
  it('resolves file://REL and file:REL against the base folder', () => {
    assert.equal(resolveLookasideUrl('file://../.cache/world/sigs', '/repo/profiles'), 'file:///repo/.cache/world/sigs')
    assert.equal(resolveLookasideUrl('file://sigs/', '/repo/profiles'), 'file:///repo/profiles/sigs/')
    assert.equal(resolveLookasideUrl('file:../sigs', '/repo/profiles'), 'file:///repo/sigs')
    assert.equal(resolveLookasideUrl('file://../my%20sigs', '/repo/profiles'), 'file:///repo/my%20sigs')
  })
  it('keeps absolute file URLs and http(s) URLs as they are', () => {
    assert.equal(resolveLookasideUrl('file:///srv/sigs', '/repo/profiles'), 'file:///srv/sigs')
    assert.equal(resolveLookasideUrl('https://sigs.stagex.tools', '/repo/profiles'), 'https://sigs.stagex.tools')
    assert.equal(resolveLookasideUrl('http://127.0.0.1:8080/sigs/', '/repo/profiles'), 'http://127.0.0.1:8080/sigs/')
  })
})
