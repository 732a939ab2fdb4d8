// Two PE images (UKIs): the header fields that carry stamps and sums, then each section's placement and
// bytes, then for signed images the Authenticode hash and the certificate table.
import {authenticodeSha256} from '../formats/authenticode.js'
import {parsePe, type PeInfo, type PeSection} from '../formats/pe.js'
import {byteDifference, compareKeyed, type EntryDifference, fieldDifferences, MAX_ENTRY_DIFFERENCES} from './difference.js'

export function comparePe(a: Uint8Array, b: Uint8Array): EntryDifference[] {
  const x = parsePe(a)
  const y = parsePe(b)
  const header = fieldDifferences('PE header', [
    ['timeDateStamp', x.timeDateStamp, y.timeDateStamp],
    ['checkSum', `0x${x.checkSum.toString(16)}`, `0x${y.checkSum.toString(16)}`],
    ['sizeOfImage', x.sizeOfImage, y.sizeOfImage],
    ['sections', x.sections.map((s) => s.name).join(','), y.sections.map((s) => s.name).join(',')],
  ])
  const sections = (bytes: Uint8Array, list: PeSection[]) =>
    new Map(list.map((s) => [s.name, {section: s, data: bytes.subarray(s.pointerToRawData, s.pointerToRawData + s.sizeOfRawData)}] as const))
  const body = compareKeyed(sections(a, x.sections), sections(b, y.sections), (name) => `PE section ${name}`, (entry, s, t) => [
    ...fieldDifferences(entry, [
      ['virtualAddress', s.section.virtualAddress, t.section.virtualAddress],
      ['virtualSize', s.section.virtualSize, t.section.virtualSize],
      ['sizeOfRawData', s.section.sizeOfRawData, t.section.sizeOfRawData],
    ]),
    ...byteDifference(entry, s.data, t.data),
  ])
  // Signed images (boot.secureBoot): whether what is signed differs, then the signature itself (another key or time).
  const table = (bytes: Uint8Array, pe: PeInfo) => bytes.subarray(pe.certificateTable.offset, pe.certificateTable.offset + pe.certificateTable.size)
  const hash = (bytes: Uint8Array) => Buffer.from(authenticodeSha256(bytes)).toString('hex')
  const signature =
    x.certificateTable.size > 0 || y.certificateTable.size > 0
      ? [
          ...fieldDifferences('PE signature', [['authenticodeSha256', hash(a), hash(b)]]),
          ...byteDifference('PE signature (certificate table)', table(a, x), table(b, y)),
        ]
      : []
  return [...header, ...body, ...signature].slice(0, MAX_ENTRY_DIFFERENCES)
}
