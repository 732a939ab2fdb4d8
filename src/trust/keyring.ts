// The maintainers' keyring: public keys read from armored or binary data (gpg's pubring.gpg, one or
// more concatenated exports, or several armored blocks in one file). Copies of the same key are
// merged, so a revocation carried by any copy applies.
import * as openpgp from 'openpgp'
import {usageError} from '../errors.js'

export interface Keyring {
  /** One entry per primary key, in the order first seen. */
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
  const byFingerprint = new Map<string, openpgp.PublicKey>()
  for (const chunk of chunks) {
    for (const key of await readChunk(chunk, where)) {
      const publicKey = key.isPrivate() ? (key as openpgp.PrivateKey).toPublic() : (key as openpgp.PublicKey)
      const fingerprint = fingerprintOf(publicKey)
      const known = byFingerprint.get(fingerprint)
      if (known) await known.update(publicKey)
      else byFingerprint.set(fingerprint, publicKey)
    }
  }
  if (byFingerprint.size === 0) throw usageError(`${where}: holds no OpenPGP keys`)
  return {keys: [...byFingerprint.values()]}
}

export const keyringFingerprints = (keyring: Keyring): string[] => keyring.keys.map((key) => fingerprintOf(key))

/** The keyring's keys that hold a key (primary or subkey) with this key ID. */
export const keysWithKeyId = (keyring: Keyring, keyID: openpgp.KeyID): openpgp.PublicKey[] =>
  keyring.keys.filter((key) => key.getKeys(keyID).length > 0)
