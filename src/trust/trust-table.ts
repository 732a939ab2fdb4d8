// The trust table: one row per signature file, saying who signed it and why it did or did not count.

export interface TrustRow {
  /** Signature file name, e.g. "signature-3". */
  file: string
  /** Primary key fingerprint, once the OpenPGP signature verified against the keyring. */
  signer?: string
  /** The signer's primary user ID. */
  signerName?: string
  counted: boolean
  reason: string
}

/** A plain-text table for people, one line per signature file; no colours, stable column order. */
export function formatTrustTable(table: readonly TrustRow[]): string {
  if (table.length === 0) return '(no signatures found)'
  const header = ['FILE', 'SIGNER', 'COUNTED', 'REASON']
  const rows = table.map((row) => [
    row.file,
    row.signer ? `${row.signer}${row.signerName ? ` (${row.signerName})` : ''}` : '-',
    row.counted ? 'yes' : 'no',
    row.reason,
  ])
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}
