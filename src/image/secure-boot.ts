// boot.secureBoot: the UKI signed with Authenticode (src/formats/authenticode.ts) where the outputs
// stage makes it, so the ESP, the disk and the ISO all carry the signed file. The signing time is
// SOURCE_DATE_EPOCH and RSA PKCS#1 v1.5 is deterministic: the same inputs and key give the same bytes.
// The key and its passphrase stay on this machine: the build record names the certificate and keeps
// the signature (public bytes). A rebuild from the record (reproduce) has no key: it attaches the
// recorded signature again, after checking that it signs the rebuilt UKI's hash with the recipe's
// certificate, so a rebuilt signed image is byte-identical without the key leaving its owner.
import {createHash, createPrivateKey, createPublicKey, type KeyObject, sign, X509Certificate} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {badInputError, profileError, StagexError, usageError} from '../errors.js'
import type {SizedSource} from '../formats/bytes.js'
import {type AuthenticodeSignatureInfo, type AuthenticodeSigner, authenticodeSignedData, readAuthenticodeSignature, signPe, type SignedPe} from '../formats/authenticode.js'
import {readPassphrase} from '../passphrase.js'
import type {Profile, SecureBootSettings} from '../profile/types.js'

/** The signer: its certificate and a function that signs with its key (the key itself goes no further). */
export interface SecureBootSigner extends AuthenticodeSigner {
  subject: string
  certSha256: string
}

/** What build.json says about the signature (stages.uki.signature): no key, no passphrase, no host path. */
export interface UkiSignatureRecord {
  format: 'authenticode'
  /** The Authenticode SHA-256 of the UKI: what the signature signs. */
  authenticodeSha256: string
  signer: string
  issuer: string
  serial: string
  certSha256: string
  signingTime: string
  /** The PKCS#7 SignedData, base64 (public: the signature and the certificate). */
  pkcs7: string
}

/** "boot.secureBoot.key" and where the profile says it. */
export type SecureBootLocator = (field: keyof SecureBootSettings) => string

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

const encryptedPem = (pem: string) => /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(pem)

async function readFileFor(at: SecureBootLocator, field: 'key' | 'cert', path: string): Promise<Buffer> {
  return readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw profileError(`${at(field)}: boot.secureBoot.${field} ${path}: cannot read it (${error.code === 'ENOENT' ? 'no such file' : error.code})`)
  })
}

/** The certificate (PEM or DER) as Node reads it. */
export async function readSecureBootCertificate(settings: SecureBootSettings, at: SecureBootLocator): Promise<X509Certificate> {
  const bytes = await readFileFor(at, 'cert', settings.cert)
  try {
    return new X509Certificate(bytes)
  } catch (error) {
    throw profileError(`${at('cert')}: boot.secureBoot.cert ${settings.cert}: not an X.509 certificate in PEM or DER (${(error as Error).message})`)
  }
}

/**
 * Reads the key (PEM: PKCS#8, encrypted PKCS#8 or traditional RSA, encrypted or not) and the
 * certificate, and checks that they belong together. A protected key's passphrase comes from
 * passphraseFile or the variable passphraseEnv names, never from the profile itself.
 */
export async function loadSecureBootSigner(settings: SecureBootSettings, at: SecureBootLocator, env: NodeJS.ProcessEnv): Promise<SecureBootSigner> {
  if (settings.key === undefined) throw profileError(`${at('key')}: boot.secureBoot has no key to sign with`)
  const certificate = await readSecureBootCertificate(settings, at)
  const pem = (await readFileFor(at, 'key', settings.key)).toString('utf8')
  const keyName = `boot.secureBoot.key ${settings.key}`
  let passphrase: string | undefined
  if (encryptedPem(pem)) {
    passphrase = await readPassphrase(
      {file: settings.passphraseFile === undefined ? undefined : {path: settings.passphraseFile, label: 'boot.secureBoot.passphraseFile'}, envName: settings.passphraseEnv},
      env,
    )
    if (passphrase === undefined) {
      const how = settings.passphraseEnv ? `$${settings.passphraseEnv} is not set` : 'set boot.secureBoot.passphraseFile FILE or boot.secureBoot.passphraseEnv NAME'
      throw usageError(`${at('key')}: ${keyName} is protected by a passphrase: ${how}`)
    }
  }
  let key: KeyObject
  try {
    key = createPrivateKey({key: pem, format: 'pem', passphrase})
  } catch (error) {
    if (passphrase !== undefined) throw usageError(`${at('key')}: ${keyName}: the passphrase does not unlock it`)
    throw profileError(`${at('key')}: ${keyName}: not a PEM private key (${(error as Error).message})`)
  }
  // EDK2 (OVMF, and most firmware built on it) checks RSA PKCS#1 v1.5 signatures only.
  if (key.asymmetricKeyType !== 'rsa') throw profileError(`${at('key')}: ${keyName} is not an RSA key (${key.asymmetricKeyType}); UEFI Secure Boot signatures are RSA PKCS#1 v1.5`)
  const spki = (k: KeyObject) => k.export({format: 'der', type: 'spki'})
  if (!spki(createPublicKey(key)).equals(spki(certificate.publicKey)))
    throw profileError(`${at('key')}: ${keyName} does not belong to boot.secureBoot.cert ${settings.cert} (${certificate.subject.replaceAll('\n', ', ')}): their public keys differ`)
  return {
    certificate: new Uint8Array(certificate.raw),
    subject: certificate.subject.replaceAll('\n', ', '),
    certSha256: sha256Hex(certificate.raw),
    sign: (data) => new Uint8Array(sign('sha256', data, key)),
  }
}

/**
 * The signer a profile's build needs (boot.secureBoot with a key, and a UKI to sign), or undefined:
 * build() reads it before pulling anything, so a wrong passphrase is said at once.
 */
export async function secureBootSignerFor(profile: Profile, ukiPlanned: boolean, env: NodeJS.ProcessEnv): Promise<SecureBootSigner | undefined> {
  const settings = profile.boot.secureBoot
  if (!ukiPlanned || settings?.key === undefined) return undefined
  return loadSecureBootSigner(settings, secureBootLocator(profile), env)
}

/** Where a boot.secureBoot field is in the profile ("signed.yaml:14:10"). */
export const secureBootLocator = (profile: Pick<Profile, 'locate'>): SecureBootLocator => (field) => profile.locate(['boot', 'secureBoot', field])

/**
 * The signed UKI: signed by `signer` at SOURCE_DATE_EPOCH, or (no signer: a rebuild from a record)
 * with the recorded signature attached again, once it is checked to sign this very UKI with the
 * recipe's certificate. A rebuild that differs is exit 8 here, at the uki stage.
 */
export async function signUki(
  uki: SizedSource,
  options: {settings: SecureBootSettings; signer?: SecureBootSigner; sourceDateEpoch: number; at: SecureBootLocator},
): Promise<{signed: SignedPe; record: UkiSignatureRecord}> {
  const {settings, signer, at} = options
  const signingTime = new Date(options.sourceDateEpoch * 1000)
  let signed: SignedPe
  if (signer) {
    signed = await signPe(uki, (hash) => authenticodeSignedData(hash, signer, signingTime))
  } else {
    if (settings.signature === undefined) throw profileError(`${at('key')}: boot.secureBoot has no key to sign with`)
    const certSha256 = sha256Hex((await readSecureBootCertificate(settings, at)).raw)
    const recorded = new Uint8Array(Buffer.from(settings.signature, 'base64'))
    signed = await signPe(uki, (hash) => {
      let info
      try {
        info = readAuthenticodeSignature(recorded)
      } catch (error) {
        throw badInputError(`the recorded Secure Boot signature (stages.uki.signature.pkcs7) is damaged: ${(error as Error).message}`)
      }
      const differs = (what: string) =>
        new StagexError('different', `the recorded Secure Boot signature does not fit the rebuilt UKI: ${what}; the rebuild differs at the uki stage`, {firstStage: 'uki'})
      if (!Buffer.from(info.imageSha256).equals(hash))
        throw differs(`it signs the Authenticode hash ${Buffer.from(info.imageSha256).toString('hex')}, the rebuilt UKI's is ${Buffer.from(hash).toString('hex')}`)
      if (sha256Hex(info.certificate) !== certSha256) throw differs("its signer's certificate is not the recipe's boot.secureBoot.cert")
      return recorded
    })
  }
  const signature = describeSignature(readAuthenticodeSignature(signed.pkcs7))
  return {
    signed,
    record: {
      format: 'authenticode',
      authenticodeSha256: Buffer.from(signed.authenticodeSha256).toString('hex'),
      signer: signature.signer,
      issuer: signature.issuer,
      serial: signature.serial,
      certSha256: signature.certSha256,
      signingTime: signature.signingTime ?? signingTime.toISOString(),
      pkcs7: Buffer.from(signed.pkcs7).toString('base64'),
    },
  }
}

/** Who signed and when, as build.json and `inspect` name it, from a signature readAuthenticodeSignature read. */
export function describeSignature(info: AuthenticodeSignatureInfo): {signer: string; issuer: string; serial: string; certSha256: string; signingTime?: string; signedSha256: string} {
  const certificate = new X509Certificate(info.certificate)
  return {
    signer: certificate.subject.replaceAll('\n', ', '),
    issuer: certificate.issuer.replaceAll('\n', ', '),
    serial: certificate.serialNumber,
    certSha256: sha256Hex(info.certificate),
    signingTime: info.signingTime?.toISOString(),
    signedSha256: Buffer.from(info.imageSha256).toString('hex'),
  }
}
