import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {
  bytesToGuid,
  deriveDiskGuid,
  deriveId,
  derivePartitionGuid,
  deriveUuid,
  deriveVolumeId,
  guidFromDisk,
  guidToBytes,
  guidToDisk,
  parseSeed,
} from '../../src/formats/seed.js'

const vectors = new URL('../../../shared/vectors/disk/', import.meta.url)
const repart = JSON.parse(readFileSync(new URL('systemd-repart/vectors.json', vectors), 'utf8'))
const seed = parseSeed(repart.seed)

describe('formats: seed', () => {
  it('derives systemd-repart\'s disk GUID (label-id) for the TEST-58 seed', () => {
    assert.equal(deriveDiskGuid(seed), repart.expectedFromSystemdTest.emptyDisk['label-id'])
    assert.equal(deriveDiskGuid(seed), '1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBD')
  })

  it('derives every partition UUID listed in the vectors', () => {
    const table = repart.expectedFromSystemdTest['partitionUUIDs(k = index among earlier partitions of the same type)']
    const typeOf: Record<string, string> = {}
    let checked = 0
    for (const [key, expected] of Object.entries(table) as [string, string][]) {
      const m = /^(\S+) (?:([0-9A-F-]{36}) )?k=(\d+)$/.exec(key)
      assert.ok(m, key)
      if (m[2]) typeOf[m[1]!] = m[2]
      const type = typeOf[m[1]!]
      assert.ok(type, `type for ${key}`)
      assert.equal(derivePartitionGuid(seed, type, Number(m[3])), expected, key)
      checked++
    }
    assert.equal(checked, 8)
  })

  it('different seeds and different k give different GUIDs', () => {
    const other = parseSeed('750b6cd5c4ae4012a15e7be3c29e6a48')
    assert.notEqual(deriveDiskGuid(other), deriveDiskGuid(seed))
    const esp = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'
    assert.notEqual(derivePartitionGuid(seed, esp, 0), derivePartitionGuid(seed, esp, 1))
  })

  it('converts GUID strings to GPT mixed-endian bytes and back', () => {
    assert.equal(Buffer.from(guidToDisk('1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBD')).toString('hex'), '91e22c1dce7c7d4fbc83fdb49ad74ebd')
    assert.equal(
      Buffer.from(guidToDisk('C12A7328-F81F-11D2-BA4B-00A0C93EC93B')).toString('hex'),
      '28732ac11ff8d211ba4b00a0c93ec93b',
    )
    assert.equal(guidFromDisk(Buffer.from('0b36a35ce65dcf4fb4ce419cee433b51', 'hex')), '5CA3360B-5DE6-4FCF-B4CE-419CEE433B51')
    assert.equal(bytesToGuid(guidToBytes('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf')), 'A0A1A2A3-A4A5-A6A7-A8A9-AAABACADAEAF')
    assert.throws(() => guidToBytes('not-a-guid'))
  })

  it('sets version 4 and the RFC 4122 variant; deriveId gives the raw HMAC', () => {
    const raw = deriveId(seed, 'disk-uuid')
    assert.equal(raw.length, 32)
    const v4 = deriveUuid(seed, 'disk-uuid')
    assert.equal(v4[6]! >> 4, 4)
    assert.equal(v4[8]! >> 6, 2)
    assert.deepEqual(v4.subarray(0, 6), raw.subarray(0, 6))
    assert.deepEqual(v4.subarray(9, 16), raw.subarray(9, 16))
    assert.equal(deriveVolumeId(seed), Buffer.from(deriveId(seed, 'fat-volume-id')).readUInt32BE(0))
    assert.notEqual(deriveVolumeId(seed, 'a'), deriveVolumeId(seed, 'b'))
  })
})
