import {Args} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {fetchFlags, fetchOptionsOf} from '../cli/fetch-flags.js'
import {withFetchProgress} from '../cli/fetch-progress.js'
import {StagexError} from '../errors.js'
import {checkProfile, type CheckResult} from '../pipeline/rootfs.js'
import {prose} from '../cli/prose.js'

export default class Check extends BaseCommand {
  static override summary = 'Check what a profile would build, without writing any output.'
  static override description = prose(`Resolves, verifies, flattens and shapes the profile like \`build\`, then checks:
  - kernel: every option of the profile's kernel.config fragment holds in the kernel package's /linux.config;
  - ELF closure: every dynamically linked program finds its interpreter and libraries in the image;
  - no compilers: no compiler, build tool, package manager, header or static library is left, by name
    (the prune rules) or by content (an ELF file with a compiler's or linker's marker strings, a script
    that runs pip or npm). A path the profile's keep: lists is exempt from the names, not from the content.

Exit codes: 0 every check holds; 2 invalid profile or the kernel misses a required option;
3 trust failure; 4 the image fails the ELF or no-compiler check (or bad input).`)
  static override examples = ['<%= config.bin %> check profiles/minimal.yaml', '<%= config.bin %> check profiles/airgap-signer.yaml --json']
  static override args = {profile: Args.string({description: 'profile YAML file', required: true})}
  static override flags = {...fetchFlags}

  async run(): Promise<CheckResult> {
    const {args, flags} = await this.parse(Check)
    const result: CheckResult = await withFetchProgress(!this.jsonEnabled(), (onFetch) =>
      checkProfile({
        profilePath: args.profile,
        progress: (message) => this.progress(message),
        ...fetchOptionsOf(flags),
        onFetch,
      }),
    )
    const kernel = result.kernel
    const lines = [
      kernel
        ? `kernel   ${kernel.mismatches.length === 0 ? 'ok  ' : 'FAIL'} ${kernel.required} required options checked in ${kernel.package}`
        : 'kernel   -    the profile has no kernel: (a root tree only); nothing to check',
      ...(kernel?.mismatches ?? []).map((m) => `           ${m.option} must be ${m.required}, the kernel has it ${m.actual}`),
      `elf      ${result.elf.problems.length === 0 ? 'ok  ' : 'FAIL'} ${result.elf.files} ELF files, ${result.elf.dynamic} dynamically linked`,
      ...result.elf.problems.map((p) => `           ${p.path}: ${p.problem} (${p.package})`),
      ...result.elf.allowed.map((p) => `           ${p.path}: allowed by allowMissing: ${p.problem}`),
      `compiler ${result.compilers.length === 0 ? 'ok  ' : 'FAIL'} no compilers, package managers, headers or static libraries (by name and by content)`,
      ...result.compilers.map(
        (c) =>
          `           ${c.path}: ${c.reason} (${c.package}; ${c.by === 'content' ? `its content has "${c.marker}"` : 'by its name'})` +
          (c.kept ? ' - keep: lists it, but a compiler or package manager is refused even when kept' : ''),
      ),
      ...result.kept.map((k) => `           ${k.path}: kept by keep: ${k.keep}${k.reason ? ` (else removed: ${k.reason})` : ''}`),
    ]
    if (!this.jsonEnabled()) this.log(lines.join('\n'))
    if (!result.passed) {
      const kind = (kernel?.mismatches.length ?? 0) > 0 ? 'profile' : 'bad-input'
      throw new StagexError(kind, `${result.profile} fails ${[
        (kernel?.mismatches.length ?? 0) > 0 && 'the kernel check',
        result.elf.problems.length > 0 && 'the ELF closure check',
        result.compilers.length > 0 && 'the no-compiler check',
      ].filter(Boolean).join(' and ')}`, {result})
    }
    return result
  }
}
