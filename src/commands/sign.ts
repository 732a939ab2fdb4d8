import {Args, Flags} from '@oclif/core'
import {PASSPHRASE_ENV, type SignResult, signAppliance} from '../appliance/sign.js'
import {BaseCommand} from '../cli/base-command.js'
import {prose} from '../cli/prose.js'

export default class Sign extends BaseCommand {
  static override summary = "Sign an appliance's manifest digest (simple signing, as skopeo standalone-sign does)."
  static override description = prose(`Resolves REF to its manifest digest and writes a simple-signing signature of it: an OpenPGP
signed message whose payload names REF (critical.identity.docker-reference) and the digest
(critical.image.docker-manifest-digest), made with the armored secret key KEYFILE. It lands in
the lookaside layout containers/image reads, as the next free signature-N of
DIR/<repository path>@sha256=<hex>/. Publish DIR as your lookaside (file://, http://, https://).

A protected key's passphrase comes from --passphrase-file or $${PASSPHRASE_ENV}, never a flag.
Sign after \`reproduce\` gave identical bytes.

Exit codes: 0 signature written; 2 usage (unreadable key, missing or wrong passphrase); 4 REF is
not an appliance; 7 the registry could not be reached.`)
  static override examples = ['<%= config.bin %> sign 127.0.0.1:5000/appliances/minimal:1.0 --key me.asc --lookaside-dir sigs']
  static override args = {reference: Args.string({name: 'REF', description: 'REGISTRY/REPOSITORY[:TAG][@DIGEST]', required: true})}
  static override flags = {
    key: Flags.string({description: 'armored OpenPGP secret key', helpValue: 'KEYFILE', required: true}),
    'lookaside-dir': Flags.string({description: 'lookaside folder the signature is written to', helpValue: 'DIR', required: true}),
    'passphrase-file': Flags.string({description: "file holding the key's passphrase", helpValue: 'FILE'}),
  }

  async run(): Promise<SignResult> {
    const {args, flags} = await this.parse(Sign)
    const result = await signAppliance({reference: args.reference, keyFile: flags.key, lookasideDir: flags['lookaside-dir'], passphraseFile: flags['passphrase-file']})
    if (!this.jsonEnabled()) this.log(`signed ${result.reference}@${result.manifestDigest} with ${result.fingerprint}: ${result.signature}`)
    return result
  }
}
