// Which comparer reads which output: the kind named in build.json's outputs decides the format.
import {gunzipSync} from 'node:zlib'
import {byteDifference, type EntryDifference} from './difference.js'
import {compareCpio} from './cpio.js'
import {compareFat} from './fat.js'
import {compareGpt} from './gpt.js'
import {compareIso} from './iso.js'
import {comparePe} from './pe.js'
import {compareTar} from './tar.js'

type Comparer = (a: Uint8Array, b: Uint8Array) => EntryDifference[]

const isGzip = (bytes: Uint8Array) => bytes[0] === 0x1f && bytes[1] === 0x8b

/** Reading only: node's zlib may decompress, it never writes output bytes. */
const initramfs: Comparer = (a, b) => compareCpio(isGzip(a) ? gunzipSync(a) : a, isGzip(b) ? gunzipSync(b) : b)

const BY_KIND: Record<string, Comparer> = {
  initramfs,
  'rootfs-tar': compareTar,
  esp: compareFat,
  disk: compareGpt,
  uki: comparePe,
  iso: compareIso,
}

/** The first differing entries of one output; a format we do not read is compared by bytes. */
export function compareOutput(kind: string, file: string, a: Uint8Array, b: Uint8Array): EntryDifference[] {
  const comparer = BY_KIND[kind]
  if (!comparer) return byteDifference(file, a, b)
  try {
    const found = comparer(a, b)
    // Same entries but different bytes (padding, trailing data): say where the bytes part.
    return found.length > 0 ? found : byteDifference(file, a, b)
  } catch (error) {
    // One side does not parse: the bytes are what we can still compare.
    return [...byteDifference(file, a, b), {entry: file, field: 'format', a: 'unreadable', b: (error as Error).message}]
  }
}
