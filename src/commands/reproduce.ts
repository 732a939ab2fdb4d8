import {Args, Flags} from '@oclif/core'
import {type ReproduceResult, reproduce} from '../appliance/reproduce.js'
import {BaseCommand} from '../cli/base-command.js'
import {prose} from '../cli/prose.js'
import {formatComparison} from '../compare/builds.js'

export default class Reproduce extends BaseCommand {
  static override summary = 'Rebuild from a build record and compare every stage and output with the original.'
  static override description = prose(`TARGET is an appliance reference (pulled, digests checked), an output folder or a build.json.
Its recipe (the parsed profile and the bytes of the local files it referenced) is restored in a
fresh work folder, and the build runs again from the record's pinned input digests and its
SOURCE_DATE_EPOCH. Then every stage sha256 and every output is compared as \`diff\` does.

A record whose packages came from a local folder needs --source oci:DIR; one whose lookaside was a
local folder needs --lookaside URL. With --sign KEYFILE and an identical rebuild of REF, a
signature of the appliance is written as \`sign\` does.

Exit codes: 0 identical (the stage table is printed); 2 usage; 3 trust failure of an input;
4 bad input; 7 unreachable; 8 different (the first differing stage and entries are named).`)
  static override examples = [
    '<%= config.bin %> reproduce 127.0.0.1:5000/appliances/minimal:1.0 --source oci:.cache/world/oci --lookaside file://.cache/world/sigs --sign me.asc --lookaside-dir sigs',
    '<%= config.bin %> reproduce out/build.json --source oci:.cache/world/oci --lookaside file://.cache/world/sigs',
  ]
  static override args = {target: Args.string({name: 'TARGET', description: 'REF, OUT_DIR or build.json', required: true})}
  static override flags = {
    source: Flags.string({description: "where the packages are, when the record's came from a local folder", helpValue: 'oci:DIR'}),
    mirror: Flags.string({description: "pull the record's registry from this one (HOST[/PATH])", helpValue: 'HOST/PATH'}),
    store: Flags.string({description: 'content store folder [default: $XDG_CACHE_HOME/stagex-image]', helpValue: 'DIR'}),
    lookaside: Flags.string({description: "where the inputs' signatures are, in place of the record's", helpValue: 'URL'}),
    sign: Flags.string({description: 'sign the appliance when the rebuild is identical (armored secret key)', helpValue: 'KEYFILE', dependsOn: ['lookaside-dir']}),
    'lookaside-dir': Flags.string({description: 'with --sign: the lookaside folder the signature is written to', helpValue: 'DIR'}),
    'passphrase-file': Flags.string({description: "with --sign: file holding the key's passphrase", helpValue: 'FILE'}),
  }

  async run(): Promise<ReproduceResult> {
    const {args, flags} = await this.parse(Reproduce)
    const result = await reproduce({
      target: args.target,
      source: flags.source,
      mirror: flags.mirror,
      store: flags.store,
      lookaside: flags.lookaside,
      sign: flags.sign ? {keyFile: flags.sign, lookasideDir: flags['lookaside-dir']!, passphraseFile: flags['passphrase-file']} : undefined,
      progress: (message) => this.progress(message),
    })
    if (!this.jsonEnabled()) {
      this.log(`${args.target}: reproduced, every stage and output identical (appliance ${result.manifestDigest})`)
      this.log(formatComparison(result))
      if (result.signature) this.log(`signed with ${result.signature.fingerprint}: ${result.signature.signature}`)
    }
    return result
  }
}
