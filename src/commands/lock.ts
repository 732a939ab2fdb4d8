import {Args} from '@oclif/core'
import {type LockResult, lockProfile} from '../pipeline/lock.js'
import {BaseCommand} from '../cli/base-command.js'
import {fetchFlags, fetchOptionsOf} from '../cli/fetch-flags.js'
import {withFetchProgress} from '../cli/fetch-progress.js'
import {prose} from '../cli/prose.js'

export default class Lock extends BaseCommand {
  static override summary = 'Resolve every package of a profile and write <profile>.lock.json.'
  static override description = prose(`Resolves each package's tag to its image index and linux/amd64 manifest and writes, next to
the profile, <profile>.lock.json: for each package its canonical repository, tag, index digest,
manifest digest, platform and size. Only indexes, manifests and configs are fetched.

\`build --locked\` then builds exactly these images, and fails when the profile and the lock
disagree or when a tag has moved since: a moved tag is reported, never followed.

Exit codes: 0 lock written; 2 usage or invalid profile; 3 trust failure; 4 bad input; 7 a registry or
token service could not be reached (worth a retry).`)
  static override examples = [
    '<%= config.bin %> lock profiles/minimal-registry.yaml --mirror 127.0.0.1:5000/stagex',
    '<%= config.bin %> lock profiles/minimal-registry.yaml --offline',
  ]
  static override args = {
    profile: Args.string({description: 'profile YAML file', required: true}),
  }
  static override flags = {...fetchFlags}

  async run(): Promise<LockResult> {
    const {args, flags} = await this.parse(Lock)
    const result: LockResult = await withFetchProgress(!this.jsonEnabled(), (onEvent) =>
      lockProfile({
        profilePath: args.profile,
        ...fetchOptionsOf(flags),
        onFetch: onEvent,
      }),
    )
    if (!this.jsonEnabled()) {
      this.log(`wrote ${result.lockPath}`)
      for (const p of result.lock.packages)
        this.log(`  ${p.name.padEnd(20)} ${p.repository}${p.tag ? `:${p.tag}` : ''}  ${p.manifestDigest}`)
    }
    return result
  }
}
