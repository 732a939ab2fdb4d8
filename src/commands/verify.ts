import {Args, Flags} from '@oclif/core'
import {verifyReference} from '../appliance/verify.js'
import {DEFAULT_LOOKASIDE, DEFAULT_THRESHOLD, type VerifyResult} from '../pipeline/verify.js'
import {BaseCommand} from '../cli/base-command.js'
import {formatTrustTable} from '../trust/trust-table.js'
import {prose} from '../cli/prose.js'

export default class Verify extends BaseCommand {
  static override summary = 'Check that at least N distinct maintainers signed one image (the trust stage alone).'
  static override description = prose(`Resolves IMAGE_REF to its linux/amd64 manifest digest, reads every signature-N of that digest
from the lookaside (<lookaside>/<repository path>@sha256=<hex>/signature-N, until the first one
missing), and verifies each as an OpenPGP signed message against the keyring. A signature counts
when its key (or the primary of the subkey that made it) is in the keyring, was valid when it
signed and is not revoked now, and its payload names this image's repository and manifest digest.
A primary key counts once however many signatures it made.

IMAGE_REF is a registry reference ([REGISTRY/]REPOSITORY[:TAG][@DIGEST]; its repository is the
identity the signatures must name) or an OCI layout oci:DIR[:TAG]. A layout carries no identity:
give it with --identity. --identity also judges a mirror's copy as the image it mirrors.
IMAGE_REF may also be an appliance that \`push\` made: the same trust stage judges its manifest
digest (signatures as \`sign\` writes them).

Relative file:// lookasides (file://sigs, file:../sigs) are folders relative to the current folder.

Exit codes: 0 at least N distinct trusted signers; 2 usage (bad reference, unreadable keyring);
3 fewer than N, or a lookaside that answered neither a signature nor "not found"; 4 bad input
(an oversized signature file, a corrupt manifest).`)
  static override examples = [
    '<%= config.bin %> verify oci:.cache/world/oci/core-busybox:latest --identity docker.io/stagex/core-busybox --keyring .cache/world/keys/maintainers.pgp --lookaside file://.cache/world/sigs',
    '<%= config.bin %> verify stagex/core-busybox:latest --keyring maintainers.pgp --threshold 3',
    '<%= config.bin %> verify 127.0.0.1:5000/stagex/core-busybox --identity docker.io/stagex/core-busybox --keyring maintainers.pgp --lookaside http://127.0.0.1:8080 --json',
  ]
  static override args = {
    image: Args.string({name: 'IMAGE_REF', description: 'registry reference or oci:DIR[:TAG]', required: true}),
  }
  static override flags = {
    keyring: Flags.string({char: 'k', description: "maintainers' public keys (armored or binary; repeat to read several)", helpValue: 'FILE', required: true, multiple: true}),
    threshold: Flags.integer({char: 'n', description: 'distinct maintainers needed', default: DEFAULT_THRESHOLD, min: 1, max: 128}),
    lookaside: Flags.string({description: `where signatures live (file://, http://, https://) [default: ${DEFAULT_LOOKASIDE}]`, helpValue: 'URL'}),
    identity: Flags.string({description: 'the repository signatures must name, e.g. docker.io/stagex/core-busybox (required for oci:)', helpValue: 'REPOSITORY'}),
    legacy: Flags.boolean({description: "also accept StageX's pre-June-2025 signature payloads", default: false}),
  }

  async run(): Promise<VerifyResult> {
    const {args, flags} = await this.parse(Verify)
    const result = await verifyReference({
      reference: args.image,
      identity: flags.identity,
      keyrings: flags.keyring,
      threshold: flags.threshold,
      lookaside: flags.lookaside,
      legacy: flags.legacy,
    })
    if (!this.jsonEnabled()) {
      this.log(`${result.identity}@${result.manifestDigest}: trusted, ${result.distinctSigners} distinct signers (${result.threshold} needed)`)
      this.log(formatTrustTable(result.table))
    }
    return result
  }
}
