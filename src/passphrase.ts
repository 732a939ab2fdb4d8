// A secret key's passphrase: from a file (its one trailing line break dropped) or an environment
// variable, never from a flag or a profile field (either would show in `ps` or in a build record).
// `sign` reads OpenPGP keys with it, the outputs stage the Secure Boot signing key.
import {readFile} from 'node:fs/promises'
import {usageError} from './errors.js'

export interface PassphraseSource {
  /** A file holding the passphrase; `label` names it in messages ("--passphrase-file", "boot.secureBoot.passphraseFile"). */
  file?: {path: string; label: string}
  /** The environment variable to read when no file is given. */
  envName?: string
}

/** The passphrase, or undefined when neither the file nor the variable gives one. */
export async function readPassphrase(source: PassphraseSource, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (source.file) {
    const {path, label} = source.file
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw usageError(`${label} ${path}: cannot read it (${error.code})`)
    })
    return text.replace(/\r?\n$/, '')
  }
  return source.envName === undefined ? undefined : env[source.envName]
}
