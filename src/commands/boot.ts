import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {StagexError} from '../errors.js'
import {bootAndExpect, classifyBootImage, type BootResult} from '../qemu/index.js'
import {prose} from '../cli/prose.js'

export default class Boot extends BaseCommand {
  static override summary = 'Boot a disk image, a UKI, or a kernel and initrd under QEMU and check the serial console.'
  static override description = prose(`Boots under QEMU with a hard deadline and watches the guest's serial console (ttyS0) for each --expect regular expression, in the order given. A disk image or UKI boots under OVMF (UEFI), or a disk under SeaBIOS with --firmware bios; a disk is attached with snapshot=on, an ISO given with --cdrom goes on a read-only CD-ROM drive, and a UKI is put on a throwaway ESP, so no file is ever written. --secure-boot enforces Secure Boot (OVMF's secboot build with SMM): with Debian's snakeoil variable store only what PkKek-1-snakeoil signed boots, and a refusal by the firmware ends the run at once (exit 5). --kernel boots directly; console=ttyS0 and panic=-1 are added to --append unless given.

The run ends as soon as every expectation was seen (exit 0), at a kernel panic, a --fail-on match, or QEMU exiting early (exit 5), or at the deadline (exit 6). QEMU runs in its own process group, which is killed at the end in every case, also when this command is interrupted.

--accel auto boots a kernel under KVM for a few seconds first and uses KVM only if the kernel prints its banner; otherwise it falls back to TCG (and says so).

The raw console goes to --log FILE, kept and named in the result (logFile, also with --json); without --log it goes to a temp file that is removed when the run ends, so nothing is left in the temp directory, and logFile is null. On a terminal the console is also shown on stderr as it arrives.`)

  static override examples = [
    {
      description: 'Boot the disk image `build` wrote (outputs: [disk]) under OVMF and wait for the marker',
      command: '<%= config.bin %> boot out/disk.raw --expect "STAGEX-APPLIANCE-OK"',
    },
    {
      description: 'Boot a kernel and initramfs directly, two expectations in order, one minute at most',
      command:
        '<%= config.bin %> boot --kernel out/vmlinuz --initrd out/initramfs.cpio.gz --expect "Run /init" --expect "STAGEX-APPLIANCE-OK" --timeout 60',
    },
    {
      description: 'Boot a hybrid ISO (outputs: [iso]) as a DVD under SeaBIOS; without --cdrom it is attached as a disk, as a USB stick',
      command: '<%= config.bin %> boot out/image.iso --cdrom --firmware bios --expect STAGEX-APPLIANCE-OK',
    },
    {
      description: 'Boot a signed disk (boot.secureBoot) with Secure Boot enforced; an unsigned one is refused by the firmware (exit 5)',
      command: '<%= config.bin %> boot out/disk.raw --secure-boot --expect STAGEX-APPLIANCE-OK',
    },
    {
      description: 'Boot a UKI under TCG in CI, failing early on an error, with a JSON result',
      command: '<%= config.bin %> boot out/uki.efi --accel tcg --expect STAGEX-APPLIANCE-OK --fail-on "Oops|BUG:" --json',
    },
  ]

  static override args = {
    image: Args.string({description: 'disk image (raw or qcow2), ISO (with --cdrom, or as a disk when isohybrid) or UKI (PE file) to boot', required: false}),
  }

  static override flags = {
    kernel: Flags.string({description: 'kernel (bzImage) to boot directly'}),
    initrd: Flags.string({description: 'initramfs for --kernel', dependsOn: ['kernel']}),
    append: Flags.string({description: 'kernel command line for --kernel', dependsOn: ['kernel']}),
    expect: Flags.string({description: 'regular expression the console must show; repeat for several, matched in order', multiple: true}),
    'fail-on': Flags.string({description: 'regular expression that fails the boot as soon as the console shows it; repeatable', multiple: true}),
    timeout: Flags.integer({description: 'deadline in seconds from QEMU start', default: 120, min: 1}),
    accel: Flags.option({options: ['auto', 'kvm', 'tcg'] as const, description: 'accelerator; auto probes KVM and falls back to TCG', default: 'auto'})(),
    firmware: Flags.option({
      options: ['uefi', 'bios', 'direct'] as const,
      description: 'uefi (OVMF), bios (SeaBIOS, for a disk or ISO with a BIOS loader) or direct; default: direct for --kernel, uefi otherwise',
    })(),
    cdrom: Flags.boolean({description: 'attach the image as optical media (an ISO 9660 image on a CD-ROM drive) rather than as a disk'}),
    'secure-boot': Flags.boolean({
      description: "OVMF with Secure Boot enforced (SMM) and Debian's snakeoil keys enrolled (/usr/share/ovmf/PkKek-1-snakeoil.pem signs what boots); --firmware-vars gives a store with your own db",
    }),
    'firmware-code': Flags.string({description: 'OVMF code file (default: found on Debian, Fedora or Arch paths)', dependsOn: ['firmware-vars']}),
    'firmware-vars': Flags.string({description: 'OVMF variable store template (copied per run)', dependsOn: ['firmware-code']}),
    memory: Flags.integer({description: 'guest memory in MiB', default: 512, min: 64}),
    log: Flags.string({description: 'keep the raw serial console in this file (default: a temp file, removed at the end)'}),
    console: Flags.boolean({description: 'show the serial console on stderr (default: when stderr is a terminal and not --json)', allowNo: true}),
  }

  async run(): Promise<BootResult> {
    const {args, flags} = await this.parse(Boot)
    const image = args.image
    const kind = image ? await classifyBootImage(image) : undefined
    const showConsole = !this.jsonEnabled() && (flags.console ?? Boolean(process.stderr.isTTY))

    const result = await bootAndExpect({
      kernel: flags.kernel,
      initrd: flags.initrd,
      append: flags.append,
      disk: kind === 'disk' ? image : undefined,
      uki: kind === 'uki' ? image : undefined,
      firmware: flags.firmware,
      cdrom: flags.cdrom,
      secureBoot: flags['secure-boot'],
      firmwareCode: flags['firmware-code'],
      firmwareVars: flags['firmware-vars'],
      expect: flags.expect ?? [],
      failOn: flags['fail-on'],
      timeoutSeconds: flags.timeout,
      accel: flags.accel,
      memoryMiB: flags.memory,
      logFile: flags.log,
      echo: showConsole ? (text) => process.stderr.write(text) : undefined,
      onStart: (start) => this.progress(`boot: ${start.accel} (${start.accelReason}); console log: ${logWords(start.logFile)}`),
    })

    if (showConsole) process.stderr.write('\n')
    for (const seen of result.seen) this.progress(`boot: seen /${seen.pattern}/ at ${seen.atSeconds.toFixed(1)}s`)
    if (!result.passed) {
      const kind = result.outcome === 'timeout' ? 'boot-timeout' : 'boot-failed'
      throw new StagexError(kind, `boot ${result.outcome}: ${result.reason} (console log: ${logWords(result.logFile)})`, {result})
    }
    this.log(`boot passed in ${result.seconds}s under ${result.accel}: ${result.reason}; console log: ${logWords(result.logFile)}`)
    return result
  }
}

const logWords = (logFile: string | null): string => logFile ?? 'not kept (--log FILE keeps it)'
