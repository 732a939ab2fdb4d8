import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {fetchFlags, fetchOptionsOf} from '../cli/fetch-flags.js'
import {withFetchProgress} from '../cli/fetch-progress.js'
import {buildRootfs, formatListEntry, formatPruneSummary, type RootfsResult, type RootfsTarResult} from '../pipeline/rootfs.js'
import {prose} from '../cli/prose.js'

export default class Rootfs extends BaseCommand {
  static override summary = "Write a profile's root tree (flattened and shaped) as a deterministic tar, or list it."
  static override description = prose(`Resolves, verifies and flattens the profile's packages, adds its files and init and
prunes it, exactly as \`build\` does, then writes the tree as a tar instead of an initramfs: sorted
by UTF-8 path, numeric owners, times clamped to SOURCE_DATE_EPOCH, hardlinks kept as tar links.
Use it to inspect what an appliance holds, or to feed another tool. The file is written to a temp
file and renamed, so a failed run leaves the previous one intact.

With --list it prints the tree instead (or as well, with --out): one line per entry in UTF-8 path
order, tab-separated: path, type, mode (4 octal digits), uid:gid, size, then the content's sha256
(files), "-> target" (symlinks), "=> first path" (later paths of a hardlink group) or major,minor
(devices), and the package the entry came from ("profile" for what the profile and the tool add:
its files, /init, /dev/console, the root). With --json the same entries are objects in one
document, each with the digest of its layer too. --list alone writes no tar.

With --report it prints what pruning removed (prune: default), per package: each package's total,
then each removed path with the rule's reason, its entries and bytes; then the paths the profile's
keep: spared. With --json the same report is the document's "pruned" field. --report alone writes no
tar; with --list, the listing keeps stdout and the report goes to stderr.

Exit codes: 0 written, listed or reported; 2 invalid profile or none of --out, --list, --report; 3 trust failure;
4 bad or unsafe input; 7 a registry could not be reached (worth a retry).`)
  static override examples = [
    '<%= config.bin %> rootfs profiles/minimal.yaml --out out/minimal-rootfs.tar',
    '<%= config.bin %> rootfs profiles/minimal.yaml --out rootfs.tar --json && tar -tvf rootfs.tar | head',
    "<%= config.bin %> rootfs profiles/minimal.yaml --list | awk -F'\\t' '$7 == \"core-busybox\"'",
    '<%= config.bin %> rootfs profiles/minimal.yaml --report',
    "<%= config.bin %> rootfs profiles/minimal.yaml --list --json | jq -r '.entries[] | select(.mode | test(\"^[4-7]\")) | .path'",
  ]
  static override args = {profile: Args.string({description: 'profile YAML file', required: true})}
  static override flags = {
    out: Flags.string({char: 'o', description: 'tar file to write (required unless --list or --report)', helpValue: 'FILE.tar'}),
    list: Flags.boolean({char: 'l', description: 'print every entry: path, type, mode, owner, size, sha256 or target, package', default: false}),
    report: Flags.boolean({char: 'r', description: 'print what pruning removed, per package, with sizes, and what keep: kept', default: false}),
    'source-date-epoch': Flags.integer({description: 'timestamp every file is clamped to (seconds since 1970)', min: 0}),
    ...fetchFlags,
  }

  async run(): Promise<RootfsResult | RootfsTarResult> {
    const {args, flags} = await this.parse(Rootfs)
    const result = await withFetchProgress(!this.jsonEnabled(), (onFetch) =>
      buildRootfs({
        profilePath: args.profile,
        outFile: flags.out,
        list: flags.list,
        report: flags.report,
        sourceDateEpoch: flags['source-date-epoch'],
        progress: (message) => this.progress(message),
        ...fetchOptionsOf(flags),
        onFetch,
      }),
    )
    const tar = result.tar
    const summary = tar && `${tar.path}  sha256:${tar.sha256}  ${tar.size} bytes, ${tar.entries} entries`
    if (result.pruned) {
      // --report: on stdout, unless the listing has it (then beside the progress, on stderr).
      const lines = formatPruneSummary(result.pruned).join('\n')
      if (result.entries) this.progress(lines)
      else {
        if (!this.jsonEnabled()) this.log(lines)
        if (summary) this.log(summary)
        return result
      }
    }
    if (!result.entries) {
      // --out alone: the tar's summary, and its JSON document as before --list existed.
      this.log(summary)
      return tar!
    }
    // stdout carries the listing only, so it can be piped; the tar's summary goes with the progress.
    if (summary) this.progress(summary)
    if (!this.jsonEnabled()) this.log(result.entries.map(formatListEntry).join('\n'))
    return result
  }
}
