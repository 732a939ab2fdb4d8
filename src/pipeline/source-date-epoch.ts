// SOURCE_DATE_EPOCH: flag > environment > profile > 1.
import {usageError} from '../errors.js'
import type {Profile} from '../profile/types.js'

export function resolveSourceDateEpoch(flag: number | undefined, env: NodeJS.ProcessEnv, profile: Profile): number {
  if (flag !== undefined) return checked(flag, '--source-date-epoch')
  const fromEnv = env.SOURCE_DATE_EPOCH
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^\d+$/.test(fromEnv)) throw usageError(`SOURCE_DATE_EPOCH="${fromEnv}" is not a number of seconds`)
    return checked(Number(fromEnv), 'SOURCE_DATE_EPOCH')
  }
  return profile.sourceDateEpoch ?? 1
}

function checked(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffffffff)
    throw usageError(`${name}=${value} must be a whole number of seconds between 0 and 4294967295`)
  return value
}
