// What a comparison of two builds reports: the stages in record order, each same or different, and
// inside the first differing outputs the first differing entries (a cpio or tar member, a FAT file
// or field, a GPT header or entry field, a PE section, a byte offset).

export interface EntryDifference {
  /** What is compared inside the output: "cpio member etc/hostname", "FAT file EFI/BOOT/BOOTX64.EFI", "GPT header". */
  entry: string
  /** The field that differs: mode, owner, size, bytes, writeTime, diskGuid, ... */
  field: string
  a: string
  b: string
}

export interface StageComparison {
  stage: string
  same: boolean
  a?: string
  b?: string
  /** Set for outputs whose files were compared: their first differing entries. */
  entries?: EntryDifference[]
}

export interface BuildComparison {
  identical: boolean
  stages: StageComparison[]
  /** The first stage whose hash differs. */
  firstDifference?: StageComparison
}

/** At most this many entries per output: the first ones are what a person reads. */
export const MAX_ENTRY_DIFFERENCES = 8

/** The fields of one entry that differ, in the order given (e.g. mode, owner, size, bytes). */
export function fieldDifferences(entry: string, fields: readonly (readonly [string, unknown, unknown])[]): EntryDifference[] {
  return fields.filter(([, a, b]) => String(a) !== String(b)).map(([field, a, b]) => ({entry, field, a: String(a), b: String(b)}))
}

/** Every field of two records of one shape (a header, a boot sector) that differs, in key order. */
export function recordDifferences<T extends object>(entry: string, a: T, b: T): EntryDifference[] {
  return fieldDifferences(
    entry,
    (Object.keys(a) as (keyof T & string)[]).map((field) => [field, a[field], b[field]] as const),
  )
}

/** Where two byte arrays first differ, as an entry difference; none when equal. */
export function byteDifference(entry: string, a: Uint8Array, b: Uint8Array): EntryDifference[] {
  const length = Math.min(a.length, b.length)
  let at = 0
  // Buffer.compare is native: find equality fast, then walk only when they differ.
  if (a.length === b.length && Buffer.compare(a, b) === 0) return []
  while (at < length && a[at] === b[at]) at++
  if (at === length) return [{entry, field: 'size', a: String(a.length), b: String(b.length)}]
  return [{entry, field: 'bytes', a: `byte ${at} = 0x${a[at]!.toString(16).padStart(2, '0')}`, b: `byte ${at} = 0x${b[at]!.toString(16).padStart(2, '0')}`}]
}

/** Entries present on one side only. */
export function presence(entry: string, inA: boolean): EntryDifference {
  return {entry, field: 'presence', a: inA ? 'present' : 'missing', b: inA ? 'missing' : 'present'}
}

/** Compares two keyed lists in sorted key order, stopping after `limit` differences. */
export function compareKeyed<T>(
  a: ReadonlyMap<string, T>,
  b: ReadonlyMap<string, T>,
  what: (key: string) => string,
  compare: (entry: string, x: T, y: T) => EntryDifference[],
  limit = MAX_ENTRY_DIFFERENCES,
): EntryDifference[] {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
  const out: EntryDifference[] = []
  for (const key of keys) {
    const x = a.get(key)
    const y = b.get(key)
    if (x === undefined || y === undefined) out.push(presence(what(key), x !== undefined))
    else out.push(...compare(what(key), x, y))
    if (out.length >= limit) return out.slice(0, limit)
  }
  return out
}
