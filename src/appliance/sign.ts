// sign REF --key KEYFILE --lookaside-dir DIR: a simple-signing signature of an appliance, as
// `skopeo standalone-sign` makes one: an OpenPGP signed message (not a detached signature) whose
// literal data is the payload naming REF and the manifest digest. Written as the next free
// signature-N in containers/image's lookaside layout, <DIR>/<repository path>@sha256=<hex>/.
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import * as openpgp from 'openpgp'
import {usageError} from '../errors.js'
import {readPassphrase} from '../passphrase.js'
import {type Digest, digestHex} from '../oci/digest.js'
import {DEFAULT_TAG} from '../oci/reference.js'
import {MAX_LOOKASIDE_SIGNATURES, lookasideRepositoryPath} from '../trust/lookaside.js'
import {SIMPLE_SIGNING_TYPE} from '../trust/payload.js'
import {TOOL_VERSION} from '../version.js'
import {resolveAppliance} from './registry.js'

/** The environment variable a passphrase may come from (never a flag: it would show in `ps`). */
export const PASSPHRASE_ENV = 'STAGEX_SIGN_PASSPHRASE'

export interface SignOptions {
  reference: string
  keyFile: string
  lookasideDir: string
  passphraseFile?: string
  env?: NodeJS.ProcessEnv
  /** The signature's creation time; default the clock. */
  now?: Date
}

export interface SignResult {
  reference: string
  identity: string
  manifestDigest: Digest
  fingerprint: string
  signature: string
}

/** The simple-signing payload: `critical` exactly as containers/image writes it, `optional` ours. */
export function signingPayload(dockerReference: string, manifestDigest: Digest, timestamp: number): Uint8Array {
  const payload = {
    critical: {identity: {'docker-reference': dockerReference}, image: {'docker-manifest-digest': manifestDigest}, type: SIMPLE_SIGNING_TYPE},
    optional: {creator: `stagex-image ${TOOL_VERSION}`, timestamp},
  }
  return Buffer.from(JSON.stringify(payload), 'utf8')
}

/** The secret key, decrypted with the passphrase from a file or the environment when it is protected. */
export async function readSigningKey(keyFile: string, passphraseFile: string | undefined, env: NodeJS.ProcessEnv): Promise<openpgp.PrivateKey> {
  const text = await readFile(keyFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw usageError(`--key ${keyFile}: cannot read it (${error.code})`)
  })
  let key: openpgp.PrivateKey
  try {
    key = await openpgp.readPrivateKey({armoredKey: text})
  } catch (error) {
    throw usageError(`--key ${keyFile}: not an armored OpenPGP secret key (${(error as Error).message})`)
  }
  if (key.isDecrypted()) return key
  const passphrase = await readPassphrase({file: passphraseFile === undefined ? undefined : {path: passphraseFile, label: '--passphrase-file'}, envName: PASSPHRASE_ENV}, env)
  if (passphrase === undefined) throw usageError(`--key ${keyFile} is protected: give its passphrase with --passphrase-file FILE or $${PASSPHRASE_ENV}`)
  try {
    return await openpgp.decryptKey({privateKey: key, passphrase})
  } catch {
    throw usageError(`--key ${keyFile}: the passphrase does not unlock it`)
  }
}

/** Writes `bytes` as the first signature-N that does not exist yet (exclusive create: two signers never overwrite each other). */
async function writeNextSignature(folder: string, bytes: Uint8Array): Promise<string> {
  await mkdir(folder, {recursive: true})
  for (let n = 1; n <= MAX_LOOKASIDE_SIGNATURES; n++) {
    const path = join(folder, `signature-${n}`)
    try {
      await writeFile(path, bytes, {flag: 'wx', mode: 0o644})
      return path
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
  throw usageError(`${folder}: already holds ${MAX_LOOKASIDE_SIGNATURES} signatures, as many as a reader looks at`)
}

/** Signs the manifest digest given (reproduce signs what it rebuilt, without asking the registry again). */
export async function signDigest(options: Omit<SignOptions, 'reference'> & {reference: string; repository: string; manifestDigest: Digest}): Promise<SignResult> {
  const env = options.env ?? process.env
  const key = await readSigningKey(options.keyFile, options.passphraseFile, env)
  const now = options.now ?? new Date()
  const payload = signingPayload(options.reference, options.manifestDigest, Math.floor(now.getTime() / 1000))
  const message = await openpgp.createMessage({binary: payload})
  const signed = await openpgp.sign({message, signingKeys: key, format: 'binary', date: now})
  const folder = join(options.lookasideDir, `${lookasideRepositoryPath(options.repository)}@sha256=${digestHex(options.manifestDigest)}`)
  const signature = await writeNextSignature(folder, signed as Uint8Array)
  return {reference: options.reference, identity: options.repository, manifestDigest: options.manifestDigest, fingerprint: key.getFingerprint().toUpperCase(), signature}
}

export async function signAppliance(options: SignOptions): Promise<SignResult> {
  const appliance = await resolveAppliance(options.reference, options.env)
  const {ref} = appliance
  // The identity as skopeo writes it: the reference named, by tag (a digest-only reference by repository).
  const dockerReference = ref.digest && !ref.tag ? appliance.identity : `${appliance.identity}:${ref.tag ?? DEFAULT_TAG}`
  return signDigest({...options, reference: dockerReference, repository: appliance.identity, manifestDigest: appliance.manifestDigest})
}
