// containers/image's simple-signing fixtures (../shared/vectors/signing), read in place.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {StagexError} from '../../src/errors.js'
import {keyringFingerprints, readKeyring, type Keyring} from '../../src/trust/keyring.js'
import {verifySignedMessage} from '../../src/trust/openpgp-verify.js'
import {checkSignedClaims, parseSignaturePayload} from '../../src/trust/payload.js'
import {verifyImageSignatures} from '../../src/trust/policy.js'
import {SignatureRefusal} from '../../src/trust/refusal.js'

const root = new URL('../../../shared/vectors/signing/', import.meta.url)
const fixture = (name: string) => new URL(`fixtures/${name}`, root)

/**
 * Reads a fixture file. In containers/image some dir-img-* files are git symlinks; the copy here
 * holds the link target as text ("../image.manifest.json"), so such a file is followed, as git would.
 */
function readFollowingLinks(url: URL, depth = 0): Buffer {
  const bytes = readFileSync(url)
  const text = bytes.toString('latin1')
  if (depth < 4 && bytes.length < 256 && /^\.\.?\/[\w./-]+$/.test(text)) return readFollowingLinks(new URL(text, url), depth + 1)
  return bytes
}
const read = (name: string) => readFollowingLinks(fixture(name))

interface SignatureVector {
  file: string
  expect: 'VALID' | 'REJECT' | 'CRYPTO_VALID_BUT_PAYLOAD_INVALID'
  payload: string
  signerPrimaryFingerprint?: string
  signingSubkeyFingerprint?: string
  dockerReference?: string
  manifestDigest?: string
  keyring?: string
}
interface DirVector {
  dir: string
  files: string[]
  reference: string
  expect: 'ALLOWED' | 'REJECTED'
  manifestSha256?: string
}
const vectors = JSON.parse(readFileSync(new URL('vectors.json', root), 'utf8')) as {
  keys: Record<string, {primary?: string; primariesInOrder?: string[]}>
  signatures: SignatureVector[]
  dirImages: DirVector[]
}

const DIGEST = 'sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55' as const
const PRIMARY = '08CD26E446E2E95249B7A405E932F44B23E8DD43'

/** Why a signature file does not count, or undefined when it verified. */
async function refusalOf(action: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await action()
    return undefined
  } catch (error) {
    if (error instanceof SignatureRefusal) return error.reason
    throw error
  }
}

describe('trust: containers/image signing vectors', () => {
  let everyKey: Keyring
  before(async () => {
    everyKey = await readKeyring([
      read('pubring.gpg'),
      read('public-key-with-subkey.gpg'),
      read('public-key-with-revoked-subkey.gpg'),
    ])
  })

  describe('keyrings', () => {
    it('reads armored and binary keyrings and reports primary fingerprints only', async () => {
      assert.deepEqual(keyringFingerprints(await readKeyring(read('public-key.gpg'))), [vectors.keys['public-key.gpg']!.primary])
      assert.deepEqual(keyringFingerprints(await readKeyring([read('public-key-1.gpg'), read('public-key-2.gpg')])), [
        PRIMARY,
        'F2B501009F78B0B340221A12A3CD242DA6028093',
      ])
      assert.deepEqual(keyringFingerprints(await readKeyring(read('public-key-with-subkey.gpg'))), [
        'B9F4CDB9FD8C475BFA340AC38D54A947EE396F36',
      ])
    })

    it('reads byte-identical copies once: pubring.gpg twice gives its four primaries once, in order', async () => {
      const twice = Buffer.concat([read('pubring.gpg'), read('pubring.gpg')])
      assert.deepEqual(keyringFingerprints(await readKeyring(twice)), vectors.keys['pubring.gpg']!.primariesInOrder)
    })

    it('refuses data that holds no key, as a usage error (exit 2)', async () => {
      await assert.rejects(readKeyring(Buffer.from('This is invalid')), (error: StagexError) => {
        assert.equal(error.exitCode, 2)
        assert.match(error.message, /not an OpenPGP keyring/)
        return true
      })
    })
  })

  describe('every signature file of vectors.json', () => {
    for (const vector of vectors.signatures) {
      // The -v3 files hold v3 signature packets, which openpgp.js does not read: src/trust/openpgp-v3.ts verifies them.
      it(`${vector.file}: ${vector.expect}`, async () => {
        const keyring = vector.keyring ? await readKeyring(read(vector.keyring)) : everyKey
        const bytes = read(vector.file)
        let verified: Awaited<ReturnType<typeof verifySignedMessage>> | undefined
        const cryptoRefusal = await refusalOf(async () => {
          verified = await verifySignedMessage(bytes, keyring)
        })
        if (vector.expect === 'REJECT' && cryptoRefusal === undefined) {
          // Crypto-valid but with an unusable claim (invalid-reference): the payload check refuses it.
          assert.equal(verified!.primaryFingerprint, vector.signerPrimaryFingerprint)
          const claimRefusal = await refusalOf(async () =>
            checkSignedClaims(parseSignaturePayload(verified!.payload), {repository: 'testing/manifest', manifestDigest: DIGEST}),
          )
          assert.match(claimRefusal ?? '(accepted)', /^identity: .*not a valid reference/)
          return
        }
        if (vector.expect === 'REJECT') {
          assert.match(cryptoRefusal!, /^openpgp: /)
          return
        }
        assert.equal(cryptoRefusal, undefined, `${vector.file} should verify`)
        assert.equal(verified!.primaryFingerprint, vector.signerPrimaryFingerprint)
        if (vector.signingSubkeyFingerprint) assert.equal(verified!.signingKeyFingerprint, vector.signingSubkeyFingerprint)
        assert.equal(Buffer.from(verified!.payload).toString('utf8'), vector.payload)
        const payloadRefusal = await refusalOf(async () => {
          const claims = parseSignaturePayload(verified!.payload)
          checkSignedClaims(claims, {repository: 'docker.io/testing/manifest', manifestDigest: DIGEST})
        })
        if (vector.expect === 'CRYPTO_VALID_BUT_PAYLOAD_INVALID') assert.match(payloadRefusal ?? '(accepted)', /^payload: not strict JSON/)
        else assert.equal(payloadRefusal, undefined)
      })
    }

    it('names the reasons: revoked subkey, expired signature, corrupt, unknown key, not signed, encrypted', async () => {
      const reason = (file: string) => refusalOf(() => verifySignedMessage(read(file), everyKey))
      assert.match((await reason('subkey-revoked.signature'))!, /revoked/i)
      assert.match((await reason('expired.signature'))!, /expired/i)
      assert.match((await reason('corrupt.signature'))!, /verification failed/i)
      assert.match((await reason('unknown-key.signature'))!, /5F9470E3BC6C3B55, which is not in the keyring/)
      assert.match((await reason('unsigned-literal.signature'))!, /not signed/)
      assert.match((await reason('unsigned-encrypted.signature'))!, /publicKeyEncryptedSessionKey/)
    })

    it('a signature from a key outside the keyring never counts, even when valid elsewhere', async () => {
      const onlySubkeyKey = await readKeyring(read('public-key-with-subkey.gpg'))
      assert.match((await refusalOf(() => verifySignedMessage(read('image.signature'), onlySubkeyKey)))!, /E932F44B23E8DD43, which is not in the keyring/)
    })
  })

  describe('image.signature against expected identities (docker_test.go)', () => {
    const check = async (repository: string, manifestDigest: `sha256:${string}` = DIGEST) => {
      const {payload} = await verifySignedMessage(read('image.signature'), everyKey)
      return refusalOf(async () => checkSignedClaims(parseSignaturePayload(payload), {repository, manifestDigest}))
    }
    it('testing/manifest and docker.io/testing/manifest are the same identity', async () => {
      assert.equal(await check('testing/manifest'), undefined)
      assert.equal(await check('docker.io/testing/manifest'), undefined)
    })
    it('another repository is refused (identity)', async () => {
      assert.match((await check('example.com/does-not/match'))!, /^identity: signed for docker.io\/testing\/manifest, but the image is example.com\/does-not\/match/)
    })
    it('another manifest is refused (digest)', async () => {
      const other: `sha256:${string}` = `sha256:${createHash('sha256').update('unexpected manifest').digest('hex')}`
      assert.match((await check('testing/manifest', other))!, /^digest: signed sha256:20bf/)
    })
  })

  describe('dir-img-* images, threshold 1 (policy_eval_signedby_test.go)', () => {
    const imageOf = (dir: string) => {
      const folder = fixture(`${dir}/`)
      const manifest = new URL('manifest.json', folder)
      if (!existsSync(manifest)) return undefined
      const signatures = readdirSync(folder)
        .filter((name) => /^signature-\d+$/.test(name))
        .sort((a, b) => Number(a.slice(10)) - Number(b.slice(10)))
        .map((name) => ({name, bytes: readFollowingLinks(new URL(name, folder))}))
      return {manifestDigest: `sha256:${createHash('sha256').update(readFollowingLinks(manifest)).digest('hex')}`, signatures}
    }

    for (const vector of vectors.dirImages) {
      it(`${vector.dir}: ${vector.expect}`, async () => {
        const image = imageOf(vector.dir)
        if (!image) {
          assert.equal(vector.expect, 'REJECTED')
          assert.ok(vector.files.every((file) => file.startsWith('signature-')), 'only a missing manifest makes no image')
          return
        }
        if (vector.manifestSha256) assert.equal(image.manifestDigest, vector.manifestSha256)
        const keyring = vector.dir === 'dir-img-valid-subkey' ? read('public-key-with-subkey.gpg') : read('public-key.gpg')
        const run = () =>
          verifyImageSignatures({repository: 'testing/manifest', tag: 'latest', manifestDigest: image.manifestDigest, signatures: image.signatures, keyring, threshold: 1})
        if (vector.expect === 'ALLOWED') {
          const result = await run()
          assert.equal(result.distinctSigners, 1)
          assert.equal(result.counted[0]!.fingerprint, vector.dir === 'dir-img-valid-subkey' ? 'B9F4CDB9FD8C475BFA340AC38D54A947EE396F36' : PRIMARY)
        } else {
          await assert.rejects(run(), (error: StagexError) => {
            assert.equal(error.exitCode, 3)
            assert.match(error.message, /0 valid distinct signers found, 1 needed/)
            return true
          })
        }
      })
    }

    it('dir-img-valid with keyPaths [public-key-2, public-key-1] and with keyData is allowed', async () => {
      const image = imageOf('dir-img-valid')!
      for (const keyring of [await readKeyring([read('public-key-2.gpg'), read('public-key-1.gpg')]), read('public-key.gpg').toString('utf8')]) {
        const result = await verifyImageSignatures({repository: 'testing/manifest', manifestDigest: image.manifestDigest, signatures: image.signatures, keyring, threshold: 1})
        assert.deepEqual(result.counted.map((signer) => signer.fingerprint), [PRIMARY])
      }
    })

    it('dir-img-valid is refused when the image is named testing/manifest:notlatest', async () => {
      const image = imageOf('dir-img-valid')!
      await assert.rejects(
        verifyImageSignatures({repository: 'testing/manifest', tag: 'notlatest', manifestDigest: image.manifestDigest, signatures: image.signatures, keyring: read('public-key.gpg'), threshold: 1}),
        (error: StagexError) => {
          assert.equal(error.exitCode, 3)
          const table = error.details!.table as Array<{reason: string}>
          assert.match(table[0]!.reason, /^identity: signed tag latest, but the image was named with tag notlatest/)
          return true
        },
      )
    })

    it('dir-img-valid-2: two signatures by one key count once', async () => {
      const image = imageOf('dir-img-valid-2')!
      const result = await verifyImageSignatures({repository: 'testing/manifest', manifestDigest: image.manifestDigest, signatures: image.signatures, keyring: read('public-key.gpg'), threshold: 1})
      assert.equal(result.distinctSigners, 1)
      assert.deepEqual(result.table.map((row) => row.counted), [true, false])
      assert.match(result.table[1]!.reason, /^duplicate: /)
    })

    it('dir-img-mixed: the not-JSON signature is in the table as a payload refusal', async () => {
      const image = imageOf('dir-img-mixed')!
      const result = await verifyImageSignatures({repository: 'testing/manifest', manifestDigest: image.manifestDigest, signatures: image.signatures, keyring: read('public-key.gpg'), threshold: 1})
      assert.equal(result.table[0]!.counted, false)
      assert.equal(result.table[0]!.signer, PRIMARY)
      assert.match(result.table[0]!.reason, /^payload: not strict JSON/)
      assert.equal(result.table[1]!.counted, true)
    })

    it('dir-img-modified-manifest: refused for its digest', async () => {
      const image = imageOf('dir-img-modified-manifest')!
      await assert.rejects(
        verifyImageSignatures({repository: 'testing/manifest', manifestDigest: image.manifestDigest, signatures: image.signatures, keyring: read('public-key.gpg'), threshold: 1}),
        (error: StagexError) => /digest: signed sha256:20bf.*but the manifest is sha256:2edc/.test(JSON.stringify(error.details!.table)),
      )
    })
  })
})
