// Reading a kernel config that may be a savedefconfig fragment.
//
// StageX commits its kernel configs in savedefconfig form (../shared/stagex/kernel-configs): an
// option at its Kconfig default is left out, and `make` fills it in when it writes the full .config
// that a kernel package ships as /linux.config. So in a fragment an absent option is not "not set":
// it is whatever Kconfig's default makes it. We do not evaluate Kconfig; the table below holds the
// defaults of the options the checks rely on, and any other absent option is reported as undecided
// (a failure, never a silent pass).
import type {KconfigValues} from './kconfig.js'

export type ConfigForm = 'full' | 'savedefconfig'

/**
 * How a config's form is decided: `make` (syncconfig/olddefconfig) writes the header
 * "# Automatically generated file; DO NOT EDIT." and, since Linux 5.8, a CONFIG_CC_VERSION_TEXT
 * line into every full .config; savedefconfig writes neither (CC_VERSION_TEXT has no prompt, so
 * it is never saved). Either one present: full. Neither: savedefconfig form. A line count is not
 * used: fragments grow large too (StageX's server.config has 1164 lines).
 */
export function configForm(text: string): ConfigForm {
  return /^CONFIG_CC_VERSION_TEXT=/m.test(text) || /^# Automatically generated file; DO NOT EDIT\.$/m.test(text) ? 'full' : 'savedefconfig'
}

export interface KconfigDefault {
  option: string
  /** The value an absent option takes when every `dependsOn` holds (otherwise it is 'n'). */
  value: string
  /** Kconfig `depends on`, as "X" (X is y or m) or "X=y" (X is exactly y). */
  dependsOn: string[]
  /** Where the default was read: Kconfig file and line in the Linux tree. */
  source: string
}

// Lines were read in the Linux trees that this project's code index holds (torvalds/linux at the
// commits named), not in 6.19.3 itself (linux-package.toml); the entries' text (default, depends
// on) is long-standing. Where no line is given, the line was not verified: the file is named only.
// "no default" means Kconfig's implicit default: n.
export const KCONFIG_DEFAULTS: readonly KconfigDefault[] = [
  {
    option: 'CONFIG_RD_GZIP',
    value: 'y',
    dependsOn: ['CONFIG_BLK_DEV_INITRD'],
    source: 'usr/Kconfig:54 (config RD_GZIP: depends on BLK_DEV_INITRD, default y; torvalds/linux 00ed905ab)',
  },
  {
    option: 'CONFIG_BLK_DEV_INITRD',
    value: 'n',
    dependsOn: [],
    source: 'init/Kconfig (config BLK_DEV_INITRD: bool, no default; line not verified)',
  },
  {
    option: 'CONFIG_EFI',
    value: 'n',
    dependsOn: ['CONFIG_ACPI'],
    source: 'arch/x86/Kconfig (config EFI: bool, depends on ACPI, no default; line not verified)',
  },
  {
    option: 'CONFIG_EFI_STUB',
    value: 'n',
    dependsOn: ['CONFIG_EFI'],
    source: 'arch/x86/Kconfig (config EFI_STUB: bool, depends on EFI, no default; line not verified, ~1973 in 5.15)',
  },
  {
    option: 'CONFIG_DEVTMPFS',
    value: 'n',
    dependsOn: [],
    source: 'drivers/base/Kconfig:28 (config DEVTMPFS: bool, no default; torvalds/linux 00170fdd)',
  },
  {
    option: 'CONFIG_SERIAL_8250',
    value: 'n',
    dependsOn: [],
    source: 'drivers/tty/serial/8250/Kconfig (config SERIAL_8250: tristate, no default; line not verified)',
  },
  {
    option: 'CONFIG_SERIAL_8250_CONSOLE',
    value: 'n',
    dependsOn: ['CONFIG_SERIAL_8250=y'],
    source: 'drivers/tty/serial/8250/Kconfig (config SERIAL_8250_CONSOLE: bool, depends on SERIAL_8250=y, no default; line not verified)',
  },
]

const defaultOf = new Map(KCONFIG_DEFAULTS.map((d) => [d.option, d]))

export interface ResolvedOption {
  /** undefined: absent from a savedefconfig fragment, and its default is not in the table. */
  value?: string
  how: 'set' | 'absent' | 'default' | 'undecided'
  /** The table entry that decided it (how = 'default'). */
  source?: string
}

/** The value `option` has in a config of the given form. */
export function resolveOption(config: KconfigValues, form: ConfigForm, option: string, seen = new Set<string>()): ResolvedOption {
  const set = config.get(option)
  if (set !== undefined) return {value: set, how: 'set'}
  // make writes every symbol whose dependencies hold: one missing from a full config is n.
  if (form === 'full') return {value: 'n', how: 'absent'}
  const entry = defaultOf.get(option)
  if (!entry || seen.has(option)) return {how: 'undecided'}
  seen.add(option)
  const holds = entry.dependsOn.every((dep) => {
    const [name, exact] = dep.split('=') as [string, string | undefined]
    const value = resolveOption(config, form, name, seen).value
    // An undecided dependency (ACPI for EFI) does not matter when the default is n anyway.
    if (value === undefined) return entry.value === 'n'
    return exact === undefined ? value !== 'n' : value === exact
  })
  return {value: holds ? entry.value : 'n', how: 'default', source: entry.source}
}
