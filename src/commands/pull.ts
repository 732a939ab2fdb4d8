import {Args, Flags} from '@oclif/core'
import {existsSync} from 'node:fs'
import {type PullApplianceResult, pullAppliance} from '../appliance/pull.js'
import {type PullResult, pull} from '../pipeline/pull.js'
import {BaseCommand} from '../cli/base-command.js'
import {fetchFlags, fetchOptionsOf} from '../cli/fetch-flags.js'
import {withFetchProgress} from '../cli/fetch-progress.js'
import {prose} from '../cli/prose.js'

export default class Pull extends BaseCommand {
  static override summary = 'Fetch every image of a profile into the content store, or export them as OCI layouts.'
  static override description = prose(`Resolves every package of PROFILE to its linux/amd64 manifest and downloads what the store
does not hold yet. Every blob is checked against its sha256 while it streams and enters the store
(blobs/sha256/<hex>) only through a temp file renamed after the digest matched.

pull REF --to DIR (REF an appliance that \`push\` made, not a profile file) fetches the appliance's
outputs and build.json into DIR instead, every layer checked against its digest as it streams.

With --to oci:DIR, also writes each image as an OCI layout DIR/<package> to carry into an
airgapped room; there, build with --source oci:DIR (or the profile's source: oci:DIR).

Credentials come from $DOCKER_CONFIG/config.json (default ~/.docker/config.json), "auths" only.
A tag that now names another image than the last pull saw is reported.

With a trust: section in the profile, every image must carry signatures of at least
trust.threshold distinct maintainers before any of its layers is downloaded; without one, the
pull warns that nothing was verified.

Exit codes: 0 every image present (and trusted); 2 usage, invalid profile or refused credentials;
3 trust failure (too few maintainer signatures, lookaside error); 4 bad input (digest mismatch,
corrupt manifest, oversized signature); 7 a registry or token service could not be reached (retry).`)
  static override examples = [
    '<%= config.bin %> pull profiles/minimal-registry.yaml --mirror 127.0.0.1:5000/stagex',
    '<%= config.bin %> pull profiles/minimal-registry.yaml --to oci:carry/minimal',
    '<%= config.bin %> pull profiles/minimal-registry.yaml --store /var/cache/stagex --json',
    '<%= config.bin %> pull 127.0.0.1:5000/appliances/minimal:1.0 --to minimal',
  ]
  static override args = {
    profile: Args.string({description: 'profile YAML file, or an appliance REF (with --to DIR)', required: true}),
  }
  static override flags = {
    ...fetchFlags,
    to: Flags.string({description: 'also write every image as an OCI layout DIR/<package>; for an appliance REF, the folder it is fetched to', helpValue: 'oci:DIR'}),
    jobs: Flags.integer({description: 'parallel downloads', default: 4, min: 1, max: 32}),
  }

  async run(): Promise<PullResult | PullApplianceResult> {
    const {args, flags} = await this.parse(Pull)
    // A profile is a file here; anything else given with a plain folder is an appliance reference.
    if (!existsSync(args.profile) && !/\.ya?ml$/i.test(args.profile) && flags.to && !flags.to.startsWith('oci:')) {
      const pulled = await pullAppliance({reference: args.profile, to: flags.to})
      if (!this.jsonEnabled()) this.log(`pulled ${pulled.identity}@${pulled.manifestDigest} into ${pulled.outDir}: ${pulled.outputs.map((o) => o.file).join(', ')}, build.json`)
      return pulled
    }
    const started = Date.now()
    const result: PullResult = await withFetchProgress(!this.jsonEnabled(), (onEvent) =>
      pull({
        profilePath: args.profile,
        to: flags.to,
        jobs: flags.jobs,
        ...fetchOptionsOf(flags),
        onFetch: onEvent,
      }),
    )
    if (!this.jsonEnabled()) {
      this.log(`pulled ${result.images.length} images of ${result.profile.name} in ${((Date.now() - started) / 1000).toFixed(1)} s${result.store ? ` into ${result.store}` : ''}`)
      for (const image of result.images)
        this.log(`  ${image.name.padEnd(20)} ${image.identity}${image.tag ? `:${image.tag}` : ''}  ${image.manifestDigest}`)
      if (result.exported) this.log(`exported as OCI layouts to ${result.exported}`)
    }
    return result
  }
}
