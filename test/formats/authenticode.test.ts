import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {
  authenticodeSha256,
  authenticodeSignedData,
  certificateTable,
  createPePass,
  readAuthenticodeSignature,
  signPe,
} from '../../src/formats/authenticode.js'
import {bytesSource, concatBytes, type SizedSource} from '../../src/formats/bytes.js'
import {buildUkiChunks, parsePe, peChecksum} from '../../src/formats/pe.js'
import {comparePe} from '../../src/compare/pe.js'
import {isStagexError} from '../../src/errors.js'
import {loadSecureBootSigner, type SecureBootSigner, signUki} from '../../src/image/secure-boot.js'
import type {SecureBootSettings} from '../../src/profile/types.js'

// Debian 12's syslinux-efi 3:6.04~git20190206.bf6db5b4+dfsg1-3; sbsign, osslsigncode and an independent implementation agree.
const SYSLINUX_EFI = '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi'
const SYSLINUX_EFI_AUTHENTICODE = '3d35b734483de3667734718e9e257cf5a0f37d27adf55446e7c26a26e0b4963f'
const STUB_PATH = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub'
// Debian's ovmf: the key (PKCS#8, passphrase "snakeoil") and certificate enrolled as PK, KEK and db in OVMF_VARS_4M.snakeoil.fd.
const SNAKEOIL_KEY = '/usr/share/ovmf/PkKek-1-snakeoil.key'
const SNAKEOIL_CERT = '/usr/share/ovmf/PkKek-1-snakeoil.pem'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const epoch = 1_700_000_000

async function bytesOf(source: SizedSource): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of source.open()) parts.push(chunk)
  return concatBytes(parts)
}

/** Runs a checker; returns its status and output (it must not throw on a refusal: the test looks at it). */
function run(command: string, args: string[]) {
  const r = spawnSync(command, args, {encoding: 'utf8'})
  return {status: r.status, output: `${r.stdout}${r.stderr}`}
}

describe('formats: authenticode', function () {
  let dir: string
  let signer: SecureBootSigner
  const settings = (extra: Partial<SecureBootSettings> = {}): SecureBootSettings => ({key: join(dir, 'db.key'), cert: join(dir, 'db.pem'), ...extra})
  const at = (field: string) => `profile.yaml (boot.secureBoot.${field})`

  before(async function () {
    for (const f of [SYSLINUX_EFI, STUB_PATH, SNAKEOIL_KEY, SNAKEOIL_CERT])
      if (!existsSync(f)) throw new Error(`${f} is missing: run scripts/setup.sh (syslinux-efi, systemd-boot-efi, ovmf)`)
    dir = mkdtempSync(join(tmpdir(), 'authenticode-test-'))
    copyFileSync(SNAKEOIL_KEY, join(dir, 'db.key'))
    copyFileSync(SNAKEOIL_CERT, join(dir, 'db.pem'))
    writeFileSync(join(dir, 'passphrase'), 'snakeoil\n')
    signer = await loadSecureBootSigner(settings({passphraseFile: join(dir, 'passphrase')}), at, {})
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  const syslinux = () => new Uint8Array(readFileSync(SYSLINUX_EFI))
  /** The file sbsign makes of `input` (it wants an unprotected key: a decrypted copy). */
  const sbsign = (input: string) => {
    const key = join(dir, 'sbsign.key')
    if (!existsSync(key)) execFileSync('openssl', ['pkey', '-in', SNAKEOIL_KEY, '-passin', 'pass:snakeoil', '-out', key])
    const output = join(dir, 'sbsign.efi')
    const result = run('sbsign', ['--key', key, '--cert', SNAKEOIL_CERT, '--output', output, input])
    assert.equal(result.status, 0, result.output)
    return new Uint8Array(readFileSync(output))
  }
  /** The PKCS#7 inside a signed file's WIN_CERTIFICATE. */
  const pkcs7Of = (image: Uint8Array) => {
    const table = parsePe(image).certificateTable
    return image.subarray(table.offset + 8, table.offset + new DataView(image.buffer, image.byteOffset).getUint32(table.offset, true))
  }
  const sign = (image: Uint8Array, time = epoch) => signPe(bytesSource(image), (hash) => authenticodeSignedData(hash, signer, new Date(time * 1000)))

  it("known answer: the Authenticode SHA-256 of Debian 12's syslinux.efi", () => {
    assert.equal(hex(authenticodeSha256(syslinux())), SYSLINUX_EFI_AUTHENTICODE)
  })

  it('the streaming pass gives the same hash in chunks of any size, headers split anywhere', () => {
    const image = syslinux()
    for (const size of [1, 7, 333, 4096, image.length]) {
      const pass = createPePass(image.length)
      for (let i = 0; i < image.length; i += size) pass.update(image.subarray(i, i + size))
      assert.equal(hex(pass.finish().sha256), SYSLINUX_EFI_AUTHENTICODE, `chunks of ${size}`)
    }
  })

  it('signs a PE that sbverify --cert and osslsigncode verify -CAfile accept, with the signing time given', async () => {
    const signed = await sign(syslinux())
    const bytes = await bytesOf(signed)
    assert.equal(bytes.length, signed.size)
    const file = join(dir, 'signed.efi')
    writeFileSync(file, bytes)
    const sbverify = run('sbverify', ['--cert', SNAKEOIL_CERT, file])
    assert.equal(sbverify.status, 0, sbverify.output)
    assert.match(sbverify.output, /Signature verification OK/)
    const osslsigncode = run('osslsigncode', ['verify', '-CAfile', SNAKEOIL_CERT, '-in', file])
    assert.equal(osslsigncode.status, 0, osslsigncode.output)
    // osslsigncode computes the hash itself: ours, the known answer, and the one the signature names agree.
    assert.match(osslsigncode.output, new RegExp(`Current message digest\\s*: ${SYSLINUX_EFI_AUTHENTICODE}`, 'i'))
    assert.match(osslsigncode.output, new RegExp(`Calculated message digest\\s*: ${SYSLINUX_EFI_AUTHENTICODE}`, 'i'))
    assert.match(osslsigncode.output, /Signing time: Nov 14 22:13:20 2023 GMT/)
    // The table: at the old end (8-aligned), named by data directory 4, and the checksum is the signed file's.
    const pe = parsePe(bytes)
    assert.deepEqual(pe.certificateTable, {offset: 171456, size: certificateTable(signed.pkcs7).length})
    assert.equal(pe.checkSum, peChecksum([bytes], pe.optionalOffset + 64))
    assert.doesNotMatch(osslsigncode.output, /MISMATCH/)
    const info = readAuthenticodeSignature(signed.pkcs7)
    assert.equal(hex(info.imageSha256), SYSLINUX_EFI_AUTHENTICODE)
    assert.equal(info.signingTime?.getTime(), epoch * 1000)
    assert.deepEqual(Buffer.from(info.certificate), execFileSync('openssl', ['x509', '-in', SNAKEOIL_CERT, '-outform', 'DER']))
    // The hash of the signed file is that of the unsigned one (checksum, entry 4 and the table are left out).
    assert.equal(hex(authenticodeSha256(bytes)), SYSLINUX_EFI_AUTHENTICODE)
  })

  it("osslsigncode extract-signature gives back our PKCS#7; sbsign's signature of the same file names the same hash, and our reader checks it", async () => {
    const signed = await sign(syslinux())
    const file = join(dir, 'extract.efi')
    writeFileSync(file, await bytesOf(signed))
    const extracted = run('osslsigncode', ['extract-signature', '-in', file, '-out', join(dir, 'extracted.p7')])
    assert.equal(extracted.status, 0, extracted.output)
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'extracted.p7'))), signed.pkcs7)
    // sbsign: its own attributes and the clock's time, so other bytes, but the same hash.
    const theirs = sbsign(SYSLINUX_EFI)
    assert.equal(hex(readAuthenticodeSignature(pkcs7Of(theirs)).imageSha256), SYSLINUX_EFI_AUTHENTICODE)
    assert.equal(hex(authenticodeSha256(theirs)), SYSLINUX_EFI_AUTHENTICODE)
  })

  it('signs the same bytes twice; another signing time gives other bytes', async () => {
    const a = await bytesOf(await sign(syslinux()))
    const b = await bytesOf(await sign(syslinux()))
    assert.deepEqual(a, b)
    assert.notDeepEqual(await bytesOf(await sign(syslinux(), epoch + 1)), a)
  })

  it('a signing time after 2049 is a GeneralizedTime, and verifies', async () => {
    const signed = await sign(syslinux(), 4_000_000_000)
    assert.equal(readAuthenticodeSignature(signed.pkcs7).signingTime?.toISOString(), '2096-10-02T07:06:40.000Z')
    const file = join(dir, 'late.efi')
    writeFileSync(file, await bytesOf(signed))
    assert.equal(run('sbverify', ['--cert', SNAKEOIL_CERT, file]).status, 0)
  })

  it('pads an image whose length is not a multiple of 8, hashing the padding as sbsign does', async () => {
    const image = concatBytes([syslinux(), new Uint8Array([1, 2, 3])])
    const signed = await sign(image)
    const bytes = await bytesOf(signed)
    assert.equal(parsePe(bytes).certificateTable.offset, image.length + 5)
    const file = join(dir, 'padded.efi')
    writeFileSync(file, image)
    assert.deepEqual(readAuthenticodeSignature(pkcs7Of(sbsign(file))).imageSha256, signed.authenticodeSha256)
    writeFileSync(file, bytes)
    const sbverify = run('sbverify', ['--cert', SNAKEOIL_CERT, file])
    assert.equal(sbverify.status, 0, sbverify.output)
    assert.equal(run('osslsigncode', ['verify', '-CAfile', SNAKEOIL_CERT, '-in', file]).status, 0)
  })

  it('a signed UKI streamed from its sources verifies; one changed byte is refused by both checkers', async () => {
    const linux = new Uint8Array(1_000_003).map((_, i) => (i * 31 + 7) & 0xff)
    const uki = buildUkiChunks({
      stub: new Uint8Array(readFileSync(STUB_PATH)),
      osRelease: 'ID=stagex\n',
      cmdline: 'console=ttyS0',
      linux: bytesSource(linux),
      initrd: bytesSource(new Uint8Array(54_321).fill(9)),
      timeDateStamp: epoch,
      checksum: false,
    })
    const signed = await signPe({size: uki.size, open: () => uki.chunks()}, (hash) => authenticodeSignedData(hash, signer, new Date(epoch * 1000)))
    const bytes = await bytesOf(signed)
    const file = join(dir, 'uki.efi')
    writeFileSync(file, bytes)
    assert.equal(run('sbverify', ['--cert', SNAKEOIL_CERT, file]).status, 0)
    assert.equal(hex(authenticodeSha256(bytes)), hex(signed.authenticodeSha256))
    const changed = Uint8Array.from(bytes)
    changed[uki.placed.find((s) => s.name === '.linux')!.pointerToRawData + 1000] ^= 1
    writeFileSync(file, changed)
    assert.notEqual(run('sbverify', ['--cert', SNAKEOIL_CERT, file]).status, 0)
    const osslsigncode = run('osslsigncode', ['verify', '-CAfile', SNAKEOIL_CERT, '-in', file])
    assert.notEqual(osslsigncode.status, 0)
    assert.match(osslsigncode.output, /MISMATCH/)
  })

  it('compare: two signings of one image differ in the certificate table (and the checksum over it) only; a changed image in its hash too', async () => {
    const a = await bytesOf(await sign(syslinux()))
    const found = comparePe(a, await bytesOf(await sign(syslinux(), epoch + 1)))
    assert.deepEqual(found.map((d) => [d.entry, d.field]), [['PE header', 'checkSum'], ['PE signature (certificate table)', 'bytes']])
    const other = syslinux()
    other[0x1000] ^= 1
    const changed = comparePe(a, await bytesOf(await sign(other)))
    assert.deepEqual(changed.map((d) => [d.entry, d.field]), [['PE header', 'checkSum'], ['PE section .text', 'bytes'], ['PE signature', 'authenticodeSha256'], ['PE signature (certificate table)', 'bytes']])
  })

  it('refuses an image that is signed already', async () => {
    const once = await bytesOf(await sign(syslinux()))
    await assert.rejects(sign(once), /signed already/)
  })

  it('reads the key with its passphrase from the environment; without one, or with a wrong one, exit 2 naming the field', async () => {
    const fromEnv = await loadSecureBootSigner(settings({passphraseEnv: 'DB_PASSPHRASE'}), at, {DB_PASSPHRASE: 'snakeoil'})
    assert.equal(fromEnv.certSha256, signer.certSha256)
    assert.match(fromEnv.subject, /O=SnakeOil/)
    const refused = async (s: SecureBootSettings, env: NodeJS.ProcessEnv, message: RegExp) => {
      await assert.rejects(loadSecureBootSigner(s, at, env), (error: unknown) => {
        assert.ok(isStagexError(error), String(error))
        assert.equal(error.exitCode, 2)
        assert.match(error.message, message)
        return true
      })
    }
    await refused(settings(), {}, /\(boot\.secureBoot\.key\): boot\.secureBoot\.key .*is protected by a passphrase: set boot\.secureBoot\.passphraseFile/)
    await refused(settings({passphraseEnv: 'DB_PASSPHRASE'}), {}, /\$DB_PASSPHRASE is not set/)
    await refused(settings({passphraseEnv: 'DB_PASSPHRASE'}), {DB_PASSPHRASE: 'wrong'}, /the passphrase does not unlock it/)
    await refused(settings({passphraseFile: join(dir, 'nowhere')}), {}, /boot\.secureBoot\.passphraseFile .*nowhere: cannot read it \(ENOENT\)/)
    await refused(settings({key: join(dir, 'missing.key')}), {}, /boot\.secureBoot\.key .*missing\.key: cannot read it \(no such file\)/)
  })

  it('reads a traditional (PKCS#1) encrypted key and an unencrypted one; refuses a key that is not the certificate\'s, and an EC key', async () => {
    const openssl = (...args: string[]) => execFileSync('openssl', args, {cwd: dir, stdio: 'pipe'})
    openssl('genrsa', '-aes256', '-traditional', '-passout', 'pass:secret', '-out', 'trad.key', '2048')
    assert.match(readFileSync(join(dir, 'trad.key'), 'utf8'), /Proc-Type: 4,ENCRYPTED/)
    openssl('req', '-new', '-x509', '-key', 'trad.key', '-passin', 'pass:secret', '-subj', '/CN=stagex test db', '-days', '3650', '-out', 'trad.pem')
    const trad = await loadSecureBootSigner({key: join(dir, 'trad.key'), cert: join(dir, 'trad.pem'), passphraseEnv: 'P'}, at, {P: 'secret'})
    assert.equal(trad.subject, 'CN=stagex test db')
    openssl('rsa', '-in', 'trad.key', '-passin', 'pass:secret', '-out', 'plain.key')
    const plain = await loadSecureBootSigner({key: join(dir, 'plain.key'), cert: join(dir, 'trad.pem')}, at, {})
    const file = join(dir, 'trad.efi')
    writeFileSync(file, await bytesOf(await signPe(bytesSource(syslinux()), (h) => authenticodeSignedData(h, plain, new Date(0)))))
    assert.equal(run('sbverify', ['--cert', join(dir, 'trad.pem'), file]).status, 0)
    assert.notEqual(run('sbverify', ['--cert', SNAKEOIL_CERT, file]).status, 0)

    await assert.rejects(loadSecureBootSigner({key: join(dir, 'plain.key'), cert: SNAKEOIL_CERT}, at, {}), (error: unknown) => {
      assert.ok(isStagexError(error))
      assert.equal(error.exitCode, 2)
      assert.match(error.message, /does not belong to boot\.secureBoot\.cert .*SnakeOil.*: their public keys differ/)
      return true
    })
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.key')
    await assert.rejects(loadSecureBootSigner({key: join(dir, 'ec.key'), cert: SNAKEOIL_CERT}, at, {}), /is not an RSA key \(ec\); UEFI Secure Boot signatures are RSA/)
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate\n')
    await assert.rejects(loadSecureBootSigner({key: join(dir, 'plain.key'), cert: join(dir, 'junk.pem')}, at, {}), /not an X\.509 certificate/)
  })

  it('signUki: signs at SOURCE_DATE_EPOCH; without the key it attaches the recorded signature again, and only to the same UKI (exit 8 otherwise)', async () => {
    const image = syslinux()
    const first = await signUki(bytesSource(image), {settings: settings(), signer, sourceDateEpoch: epoch, at})
    assert.equal(first.record.authenticodeSha256, SYSLINUX_EFI_AUTHENTICODE)
    assert.equal(first.record.signingTime, '2023-11-14T22:13:20.000Z')
    assert.equal(first.record.certSha256, signer.certSha256)
    assert.match(first.record.signer, /O=SnakeOil/)
    assert.doesNotMatch(JSON.stringify(first.record), /PRIVATE|snakeoil\b/)
    const restored = {cert: settings().cert, signature: first.record.pkcs7}
    const again = await signUki(bytesSource(image), {settings: restored, sourceDateEpoch: epoch, at})
    assert.deepEqual(await bytesOf(again.signed), await bytesOf(first.signed))
    assert.deepEqual(again.record, first.record)
    const other = Uint8Array.from(image)
    other[0x400] ^= 1
    await assert.rejects(signUki(bytesSource(other), {settings: restored, sourceDateEpoch: epoch, at}), (error: unknown) => {
      assert.ok(isStagexError(error))
      assert.equal(error.exitCode, 8)
      assert.match(error.message, /does not fit the rebuilt UKI: it signs the Authenticode hash 3d35b7.*, the rebuilt UKI's is/)
      return true
    })
  })
})
