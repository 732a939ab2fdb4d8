import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {fetchFlags, fetchOptionsOf} from '../cli/fetch-flags.js'
import {withFetchProgress} from '../cli/fetch-progress.js'
import {StagexError} from '../errors.js'
import {buildAndBootTest, type BootTestResult, type OutputRun} from '../pipeline/boot-test.js'
import {prose} from '../cli/prose.js'
import {sourceDateEpochFlag} from '../cli/source-date-epoch-flag.js'

export default class Test extends BaseCommand {
  static override summary = "Build a profile, then boot every bootable output under QEMU and run the profile's test steps."
  static override description = prose(`Builds PROFILE like \`build\`, then boots each bootable output it writes (disk and UKI under OVMF,
kernel + initramfs directly) under QEMU with a hard deadline (test.timeout in the profile, or --timeout), and runs the
profile's test.steps on the serial console: expect (a regular expression tried on whole lines, with its own timeout),
send (a line typed on the console), expect-exit (the guest powers off, optionally reporting a status through
isa-debug-exit). A line matching test.fail-on (default: Kernel panic, Oops, BUG:, Attempted to kill init) fails the run at once.

Prints one line per output and step with its time. A failed run keeps its run folder and names it; --keep keeps every one.

Exit codes: 0 every step passed; 2 invalid profile; 3 trust failure; 4 bad input;
5 a step failed (fail-on line, wrong exit status, QEMU ended early); 6 a deadline passed; 7 a registry could not be
reached (worth a retry).`)
  static override examples = [
    '<%= config.bin %> test profiles/minimal.yaml',
    '<%= config.bin %> test profiles/minimal-uki.yaml --out out/minimal-uki --accel tcg --jobs 2 --junit out/junit.xml',
  ]
  static override args = {profile: Args.string({description: 'profile YAML file', required: true})}
  static override flags = {
    out: Flags.string({char: 'o', description: 'output folder', default: 'out'}),
    'source-date-epoch': sourceDateEpochFlag,
    accel: Flags.option({options: ['auto', 'kvm', 'tcg'] as const, description: 'accelerator; auto probes KVM and falls back to TCG', default: 'auto'})(),
    timeout: Flags.integer({description: "deadline in seconds for each boot (default: the profile's test.timeout)", min: 1}),
    junit: Flags.string({description: 'write a JUnit XML report here: one testcase per output and step'}),
    jobs: Flags.integer({char: 'j', description: 'boots at once', default: 1, min: 1}),
    keep: Flags.boolean({description: 'keep every run folder (a failed run keeps its own anyway)', default: false}),
    firmware: Flags.option({
      options: ['uefi', 'bios'] as const,
      description: 'firmware for the disk, UKI and ISO outputs: uefi (OVMF, default) or bios (SeaBIOS; a UKI is then skipped); kernel + initramfs boots directly',
    })(),
    cdrom: Flags.boolean({description: 'boot the ISO output as optical media (default: attached as a disk, as a USB stick is)', default: false}),
    'all-ways': Flags.boolean({
      description: 'boot the ISO output every way it boots: under OVMF and SeaBIOS, as a disk (a USB stick) and from a CD-ROM (runs iso-uefi-disk, iso-uefi-cdrom, iso-bios-disk, iso-bios-cdrom)',
      default: false,
      exclusive: ['firmware', 'cdrom'],
    }),
    'firmware-code': Flags.string({description: 'OVMF code file (default: found on Debian, Fedora or Arch paths; the secboot build with --secure-boot)', dependsOn: ['firmware-vars']}),
    'firmware-vars': Flags.string({description: 'OVMF variable store template, copied per run (e.g. one with your own db certificate enrolled)', dependsOn: ['firmware-code']}),
    'secure-boot': Flags.boolean({description: "boot the disk, UKI and ISO outputs under OVMF with Secure Boot enforced and Debian's snakeoil keys (sign with boot.secureBoot)", default: false}),
    log: Flags.string({description: 'file for the raw serial console (default: console.log in --out; console-<output>.log for several outputs)'}),
    console: Flags.boolean({description: 'show the serial console on stderr (default: on a terminal, not with --json)', allowNo: true}),
    ...fetchFlags,
    locked: Flags.boolean({description: 'build what <profile>.lock.json pins; fail when the profile or a tag disagrees with it', default: false}),
  }

  async run(): Promise<BootTestResult> {
    const {args, flags} = await this.parse(Test)
    const showConsole = flags.console ?? (process.stderr.isTTY && !this.jsonEnabled())
    const result: BootTestResult = await withFetchProgress(!this.jsonEnabled(), (onFetch) =>
      buildAndBootTest({
        profilePath: args.profile,
        outDir: flags.out,
        sourceDateEpoch: flags['source-date-epoch'],
        accel: flags.accel,
        timeoutSeconds: flags.timeout,
        junitFile: flags.junit,
        logFile: flags.log,
        jobs: flags.jobs,
        keep: flags.keep,
        firmware: flags.firmware,
        cdrom: flags.cdrom,
        secureBoot: flags['secure-boot'],
        allWays: flags['all-ways'],
        firmwareCode: flags['firmware-code'],
        firmwareVars: flags['firmware-vars'],
        progress: (message) => this.progress(message),
        echo: showConsole ? (chunk) => process.stderr.write(chunk) : undefined,
        locked: flags.locked,
        ...fetchOptionsOf(flags),
        onFetch,
      }),
    )
    const {build} = result
    if (!this.jsonEnabled()) {
      this.log(`built ${build.profile.name}:`)
      for (const output of build.outputs) this.log(`  ${output.kind.padEnd(10)} ${output.path}  sha256:${output.sha256}  ${output.size} bytes`)
      for (const run of result.runs) for (const line of runLines(run)) this.log(line)
    }
    if (result.outcome !== 'passed') {
      const bad = result.runs.filter((r) => !r.boot.passed)
      const what = bad.map((r) => `${r.output}: ${r.boot.reason}${r.boot.runFolder ? ` (run folder kept: ${r.boot.runFolder})` : ''}`).join('; ')
      const kind = result.outcome === 'timeout' ? 'boot-timeout' : 'boot-failed'
      throw new StagexError(kind, `boot test of ${build.profile.name} ${result.outcome === 'timeout' ? 'timed out' : 'failed'}: ${what}`, {result})
    }
    return result
  }
}

/** "disk (uefi): passed under tcg in 10.2 s; console log: out/console-disk.log", then one line per step. */
function runLines(run: OutputRun): string[] {
  const {boot} = run
  const head = `${run.output}${run.via ? ` (${run.via})` : ''}: ${boot.outcome} under ${boot.accel} (${boot.accelReason}) in ${boot.seconds.toFixed(1)} s; console log: ${boot.logFile}`
  const marks = {passed: 'ok  ', failed: 'FAIL', timeout: 'TIME', 'not-run': 'skip'} as const
  const steps = boot.steps.map(
    (step, i) =>
      `  ${run.output.padEnd(9)} ${marks[step.outcome]} step ${i + 1}: ${step.step}` +
      (step.atSeconds === undefined ? '' : ` at ${step.atSeconds.toFixed(1)} s (${(step.seconds ?? 0).toFixed(1)} s)`) +
      (step.status === undefined ? '' : ` status ${step.status}`),
  )
  const kept = boot.runFolder ? [`  ${run.output.padEnd(9)} run folder kept: ${boot.runFolder}`] : []
  return [head, ...steps, ...kept]
}
