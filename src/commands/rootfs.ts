import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {fetchFlags, fetchOptionsOf} from '../cli/fetch-flags.js'
import {withFetchProgress} from '../cli/fetch-progress.js'
import {buildRootfsTar, type RootfsTarResult} from '../pipeline/rootfs.js'
import {prose} from '../cli/prose.js'

export default class Rootfs extends BaseCommand {
  static override summary = "Write a profile's root tree (flattened and shaped) as a deterministic tar."
  static override description = prose(`Resolves, verifies and flattens the profile's packages, adds its files and init and
prunes it, exactly as \`build\` does, then writes the tree as a tar instead of an initramfs: sorted
by UTF-8 path, numeric owners, times clamped to SOURCE_DATE_EPOCH, hardlinks kept as tar links.
Use it to inspect what an appliance holds, or to feed another tool. The file is written to a temp
file and renamed, so a failed run leaves the previous one intact.

Exit codes: 0 written; 2 invalid profile; 3 trust failure; 4 bad or unsafe input; 7 a registry could
not be reached (worth a retry).`)
  static override examples = [
    '<%= config.bin %> rootfs profiles/minimal.yaml --out out/minimal-rootfs.tar',
    '<%= config.bin %> rootfs profiles/minimal.yaml --out rootfs.tar --json && tar -tvf rootfs.tar | head',
  ]
  static override args = {profile: Args.string({description: 'profile YAML file', required: true})}
  static override flags = {
    out: Flags.string({char: 'o', description: 'tar file to write', required: true, helpValue: 'FILE.tar'}),
    'source-date-epoch': Flags.integer({description: 'timestamp every file is clamped to (seconds since 1970)', min: 0}),
    ...fetchFlags,
  }

  async run(): Promise<RootfsTarResult> {
    const {args, flags} = await this.parse(Rootfs)
    const result: RootfsTarResult = await withFetchProgress(!this.jsonEnabled(), (onFetch) =>
      buildRootfsTar({
        profilePath: args.profile,
        outFile: flags.out,
        sourceDateEpoch: flags['source-date-epoch'],
        progress: (message) => this.progress(message),
        ...fetchOptionsOf(flags),
        onFetch,
      }),
    )
    this.log(`${result.path}  sha256:${result.sha256}  ${result.size} bytes, ${result.entries} entries`)
    return result
  }
}
