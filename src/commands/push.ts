import {Args} from '@oclif/core'
import {type PushResult, pushAppliance} from '../appliance/push.js'
import {BaseCommand} from '../cli/base-command.js'
import {prose} from '../cli/prose.js'

export default class Push extends BaseCommand {
  static override summary = 'Push the outputs of a build to a registry as one OCI artifact (an appliance).'
  static override description = prose(`Reads OUT_DIR/build.json, checks every output it lists (size and sha256), and pushes them as
one OCI image manifest: artifactType application/vnd.stagex-image.appliance.v1, build.json as its
config (application/vnd.stagex-image.build-record.v1+json), one layer per output
(application/vnd.stagex-image.output.<kind>.v1, org.opencontainers.image.title = its file name),
and fixed annotations (org.opencontainers.image.created = SOURCE_DATE_EPOCH). The manifest digest
depends only on the outputs: the same build pushed from any machine has the same digest.

Credentials come from $DOCKER_CONFIG/config.json (default ~/.docker/config.json), "auths" only.

Exit codes: 0 pushed; 2 usage (no build.json, a digest in REF, push denied); 4 an output differs
from build.json; 7 the registry could not be reached.`)
  static override examples = ['<%= config.bin %> push out 127.0.0.1:5000/appliances/minimal:1.0', '<%= config.bin %> push out registry.example/appliances/minimal --json']
  static override args = {
    outDir: Args.string({name: 'OUT_DIR', description: 'output folder of `build` (with build.json)', required: true}),
    reference: Args.string({name: 'REF', description: 'REGISTRY/REPOSITORY[:TAG]', required: true}),
  }

  async run(): Promise<PushResult> {
    const {args} = await this.parse(Push)
    const result = await pushAppliance({outDir: args.outDir, reference: args.reference})
    if (!this.jsonEnabled()) {
      this.log(`pushed ${result.reference}`)
      for (const l of result.layers) this.log(`  ${l.kind.padEnd(12)} ${l.file.padEnd(20)} ${l.digest}${l.uploaded ? '' : ' (already there)'}`)
    }
    return result
  }
}
