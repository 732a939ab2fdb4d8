// Threshold rules with three test maintainers made at test time with openpgp.js: A and B sign with
// their primary keys, C with a signing subkey; D is a key outside the keyring.
import assert from 'node:assert/strict'
import * as openpgp from 'openpgp'
import type {StagexError} from '../../src/errors.js'
import {readKeyring, type Keyring} from '../../src/trust/keyring.js'
import {verifyImageSignatures} from '../../src/trust/policy.js'
import {formatTrustTable, type TrustRow} from '../../src/trust/trust-table.js'

const REPOSITORY = 'docker.io/stagex/core-busybox'
const DIGEST = `sha256:${'ab'.repeat(32)}` as const
const OTHER_DIGEST = `sha256:${'cd'.repeat(32)}` as const

interface Maintainer {
  name: string
  key: openpgp.PrivateKey
  fingerprint: string
}

const KEY_DATE = new Date('2020-01-01T00:00:00Z')

async function maintainer(name: string, viaSubkey = false, keyExpirationTime?: number): Promise<Maintainer> {
  const {privateKey} = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{name, email: `${name.toLowerCase()}@example.test`}],
    subkeys: viaSubkey ? [{sign: true}] : [],
    date: KEY_DATE,
    keyExpirationTime,
    format: 'object',
  })
  return {name, key: privateKey, fingerprint: privateKey.getFingerprint().toUpperCase()}
}

const payload = (digest: string, reference = REPOSITORY) =>
  JSON.stringify({
    critical: {identity: {'docker-reference': `${reference}:latest`}, image: {'docker-manifest-digest': digest}, type: 'atomic container signature'},
    optional: {creator: 'stagex-image test'},
  })

async function sign(by: Maintainer, text: string, date = new Date('2021-06-01T00:00:00Z')): Promise<Uint8Array> {
  const message = await openpgp.createMessage({binary: new TextEncoder().encode(text)})
  return openpgp.sign({message, signingKeys: by.key, format: 'binary', date})
}

describe('trust: distinct signers and the threshold', () => {
  let a: Maintainer, b: Maintainer, c: Maintainer, d: Maintainer
  let keyring: Keyring

  before(async () => {
    ;[a, b, c, d] = await Promise.all([maintainer('Alice'), maintainer('Bob'), maintainer('Carol', true), maintainer('Dave')])
    keyring = await readKeyring(a.key.toPublic().armor() + b.key.toPublic().armor() + c.key.toPublic().armor())
  })

  const run = (signatures: Uint8Array[], threshold: number, extra: {now?: Date} = {}) =>
    verifyImageSignatures({
      repository: REPOSITORY,
      manifestDigest: DIGEST,
      signatures: signatures.map((bytes, index) => ({name: `signature-${index + 1}`, bytes})),
      keyring,
      threshold,
      ...extra,
    })

  const failure = async (promise: Promise<unknown>): Promise<StagexError> => {
    try {
      await promise
    } catch (error) {
      return error as StagexError
    }
    return assert.fail('expected the trust stage to fail')
  }

  it('2 of 3 maintainers (one through a subkey) pass threshold 2, each reported by its PRIMARY key', async () => {
    const result = await run([await sign(a, payload(DIGEST)), await sign(c, payload(DIGEST))], 2)
    assert.equal(result.distinctSigners, 2)
    assert.deepEqual(result.counted.map((signer) => signer.fingerprint), [a.fingerprint, c.fingerprint])
    assert.match(result.counted[1]!.name!, /^Carol </)
    assert.match(result.table[1]!.reason, /^ok: signed 2021-06-01T00:00:00.000Z by subkey [0-9A-F]{40}$/)
    assert.notEqual(result.table[1]!.reason.slice(-40), c.fingerprint)
  })

  it('one signature against threshold 2 fails with exit 3, the counts, the image and the table', async () => {
    const error = await failure(run([await sign(b, payload(DIGEST))], 2))
    assert.equal(error.kind, 'trust')
    assert.equal(error.exitCode, 3)
    assert.match(error.message, new RegExp(`^image ${REPOSITORY}@${DIGEST} is not trusted: 1 valid distinct signer found, 2 needed`))
    const table = error.details!.table as TrustRow[]
    assert.deepEqual(table.map((row) => [row.file, row.signer, row.counted]), [['signature-1', b.fingerprint, true]])
    assert.equal(error.details!.distinctSigners, 1)
    assert.equal(error.details!.threshold, 2)
  })

  it('the same key twice counts once', async () => {
    const twice = [await sign(a, payload(DIGEST)), await sign(a, payload(DIGEST), new Date('2021-07-01T00:00:00Z'))]
    const error = await failure(run(twice, 2))
    assert.equal(error.exitCode, 3)
    const table = error.details!.table as TrustRow[]
    assert.deepEqual(table.map((row) => row.counted), [true, false])
    assert.equal(table[1]!.signer, a.fingerprint)
    assert.match(table[1]!.reason, /^duplicate: .* already counted for signature-1/)
    assert.equal((await run(twice, 1)).distinctSigners, 1)
  })

  it("a signature over another image's digest is refused (digest)", async () => {
    const error = await failure(run([await sign(a, payload(DIGEST)), await sign(b, payload(OTHER_DIGEST))], 2))
    const table = error.details!.table as TrustRow[]
    assert.equal(table[1]!.counted, false)
    assert.match(table[1]!.reason, new RegExp(`^digest: signed ${OTHER_DIGEST}, but the manifest is ${DIGEST}`))
  })

  it('a signature naming another repository is refused (identity); docker.io/ prefix or not is the same', async () => {
    const sameRepo = await sign(a, payload(DIGEST, 'stagex/core-busybox'))
    const otherRepo = await sign(b, payload(DIGEST, 'docker.io/stagex/core-bash'))
    const error = await failure(run([sameRepo, otherRepo], 2))
    const table = error.details!.table as TrustRow[]
    assert.equal(table[0]!.counted, true)
    assert.match(table[1]!.reason, /^identity: signed for docker.io\/stagex\/core-bash, but the image is docker.io\/stagex\/core-busybox/)
  })

  it('a key outside the keyring does not count', async () => {
    const error = await failure(run([await sign(a, payload(DIGEST)), await sign(d, payload(DIGEST))], 2))
    const table = error.details!.table as TrustRow[]
    assert.equal(table[1]!.signer, undefined)
    assert.match(table[1]!.reason, /^openpgp: signed by key [0-9A-F]{16}, which is not in the keyring/)
  })

  it('a key that has expired since it signed still counts; the same signature with the key revoked now does not', async () => {
    const eve = await maintainer('Eve', false, 3 * 365 * 24 * 3600)
    const signature = await sign(eve, payload(DIGEST))
    const eveRing = await readKeyring(eve.key.toPublic().armor())
    const ok = await verifyImageSignatures({repository: REPOSITORY, manifestDigest: DIGEST, signatures: [{name: 'signature-1', bytes: signature}], keyring: eveRing, threshold: 1})
    assert.deepEqual(ok.counted.map((signer) => signer.fingerprint), [eve.fingerprint])

    // A soft revocation ("superseded") made after the signature: openpgp.js alone would accept
    // the signature (the key was not revoked when it signed); "not revoked now" refuses it.
    const {privateKey: revoked} = await openpgp.revokeKey({
      key: eve.key,
      reasonForRevocation: {flag: openpgp.enums.reasonForRevocation.keySuperseded},
      date: new Date('2022-01-01T00:00:00Z'),
      format: 'object',
    })
    const revokedRing = await readKeyring([eve.key.toPublic().armor(), revoked.toPublic().armor()])
    const error = await failure(
      verifyImageSignatures({repository: REPOSITORY, manifestDigest: DIGEST, signatures: [{name: 'signature-1', bytes: signature}], keyring: revokedRing, threshold: 1}),
    )
    assert.equal(error.exitCode, 3)
    assert.match((error.details!.table as TrustRow[])[0]!.reason, /^openpgp: primary key [0-9A-F]{40} is revoked/)
  })

  it('a signature dated after "now" does not count (expired.signature in the vectors covers expiry)', async () => {
    const signature = await sign(a, payload(DIGEST), new Date('2021-06-01T00:00:00Z'))
    const error = await failure(run([signature], 1, {now: new Date('2021-05-01T00:00:00Z')}))
    assert.equal(error.exitCode, 3)
    assert.match((error.details!.table as TrustRow[])[0]!.reason, /^openpgp: .*(expired|future)/i)
  })

  it('formats the table for people', async () => {
    const error = await failure(run([await sign(a, payload(DIGEST)), new Uint8Array()], 2))
    const text = formatTrustTable(error.details!.table as TrustRow[])
    const lines = text.split('\n')
    assert.match(lines[0]!, /^FILE\s+SIGNER\s+COUNTED\s+REASON$/)
    assert.match(lines[1]!, new RegExp(`^signature-1\\s+${a.fingerprint} \\(Alice <alice@example.test>\\)\\s+yes\\s+ok: `))
    assert.match(lines[2]!, /^signature-2\s+-\s+no\s+openpgp: empty file$/)
    assert.ok(error.message.includes(text), 'the error message carries the table')
  })

  it('refuses a threshold below 1 as a usage error', async () => {
    const error = await failure(run([], 0))
    assert.equal(error.exitCode, 2)
  })
})
