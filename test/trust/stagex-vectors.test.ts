// Real StageX signatures and maintainer keys (../shared/vectors/stagex), read in place through a
// file:// lookaside laid out as sigs.stagex.tools is.
import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import type {StagexError} from '../../src/errors.js'
import {keyringFingerprints, readKeyring, type Keyring} from '../../src/trust/keyring.js'
import {fetchSignatures, signatureUrl} from '../../src/trust/lookaside.js'
import {verifyImageSignatures} from '../../src/trust/policy.js'
import type {TrustRow} from '../../src/trust/trust-table.js'

const root = new URL('../../../shared/vectors/stagex/', import.meta.url)
const lookaside = new URL('signatures/', root).href
const keyDir = new URL('keys/', root)

const LANCE = '6B61ECD76088748C70590D55E90A401336C8AAA9'
const DANNY = 'C92FE5A3FBD58DD3EC5AA26BB10116B8193F2DBD'

const images = {
  'core-busybox': 'sha256:cac5d773db1c69b832d022c469ccf5f52daf223b91166e6866d42d6983a3b374',
  'core-filesystem': 'sha256:2aaaea601e1725a8292c4c28e723db5761d892b869556f9b05c0983ba11fe30e',
  'user-linux-generic': 'sha256:8559d732eb18b5bcce354e6f26e61deff22765a508ea8e06ffdd07ff26dc58ff',
  libassuan: 'sha256:17a7f84f2f279134fa51b7b5b3343ec6483cc0878229e611fb8021690c4b015c',
  bzip2: 'sha256:d312cc5d80ecda841fb1edcd927d3df904d9e201240eafa1634f86780eba2c48',
  eif_build: 'sha256:82a8b6a8db81fa69b7d10979676cc0f1fd59676dd764bd0c36f5b5593f69cb20',
} as const

type Package = keyof typeof images

async function tableFor(pkg: Package, keyring: Keyring, legacy: boolean, threshold = 1): Promise<{table: TrustRow[]; exitCode?: number; message?: string}> {
  const repository = `docker.io/stagex/${pkg}`
  const signatures = await fetchSignatures({lookaside, repository, manifestDigest: images[pkg]})
  try {
    const result = await verifyImageSignatures({repository, manifestDigest: images[pkg], signatures, keyring, threshold, legacy})
    return {table: result.table}
  } catch (error) {
    const failure = error as StagexError
    return {table: failure.details!.table as TrustRow[], exitCode: failure.exitCode, message: failure.message}
  }
}

describe('trust: real StageX signatures', () => {
  let keyring: Keyring
  before(async () => {
    const files = readdirSync(keyDir).filter((name) => /\.(asc|pgp)$/.test(name))
    keyring = await readKeyring(files.map((name) => readFileSync(new URL(name, keyDir))))
  })

  it('reads every stored maintainer key copy (6 files, 2 primary keys)', () => {
    assert.equal(keyring.keys.length, 6)
    assert.deepEqual(keyringFingerprints(keyring).sort(), [LANCE, DANNY].sort())
  })

  it('forms lookaside URLs as sigs.stagex.tools lays them out', () => {
    assert.equal(
      signatureUrl('https://sigs.stagex.tools', 'docker.io/stagex/core-busybox', images['core-busybox'], 3).href,
      'https://sigs.stagex.tools/stagex/core-busybox@sha256=cac5d773db1c69b832d022c469ccf5f52daf223b91166e6866d42d6983a3b374/signature-3',
    )
  })

  it('fetches signature-1..N from a file:// lookaside and stops at the first missing one', async () => {
    const found = await fetchSignatures({lookaside, repository: 'stagex/core-busybox', manifestDigest: images['core-busybox']})
    assert.deepEqual(found.map((file) => file.name), ['signature-1', 'signature-2', 'signature-3', 'signature-4', 'signature-5'])
    const missing = await fetchSignatures({lookaside, repository: 'stagex/core-busybox', manifestDigest: `sha256:${'0'.repeat(64)}`})
    assert.deepEqual(missing, [])
  })

  it('libassuan signature-1 (Lance, 2024-03-05, key valid until 2024-07-20) verifies with legacy on', async () => {
    const {table, exitCode} = await tableFor('libassuan', keyring, true)
    assert.equal(exitCode, undefined)
    assert.equal(table[0]!.counted, true)
    assert.equal(table[0]!.signer, LANCE)
    assert.match(table[0]!.signerName ?? '', /Lance/)
    assert.match(table[0]!.reason, /^ok: signed 2024-03-05.*legacy StageX payload/)
    // Anton and Ryan: keys not stored here.
    assert.match(table[1]!.reason, /F4BF5C81EC78A5DD|44A86CFF1FDF0E85, which is not in the keyring/)
    assert.match(table[2]!.reason, /which is not in the keyring/)
    // signature-4 is truncated: payload without a signature packet must never count.
    assert.equal(table[3]!.counted, false)
    assert.match(table[3]!.reason, /^openpgp: .*(no signature packet|Missing trailing signature packets)/)
  })

  it('libassuan: one maintainer is not two (threshold 2 fails with exit 3 and the table)', async () => {
    const {table, exitCode, message} = await tableFor('libassuan', keyring, true, 2)
    assert.equal(exitCode, 3)
    assert.match(message!, /image docker\.io\/stagex\/libassuan@sha256:17a7f84f.* 1 valid distinct signer found, 2 needed/)
    assert.equal(table.length, 4)
  })

  it('libassuan signature-1 is refused with legacy off (payload)', async () => {
    const {table, exitCode} = await tableFor('libassuan', keyring, false)
    assert.equal(exitCode, 3)
    assert.equal(table[0]!.signer, LANCE)
    assert.match(table[0]!.reason, /^payload: legacy StageX payload/)
  })

  for (const pkg of ['core-busybox', 'core-filesystem', 'user-linux-generic'] as const) {
    it(`${pkg}: Danny's and Lance's 2025 signatures are refused (their stored keys had expired before they signed)`, async () => {
      for (const legacy of [true, false]) {
        const {table, exitCode} = await tableFor(pkg, keyring, legacy)
        assert.equal(exitCode, 3)
        assert.equal(table.length, 5)
        assert.ok(table.every((row) => !row.counted))
        for (const index of [2, 3]) assert.match(table[index]!.reason, /^openpgp: .*expired/i, `signature-${index + 1}`)
        for (const index of [0, 1, 4]) assert.match(table[index]!.reason, /not in the keyring/, `signature-${index + 1}`)
      }
    })
  }

  for (const pkg of ['bzip2', 'eif_build'] as const) {
    it(`${pkg}: an empty signature file is refused`, async () => {
      const {table, exitCode} = await tableFor(pkg, keyring, true)
      assert.equal(exitCode, 3)
      assert.deepEqual(table, [{file: 'signature-1', counted: false, reason: 'openpgp: empty file'}])
    })
  }

  it('core-busybox@sha256= (empty digest) cannot be asked for', () => {
    assert.throws(
      () => signatureUrl(lookaside, 'stagex/core-busybox', 'sha256:', 1),
      (error: StagexError) => error.exitCode === 4 && /not a valid sha256 digest/.test(error.message),
    )
  })

  it("a D signature checked against only Lance's keys finds no key", async () => {
    const lanceOnly = await readKeyring(readFileSync(new URL('lance-vick_6B61ECD7_tkhq-qos_87f78efe_exp2024-07-20.asc', keyDir)))
    const {table} = await tableFor('core-busybox', lanceOnly, true)
    assert.match(table[2]!.reason, /^openpgp: signed by key .*which is not in the keyring/)
  })
})
