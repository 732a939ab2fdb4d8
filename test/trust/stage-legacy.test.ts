// The trust stage with trust.legacy: StageX's pre-June-2025 signatures signed the INDEX digest and
// are filed under it, so with legacy on they count next to the ones filed under the manifest digest.
import assert from 'node:assert/strict'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import * as openpgp from 'openpgp'
import {isStagexError} from '../../src/errors.js'
import {parseProfile} from '../../src/profile/load.js'
import {profileTrustPolicy, trustStage} from '../../src/trust/stage.js'

const INDEX = `sha256:${'1a'.repeat(32)}` as const
const MANIFEST = `sha256:${'2b'.repeat(32)}` as const

async function key(name: string) {
  const {privateKey} = await openpgp.generateKey({type: 'ecc', curve: 'ed25519Legacy', userIDs: [{name}], date: new Date('2020-01-01Z'), format: 'object'})
  return privateKey
}

const legacyPayload = (hex: string) =>
  JSON.stringify([{critical: {identity: {'docker-reference': 'stagex/core-busybox'}, image: {'docker-manifest-digest': hex}, type: 'pgp container image signature'}, optional: null}])
const modernPayload = (digest: string) =>
  JSON.stringify({critical: {identity: {'docker-reference': 'docker.io/stagex/core-busybox'}, image: {'docker-manifest-digest': digest}, type: 'atomic container signature'}, optional: {}})

async function sign(by: openpgp.PrivateKey, text: string) {
  const message = await openpgp.createMessage({binary: new TextEncoder().encode(text)})
  return openpgp.sign({message, signingKeys: by, format: 'binary', date: new Date('2024-06-01Z')})
}

describe('trust: stage with legacy StageX signatures under the index digest', () => {
  let dir: string
  let a: openpgp.PrivateKey
  let b: openpgp.PrivateKey
  const profileWith = (legacy: boolean) =>
    parseProfile(
      Buffer.from(`name: legacy\npackages: [core-busybox]\nkernel: {package: user-linux-generic}\ntrust:\n  keyring: keys.asc\n  threshold: 2\n  lookaside: file://${dir}/sigs\n  legacy: ${legacy}\n`),
      join(dir, 'profile.yaml'),
    )

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-legacy-'))
    ;[a, b] = await Promise.all([key('Alice'), key('Bob')])
    await writeFile(join(dir, 'keys.asc'), a.toPublic().armor() + b.toPublic().armor())
    // Alice signed the index the legacy way; Bob signed the manifest the current way.
    const underIndex = join(dir, 'sigs/stagex/core-busybox@sha256=' + INDEX.slice(7))
    const underManifest = join(dir, 'sigs/stagex/core-busybox@sha256=' + MANIFEST.slice(7))
    await mkdir(underIndex, {recursive: true})
    await mkdir(underManifest, {recursive: true})
    await writeFile(join(underIndex, 'signature-1'), await sign(a, legacyPayload(INDEX.slice(7))))
    await writeFile(join(underManifest, 'signature-1'), await sign(b, modernPayload(MANIFEST)))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  const image = {name: 'core-busybox', identity: 'docker.io/stagex/core-busybox', manifestDigest: MANIFEST, indexDigest: INDEX}

  it('counts the legacy signature under the index digest when trust.legacy is on', async () => {
    const result = await trustStage(profileTrustPolicy(profileWith(true))!, [image])
    assert.equal(result.mode, 'verified')
    if (result.mode !== 'verified') return
    assert.deepEqual(
      result.images[0]!.signers.map((s) => s.fingerprint).sort(),
      [a.getFingerprint().toUpperCase(), b.getFingerprint().toUpperCase()].sort(),
    )
    assert.deepEqual(result.images[0]!.table.map((r) => r.file), ['2b2b2b2b2b2b/signature-1', '1a1a1a1a1a1a/signature-1'])
  })

  it('does not look there without trust.legacy: one signer, exit 3', async () => {
    await assert.rejects(trustStage(profileTrustPolicy(profileWith(false))!, [image]), (error: unknown) => {
      assert.ok(isStagexError(error))
      assert.equal(error.exitCode, 3)
      assert.match(error.message, /1 valid distinct signer/)
      return true
    })
  })
})
