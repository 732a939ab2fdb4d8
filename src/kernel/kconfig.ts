// Kconfig files: parse `CONFIG_X=value` and `# CONFIG_X is not set`, and check a required fragment.
export type KconfigValues = Map<string, string>

/** Values of a .config; an option that "is not set" maps to 'n'. */
export function parseKconfig(text: string): KconfigValues {
  const values: KconfigValues = new Map()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    const unset = /^#\s*(CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line)
    if (unset) {
      values.set(unset[1]!, 'n')
      continue
    }
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line)
    if (set) values.set(set[1]!, set[2]!)
  }
  return values
}

export interface KconfigRequirement {
  option: string
  /** 'n' means: must not be set. */
  value: string
  line: number
}

export function parseFragment(text: string): KconfigRequirement[] {
  const requirements: KconfigRequirement[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    const unset = /^#\s*(CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line)
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line)
    if (unset) requirements.push({option: unset[1]!, value: 'n', line: i + 1})
    else if (set) requirements.push({option: set[1]!, value: set[2]!, line: i + 1})
  })
  return requirements
}

export interface KconfigMismatch {
  requirement: KconfigRequirement
  actual: string
}

export function checkFragment(config: KconfigValues, requirements: KconfigRequirement[]): KconfigMismatch[] {
  const mismatches: KconfigMismatch[] = []
  for (const requirement of requirements) {
    const actual = config.get(requirement.option) ?? 'n'
    if (actual !== requirement.value) mismatches.push({requirement, actual})
  }
  return mismatches
}

export const describeValue = (value: string) => (value === 'n' ? 'not set' : `=${value}`)
