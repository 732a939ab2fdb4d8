// The maintainers' keyring: public keys read from armored or binary data (gpg's pubring.gpg, one or
// more concatenated exports, or several armored blocks in one file).
//
// Copies of one key (the same primary fingerprint, e.g. exports from different years) are kept
// side by side rather than merged: openpgp.js judges a merged certificate by its primary user,
// which may be one whose self-signatures had expired by the time a later copy's signature was
// made. Each copy is tried on its own; a revocation found in ANY copy applies to all of them
// (see openpgp-verify.ts). Byte-identical copies are read once.
import * as openpgp from 'openpgp'
import {usageError} from '../errors.js'

export interface Keyring {
  /** Every distinct copy of every key, in the order read (several copies may share a fingerprint). */
  readonly keys: readonly openpgp.PublicKey[]
}

const ARMOR_BLOCK = /-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g

/** Upper-case hex fingerprint of a key or subkey: the form the trust table and lock file use. */
export const fingerprintOf = (key: {getFingerprint(): string}): string => key.getFingerprint().toUpperCase()

async function readChunk(chunk: Uint8Array | string, where: string): Promise<openpgp.Key[]> {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1')
  try {
    if (text.includes('-----BEGIN PGP ')) {
      const blocks = text.match(ARMOR_BLOCK) ?? []
      if (blocks.length === 0) throw new Error('an armor header without a complete key block')
      const keys: openpgp.Key[] = []
      for (const block of blocks) keys.push(...(await openpgp.readKeys({armoredKeys: block})))
      return keys
    }
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk
    return await openpgp.readKeys({binaryKeys: bytes})
  } catch (error) {
    throw usageError(`${where}: not an OpenPGP keyring (${(error as Error).message})`)
  }
}

/**
 * Reads public keys from one or more keyring files' contents. Secret keys are reduced to their
 * public part. Fails (usage) when nothing in the input is a key.
 */
export async function readKeyring(
  input: Uint8Array | string | ReadonlyArray<Uint8Array | string>,
  where = 'keyring',
): Promise<Keyring> {
  const chunks = Array.isArray(input) ? (input as ReadonlyArray<Uint8Array | string>) : [input as Uint8Array | string]
  const seen = new Set<string>()
  const keys: openpgp.PublicKey[] = []
  for (const chunk of chunks) {
    for (const key of await readChunk(chunk, where)) {
      const publicKey = key.isPrivate() ? (key as openpgp.PrivateKey).toPublic() : (key as openpgp.PublicKey)
      const identity = `${fingerprintOf(publicKey)}:${Buffer.from(publicKey.write()).toString('base64')}`
      if (seen.has(identity)) continue
      seen.add(identity)
      keys.push(publicKey)
    }
  }
  if (keys.length === 0) throw usageError(`${where}: holds no OpenPGP keys`)
  return {keys}
}

/** The distinct primary fingerprints, in the order first read. */
export const keyringFingerprints = (keyring: Keyring): string[] => [...new Set(keyring.keys.map((key) => fingerprintOf(key)))]

/** Every copy of the key with this primary fingerprint. */
export const copiesOf = (keyring: Keyring, fingerprint: string): openpgp.PublicKey[] =>
  keyring.keys.filter((key) => fingerprintOf(key) === fingerprint)

/** The keyring's keys that hold a key (primary or subkey) with this key ID. */
export const keysWithKeyId = (keyring: Keyring, keyID: openpgp.KeyID): openpgp.PublicKey[] =>
  keyring.keys.filter((key) => key.getKeys(keyID).length > 0)
