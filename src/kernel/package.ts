// The kernel package contract (StageX user-linux-*): /bzImage and /linux.config at the image root.
// The kernel check: /linux.config against the profile's fragment and against what the profile
// itself needs (requirements.ts), and, when the bzImage carries its own config (IKCONFIG), that
// embedded config against /linux.config, so a package whose two files disagree is caught.
import {readFile} from 'node:fs/promises'
import {badInputError, profileError} from '../errors.js'
import type {ContentRef, Tree} from '../rootfs/tree.js'
import {type ConfigForm, configForm, KCONFIG_DEFAULTS, type ResolvedOption, resolveOption} from './defaults.js'
import {readIkconfig} from './ikconfig.js'
import {describeValue, type KconfigValues, parseFragment, parseKconfig} from './kconfig.js'
import type {DerivedRequirement} from './requirements.js'

export const KERNEL_PATH = 'bzImage'
export const KERNEL_CONFIG_PATH = 'linux.config'

export interface KernelFiles {
  image: ContentRef
  config: ContentRef
}

export function kernelFilesOf(tree: Tree, packageName: string): KernelFiles {
  const take = (path: string) => {
    const inode = tree.entries.get(path)
    if (inode?.type !== 'file' || !inode.content)
      throw badInputError(`kernel package ${packageName} has no /${path}; a StageX kernel package holds /bzImage and /linux.config`)
    return inode.content
  }
  return {image: take(KERNEL_PATH), config: take(KERNEL_CONFIG_PATH)}
}

/** One row of the failure table: option, wanted, found, and who wants it. */
export interface KernelMismatch {
  option: string
  /** The value wanted, as in a .config ('n' = not set). */
  wanted: string
  /** What the kernel has, for a person: "=m", "not set", "not set (absent: Kconfig default, usr/Kconfig:54 ...)". */
  found: string
  /** "kernel/appliance.config:4", "initramfs.compression: gzip (profiles/x.yaml:20:16)", or "/linux.config". */
  wantedBy: string
  /** The fragment's line, for fragment rows. */
  line?: number
  why?: string
}

export interface IkconfigCheck {
  /** matches/differs: compared; absent: the kernel carries none; skipped: not read (note says why). */
  status: 'matches' | 'differs' | 'absent' | 'skipped'
  note: string
}

export interface KernelCheck {
  fragment?: string
  /** Options the fragment names. */
  required: number
  /** Options the profile itself needs (requirements.ts). */
  derived: number
  /** How /linux.config was read: a full .config, or a savedefconfig fragment (defaults.ts). */
  form: ConfigForm
  mismatches: KernelMismatch[]
  ikconfig: IkconfigCheck
}

export interface KernelCheckInputs {
  /** What the profile needs besides its fragment. */
  derived?: DerivedRequirement[]
  /** /bzImage's bytes, to compare the config it carries (IKCONFIG) with /linux.config. */
  image?: Uint8Array
  /** The fragment's name in messages (default: fragmentPath). */
  fragmentName?: string
}

/**
 * Checks /linux.config (its text) against the profile's fragment and derived requirements, and
 * the bzImage's embedded config against /linux.config.
 */
export async function checkKernelConfig(
  configText: string,
  fragmentPath: string | undefined,
  fragmentWhere: string,
  inputs: KernelCheckInputs = {},
): Promise<KernelCheck> {
  const config = parseKconfig(configText)
  const form = configForm(configText)
  const mismatches: KernelMismatch[] = []
  let required = 0
  if (fragmentPath !== undefined) {
    let fragmentText: string
    try {
      fragmentText = await readFile(fragmentPath, 'utf8')
    } catch {
      throw profileError(`${fragmentWhere}: cannot read the kernel config fragment ${fragmentPath}`)
    }
    const requirements = parseFragment(fragmentText)
    if (requirements.length === 0)
      throw profileError(`${fragmentWhere}: the kernel config fragment ${fragmentPath} names no option (no CONFIG_...=... or "# CONFIG_... is not set" line); is it the right file?`)
    required = requirements.length
    const name = inputs.fragmentName ?? fragmentPath
    for (const r of requirements) {
      const miss = judge(config, form, r.option, r.value)
      if (miss) mismatches.push({option: r.option, wanted: r.value, found: miss, wantedBy: `${name}:${r.line}`, line: r.line})
    }
  }
  const derived = inputs.derived ?? []
  for (const d of derived) {
    const miss = judge(config, form, d.option, d.value)
    if (miss) mismatches.push({option: d.option, wanted: d.value, found: miss, wantedBy: d.where ? `${d.rule} (${d.where})` : d.rule, why: d.why})
  }
  const ikconfig = inputs.image === undefined ? {status: 'skipped' as const, note: 'no kernel image given'} : await compareIkconfig(inputs.image, config, form, mismatches)
  return {fragment: fragmentPath, required, derived: derived.length, form, mismatches, ikconfig}
}

/** undefined when `option` holds `wanted`; else what the kernel has, for the table. */
function judge(config: KconfigValues, form: ConfigForm, option: string, wanted: string): string | undefined {
  const resolved = resolveOption(config, form, option)
  if (resolved.value === wanted) return undefined
  return describeResolved(resolved, wanted)
}

function describeResolved(resolved: ResolvedOption, wanted: string): string {
  switch (resolved.how) {
    case 'undecided':
      return 'absent (savedefconfig form; its Kconfig default is not in the defaults table: undecided)'
    case 'default':
      return `${describeValue(resolved.value!)} (absent: Kconfig default, ${resolved.source})`
    case 'absent':
      return 'not set (absent)'
    default:
      return resolved.value === 'm' && wanted === 'y'
        ? '=m (a module: loaded only by userspace, too late for what the kernel needs before it)'
        : describeValue(resolved.value!)
  }
}

/** Options of the embedded config and /linux.config that disagree become rows wanted by /linux.config. */
async function compareIkconfig(image: Uint8Array, config: KconfigValues, form: ConfigForm, mismatches: KernelMismatch[]): Promise<IkconfigCheck> {
  const result = await readIkconfig(image)
  const claims = config.get('CONFIG_IKCONFIG')
  if (result.kind === 'skipped') {
    // Say whether anything was lost: most kernels carry no config, and then the skip costs nothing.
    const claim = claims === 'y' ? '/linux.config says it carries one (IKCONFIG=y)' : '/linux.config says it carries none (IKCONFIG not =y)'
    return {status: 'skipped', note: `IKCONFIG check skipped: ${result.note}; ${claim}`}
  }
  if (result.kind === 'absent') {
    if (claims === 'y') {
      mismatches.push({option: 'CONFIG_IKCONFIG', wanted: 'y', found: 'no IKCFG_ST marker in the decompressed /bzImage', wantedBy: '/linux.config (vs /bzImage)'})
      return {status: 'differs', note: '/linux.config says IKCONFIG=y, but the bzImage carries no config'}
    }
    return {status: 'absent', note: result.note}
  }
  const embedded = parseKconfig(result.config)
  const embeddedForm = configForm(result.config)
  // A fragment-form /linux.config only speaks for the options it names; a full one for all of both.
  const options = new Set(config.keys())
  if (form === 'full') for (const option of embedded.keys()) options.add(option)
  let differ = 0
  for (const option of [...options].sort()) {
    const ours = resolveOption(config, form, option).value
    const theirs = resolveOption(embedded, embeddedForm, option).value
    if (ours === undefined || theirs === undefined || ours === theirs) continue
    differ++
    mismatches.push({
      option,
      wanted: ours,
      found: `${describeValue(theirs)} in the config /bzImage carries (IKCONFIG)`,
      wantedBy: '/linux.config (vs /bzImage)',
    })
  }
  return differ === 0
    ? {status: 'matches', note: `the config in /bzImage (IKCONFIG, ${result.compression}) matches /linux.config`}
    : {status: 'differs', note: `${differ} options of the config in /bzImage (IKCONFIG) disagree with /linux.config: the package's two files are not one build`}
}

/** At most this many rows are printed; --json details keep them all. */
const TABLE_ROWS = 40

/** The failure table: option, wanted, found, wanted by; then how a fragment-form config was read. */
export function describeMismatches(check: KernelCheck): string {
  const rows = check.mismatches.slice(0, TABLE_ROWS).map((m) => [m.option, describeValue(m.wanted), m.found, m.wantedBy])
  const header = ['option', 'wanted', 'found', 'wanted by']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  // The last column is not padded: no trailing spaces.
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`
  const out = [line(header), ...rows.map(line)]
  if (check.mismatches.length > TABLE_ROWS) out.push(`  ... and ${check.mismatches.length - TABLE_ROWS} more`)
  const whys = [...new Map(check.mismatches.filter((m) => m.why).map((m) => [m.option, m.why!])).entries()]
  for (const [option, why] of whys) out.push(`  ${option}: ${why}`)
  if (check.form === 'savedefconfig')
    out.push(
      `  /linux.config is in savedefconfig form (no CONFIG_CC_VERSION_TEXT line, no "Automatically generated" header): an absent option takes its Kconfig default, known here for ${KCONFIG_DEFAULTS.map((d) => d.option.slice(7)).join(', ')}`,
    )
  if (check.ikconfig.status === 'differs' || check.ikconfig.status === 'skipped') out.push(`  ${check.ikconfig.note}`)
  return out.join('\n')
}
