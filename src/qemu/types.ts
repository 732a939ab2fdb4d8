// The harness's public shapes: what a caller asks for (BootOptions) and what it gets back (BootResult).

export type Accel = 'kvm' | 'tcg'
export type AccelChoice = 'auto' | Accel

/** How the machine starts: OVMF (UEFI), SeaBIOS (QEMU's default BIOS), or QEMU's own loader for a kernel given on the command line. */
export type FirmwareMode = 'uefi' | 'bios' | 'direct'

export interface BootOptions {
  /** Direct boot: a bzImage. */
  kernel?: string
  initrd?: string
  /** Kernel command line for direct boot; `console=ttyS0` and `panic=-1` are added when absent. */
  append?: string
  /** A raw or qcow2 disk image with an EFI system partition; booted under OVMF, never written. */
  disk?: string
  /** A Unified Kernel Image (PE file); booted under OVMF from a throwaway ESP. */
  uki?: string
  /** Defaults: 'direct' for kernel boot, 'uefi' for disk and UKI (which need it); 'bios' boots a disk or ISO under SeaBIOS. */
  firmware?: FirmwareMode
  /** Attach the disk image as optical media (an ISO on a CD-ROM drive) rather than as a hard disk. */
  cdrom?: boolean
  /**
   * OVMF with Secure Boot enforced (the secboot build, SMM on) and a variable store with keys
   * enrolled: Debian's snakeoil store unless firmwareVars names one with the signer's db certificate.
   */
  secureBoot?: boolean
  /** OVMF overrides; otherwise the Debian/Fedora/Arch install paths are searched. */
  firmwareCode?: string
  firmwareVars?: string
  /** Regular expression sources, matched in order against whole console lines (steps, when given, replace them). */
  expect: string[]
  /** Console steps (the profile's test.steps); default: one expect step per `expect` source. */
  steps?: ConsoleStep[]
  /** Keep the run folder (OVMF vars, ESP, a copy of the console log): always, only when the run failed, or never (default). */
  keepRunFolder?: 'always' | 'on-failure' | 'never'
  /** Regular expression sources that fail the boot as soon as a console line matches one (default DEFAULT_FAIL_ON). */
  failOn?: string[]
  timeoutSeconds: number
  accel: AccelChoice
  memoryMiB?: number
  /**
   * Where the raw serial console is written (and kept). Without it the console goes to a temp file
   * inside the run folder, removed when the run ends: nothing is left in the temp directory.
   */
  logFile?: string
  /** Receives the console text as it arrives (control sequences removed), e.g. to show it on stderr. */
  echo?: (chunk: string) => void
  /** Called once, just before QEMU starts: what is about to run, for progress output. */
  onStart?: (info: BootStart) => void
  /** The QEMU binary; defaults to $STAGEX_QEMU or qemu-system-x86_64 on PATH. */
  qemuBinary?: string
}

/** One console step: wait for a line, type a line, or wait for the guest to power off (with a status). */
export type ConsoleStep =
  | {expect: string; /** Seconds from the step's start; default: the run's deadline. */ timeout?: number}
  | {send: string}
  | {/** A status the guest reports through isa-debug-exit, or true for any clean power-off. */ expectExit: number | true}

export interface StepResult {
  step: string
  kind: 'expect' | 'send' | 'expect-exit'
  outcome: 'passed' | 'failed' | 'timeout' | 'not-run'
  /** Seconds from QEMU's start to the step's end. */
  atSeconds?: number
  /** How long the step took. */
  seconds?: number
  /** expect-exit: the status the guest reported, if it did. */
  status?: number
  /** Why the step failed. */
  detail?: string
}

export interface BootStart {
  accel: Accel
  accelReason: string
  /** The console log being written, or null when it is not kept (no logFile given). */
  logFile: string | null
  qemuArgv: string[]
}

export type BootOutcome = 'passed' | 'failed' | 'panic' | 'timeout'

export interface SeenExpectation {
  pattern: string
  /** Seconds from QEMU's start to the moment the text arrived. */
  atSeconds: number
}

export interface AccelDecision {
  accel: Accel
  /** Why this accelerator: asked for, or what the KVM probe found. */
  reason: string
}

export interface BootResult {
  passed: boolean
  outcome: BootOutcome
  /** One sentence for a person: what ended the run. */
  reason: string
  seen: SeenExpectation[]
  missing: string[]
  /** Wall time of the QEMU run (the accelerator probe not included). */
  seconds: number
  accel: Accel
  accelReason: string
  /** The kept console log (absolute), or null when none was asked for (the temp log is removed). */
  logFile: string | null
  /** The full command, binary first, to rerun by hand. */
  qemuArgv: string[]
  /** QEMU's pid, also its process group id; the group is gone when bootAndExpect returns. */
  qemuPid: number
  steps: StepResult[]
  /** The last console lines (for failure reports). */
  consoleTail: string[]
  /** Patterns that went over their time budget, and the like. */
  warnings: string[]
  /** The run folder, when it was kept (keepRunFolder); null once removed. */
  runFolder: string | null
  /** QEMU's exit status when it ended by itself; null when we stopped it. */
  qemuExit: {code: number | null; signal: string | null} | null
}
