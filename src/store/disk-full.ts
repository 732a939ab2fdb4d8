// A full disk is named as such, with the path and what filled, rather than surfacing as a corrupt
// layer or a raw ENOSPC from whichever write happened to hit it.
import {StagexError, usageError} from '../errors.js'

/** The typed error for ENOSPC/EDQUOT, or undefined when `error` is something else. */
export function diskFullError(error: unknown, path: string, what: string): StagexError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined
  return usageError(`${path}: no space left on the device holding ${what} (${code}); free some space there, or point it elsewhere, and run again`)
}
