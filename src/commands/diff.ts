import {Args} from '@oclif/core'
import {openSide} from '../appliance/sides.js'
import {BaseCommand} from '../cli/base-command.js'
import {prose} from '../cli/prose.js'
import {compareBuilds, differentError, formatComparison} from '../compare/builds.js'
import type {BuildComparison} from '../compare/difference.js'
import {withWorkFolder} from '../pipeline/pipeline.js'

export default class Diff extends BaseCommand {
  static override summary = 'Compare two builds stage by stage, down to the first differing entries.'
  static override description = prose(`A and B are output folders, build.json files or appliance references (pulled, digests
checked). Every stage sha256 of the two records and every output are compared; an output present
on both sides is compared by its bytes, and when they differ, entry by entry: initramfs as cpio
members (mode, owner, size, bytes), rootfs-tar as tar members, esp as FAT files and fields (times,
attributes, size, bytes), disk as GPT header and entry fields (and its ESP as FAT), uki as PE
sections; anything else by the first differing byte.

Exit codes: 0 identical; 2 usage; 4 a malformed record; 8 different (the first differing stage and
entries are named, and --json carries every stage).`)
  static override examples = ['<%= config.bin %> diff out-a out-b', '<%= config.bin %> diff out/build.json 127.0.0.1:5000/appliances/minimal:1.0 --json']
  static override args = {
    a: Args.string({name: 'A', description: 'output folder, build.json or REF', required: true}),
    b: Args.string({name: 'B', description: 'output folder, build.json or REF', required: true}),
  }

  async run(): Promise<BuildComparison> {
    const {args} = await this.parse(Diff)
    const comparison = await withWorkFolder(async (work) => {
      const [a, b] = [await openSide(args.a, 'a', {workDir: work}), await openSide(args.b, 'b', {workDir: work})]
      return compareBuilds(a, b)
    })
    if (!comparison.identical) throw differentError(args.a, args.b, comparison)
    if (!this.jsonEnabled()) this.log(`${args.a} and ${args.b} are identical\n${formatComparison(comparison)}`)
    return comparison
  }
}
