// Distinct signers and the threshold: the same primary key signing twice counts once, and fewer
// distinct trusted signers than required fails closed (exit 3) with the table.
import {trustError, usageError} from '../errors.js'
import {formatTrustTable, type TrustRow} from './trust-table.js'

export interface TrustedSigner {
  /** Upper-case hex fingerprint of the primary key. */
  fingerprint: string
  /** The primary user ID. */
  name?: string
}

export interface TrustResult {
  /** Distinct trusted signers, in the order of the first signature each made. */
  counted: TrustedSigner[]
  table: TrustRow[]
  distinctSigners: number
  threshold: number
}

export function checkThresholdValue(threshold: number): void {
  if (!Number.isSafeInteger(threshold) || threshold < 1)
    throw usageError(`trust threshold must be a whole number of at least 1, not ${threshold}`)
}

/**
 * Marks repeated signers in the table (a row that would count, whose primary key already counted,
 * becomes "counts once") and returns the distinct signers. Rows are changed in place.
 */
export function countDistinctSigners(table: TrustRow[]): TrustedSigner[] {
  const firstFile = new Map<string, string>()
  const counted: TrustedSigner[] = []
  for (const row of table) {
    if (!row.counted || row.signer === undefined) continue
    const earlier = firstFile.get(row.signer)
    if (earlier !== undefined) {
      row.counted = false
      row.reason = `duplicate: ${row.signer} already counted for ${earlier}; a key counts once`
      continue
    }
    firstFile.set(row.signer, row.file)
    counted.push({fingerprint: row.signer, name: row.signerName})
  }
  return counted
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

/** Throws a StagexError 'trust' (exit 3) naming the image and the counts, with the table in its details. */
export function enforceThreshold(image: string, result: TrustResult): TrustResult {
  if (result.distinctSigners >= result.threshold) return result
  const summary =
    `image ${image} is not trusted: ${plural(result.distinctSigners, 'valid distinct signer')} found, ` +
    `${result.threshold} needed (${plural(result.table.length, 'signature file')} checked)`
  throw trustError(`${summary}\n${formatTrustTable(result.table)}`, {
    image,
    distinctSigners: result.distinctSigners,
    threshold: result.threshold,
    signers: result.counted,
    table: result.table,
  })
}
