import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {build, type BuildResult} from '../pipeline/pipeline.js'
import {fetchFlags, fetchOptionsOf} from '../cli/fetch-flags.js'
import {withFetchProgress} from '../cli/fetch-progress.js'
import {prose} from '../cli/prose.js'
import {sourceDateEpochFlag} from '../cli/source-date-epoch-flag.js'

export default class Build extends BaseCommand {
  static override summary = "Build an appliance image from a profile: the profile's outputs (kernel, initramfs, UKI, disk, ISO, EIF) and build.json."
  static override description = prose(`Runs the whole pipeline: resolves every package of PROFILE to its linux/amd64 manifest,
flattens the layers into one tree, adds the profile's files and init, prunes package managers and
compilers, checks the kernel's config against the profile's fragment, and writes the outputs into
--out with a temp file and a rename each (an interrupted build leaves the previous outputs intact).

The profile's outputs: list says what is written: kernel (vmlinuz), initramfs (initramfs.cpio.gz),
rootfs-tar (rootfs.tar), uki (uki.efi: stub, kernel, initramfs and command line in one PE file), esp
(esp.img, FAT32), disk (disk.raw, GPT with the ESP), iso (image.iso: hybrid ISO 9660 for DVD and USB,
BIOS through isolinux and UEFI through the ESP; iso: {uefi: false} for BIOS only) and eif (a Nitro
Enclave image with its PCRs); what an output is made of but was not asked for stays in the work folder.
boot.secureBoot signs the UKI with Authenticode (loader uki), so the ESP, disk and ISO carry the signed
file. sbom.spdx.json and build.json (every stage's sha256, the build seed, the recipe) are always written.

The bytes depend only on the profile, the input digests, SOURCE_DATE_EPOCH and the tool version.
SOURCE_DATE_EPOCH comes from --source-date-epoch, else the environment, else the profile, else 1;
it clamps file mtimes and sets the ESP's and UKI's timestamps (--source-date-epoch below says exactly what).

Images from a registry are fetched into the content store (--store, default
$XDG_CACHE_HOME/stagex-image) and read from there; --offline uses only the store. --locked builds
what <profile>.lock.json pins and fails when the profile disagrees with it (exit 2) or a tag has
moved since (exit 3).

Exit codes: 0 built; 2 invalid profile or usage; 3 trust failure or moved tag; 4 bad or unsafe input;
7 a registry or token service could not be reached (worth a retry).`)
  static override examples = [
    '<%= config.bin %> build profiles/minimal.yaml --out out/minimal',
    'SOURCE_DATE_EPOCH=1700000000 <%= config.bin %> build profiles/minimal.yaml --out out --json',
    '<%= config.bin %> build profiles/minimal-registry.yaml --mirror 127.0.0.1:5000/stagex --locked --out out/minimal',
    '<%= config.bin %> build profiles/minimal-registry.yaml --offline --store /var/cache/stagex --out out/minimal',
    '<%= config.bin %> build profiles/minimal-registry.yaml --source oci:carry/minimal --out out/minimal',
  ]
  static override args = {
    profile: Args.string({description: 'profile YAML file', required: true}),
  }
  static override flags = {
    out: Flags.string({char: 'o', description: 'output folder', default: 'out'}),
    'source-date-epoch': sourceDateEpochFlag,
    ...fetchFlags,
    locked: Flags.boolean({description: 'build what <profile>.lock.json pins; fail when the profile or a tag disagrees with it', default: false}),
  }

  async run(): Promise<BuildResult> {
    const {args, flags} = await this.parse(Build)
    const started = Date.now()
    const result: BuildResult = await withFetchProgress(!this.jsonEnabled(), (onFetch) =>
      build({
        profilePath: args.profile,
        outDir: flags.out,
        sourceDateEpoch: flags['source-date-epoch'],
        progress: (message) => this.progress(message),
        locked: flags.locked,
        ...fetchOptionsOf(flags),
        onFetch,
      }),
    )
    if (!this.jsonEnabled()) {
      this.log(`built ${result.profile.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      for (const output of result.outputs) this.log(`  ${output.kind.padEnd(10)} ${output.path}  sha256:${output.sha256}  ${output.size} bytes`)
      const eif = result.record.stages.eif
      // The PCRs are what an enclave's attestation is checked against: print them where people look.
      if (eif) for (const [pcr, value] of Object.entries(eif.pcrs)) this.log(`  ${pcr.padEnd(10)} ${value}  (${eif.hashAlgorithm}, eif)`)
    }
    return result
  }
}
