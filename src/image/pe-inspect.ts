// Reads a PE/EFI file from disk for `inspect` (a UKI, BOOTX64.EFI, syslinux.efi): one streamed pass
// gives the headers, the Authenticode SHA-256 (authenticode.ts's pass, the hash signPe signs), the PE
// checksum and the file's sha256; then a UKI's small sections (.cmdline, .osrel, .uname) and the
// certificate table are read by offset. Each signature is read back and checked (readAuthenticode-
// Signature) and its signed hash compared with the file's: a file changed after signing says so.
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {AuthenticodeError, certificateEntries, createPePass, readAuthenticodeSignature} from '../formats/authenticode.js'
import {PeFormatError} from '../formats/pe.js'
import {badInputError} from '../errors.js'
import {readFileRange} from './file-range.js'
import {describeSignature} from './secure-boot.js'

export interface PeSignatureInspection {
  /** Position in the certificate table (1 for the first WIN_CERTIFICATE). */
  index: number
  /** Whether the PKCS#7 itself holds: messageDigest over its content, RSA over its attributes with its own certificate. */
  valid: boolean
  /** What does not hold, when not valid. */
  error?: string
  signer?: string
  issuer?: string
  serial?: string
  signingTime?: string
  certSha256?: string
  /** The Authenticode SHA-256 the signature signs. */
  signedSha256?: string
  /** Whether that is the file's own Authenticode SHA-256 (false: the file was changed after signing). */
  matches: boolean
}

export interface PeInspection {
  format: 'pe'
  file: string
  size: number
  sha256: string
  machine: string
  timeDateStamp: number
  checkSum: {stored: string; computed: string}
  sizeOfImage: number
  sizeOfHeaders: number
  sectionAlignment: number
  fileAlignment: number
  sections: {name: string; virtualAddress: number; virtualSize: number; rawOffset: number; rawSize: number; characteristics: string}[]
  /** A Unified Kernel Image (a .linux section, as systemd-stub looks for): its command line, os-release and kernel release as stored. */
  uki: {cmdline?: string; osRelease?: string; uname?: string} | null
  /** Over the headers (less CheckSum and the certificate directory entry), the sections and what follows, less the certificate table. */
  authenticodeSha256: string
  certificateTable: {offset: number; size: number}
  signatures: PeSignatureInspection[]
}

const MACHINES: Record<number, string> = {0x8664: 'x86_64', 0xaa64: 'aarch64', 0x14c: 'i386', 0x1c2: 'arm', 0x5064: 'riscv64'}
/** A UKI text section larger than this is not shown. */
const SHOWN_MAX = 64 * 1024

const hex32 = (n: number) => `0x${n.toString(16).padStart(8, '0')}`

/** A PE file's bytes: streamed once in order, and read by offset. */
export interface PeInput {
  name: string
  size: number
  chunks(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>
  read(at: number, length: number): Promise<Uint8Array>
}

export const peFileInput = (path: string, size: number): PeInput => ({
  name: path,
  size,
  chunks: () => createReadStream(path, {highWaterMark: 1024 * 1024}) as AsyncIterable<Buffer>,
  read: (at, length) => readFileRange(path, at, length),
})

/** A PE file in memory (one on a FAT volume read whole). */
export const peBytesInput = (name: string, bytes: Uint8Array): PeInput => ({
  name,
  size: bytes.length,
  chunks: () => [bytes],
  read: async (at, length) => {
    if (at + length > bytes.length) throw badInputError(`${name}: cut short at byte ${bytes.length}`)
    return bytes.subarray(at, at + length)
  },
})

export const inspectPe = (path: string, size: number): Promise<PeInspection> => inspectPeInput(peFileInput(path, size))

export async function inspectPeInput(input: PeInput): Promise<PeInspection> {
  const {name: path, size} = input
  const pass = createPePass(size)
  const whole = createHash('sha256')
  let parsed
  try {
    for await (const chunk of input.chunks()) {
      pass.update(chunk)
      whole.update(chunk)
    }
    parsed = pass.finish()
  } catch (error) {
    if (error instanceof PeFormatError) throw badInputError(`${path}: ${error.message}`)
    throw error
  }
  const {pe, sha256: authenticode, checksum} = parsed
  const sectionText = async (name: string) => {
    const s = pe.sections.find((x) => x.name === name)
    if (!s) return undefined
    const length = Math.min(s.virtualSize, s.sizeOfRawData)
    if (length > SHOWN_MAX) return `(${length} bytes, not shown)`
    return Buffer.from(await input.read(s.pointerToRawData, length)).toString('utf8').replace(/\0+$/, '')
  }
  const uki = pe.sections.some((s) => s.name === '.linux') ? {cmdline: await sectionText('.cmdline'), osRelease: await sectionText('.osrel'), uname: await sectionText('.uname')} : null
  const authenticodeSha256 = Buffer.from(authenticode).toString('hex')
  const table = pe.certificateTable
  const signatures = table.size > 0 ? readSignatures(await input.read(table.offset, table.size), authenticodeSha256) : []
  return {
    format: 'pe',
    file: path,
    size,
    sha256: whole.digest('hex'),
    machine: MACHINES[pe.machine] ?? `0x${pe.machine.toString(16)}`,
    timeDateStamp: pe.timeDateStamp,
    checkSum: {stored: hex32(pe.checkSum), computed: hex32(checksum.digest())},
    sizeOfImage: pe.sizeOfImage,
    sizeOfHeaders: pe.sizeOfHeaders,
    sectionAlignment: pe.sectionAlignment,
    fileAlignment: pe.fileAlignment,
    sections: pe.sections.map((s) => ({
      name: s.name,
      virtualAddress: s.virtualAddress,
      virtualSize: s.virtualSize,
      rawOffset: s.pointerToRawData,
      rawSize: s.sizeOfRawData,
      characteristics: hex32(s.characteristics),
    })),
    uki,
    authenticodeSha256,
    certificateTable: table,
    signatures,
  }
}

/** Each WIN_CERTIFICATE in the table, read and checked. */
function readSignatures(table: Uint8Array, authenticodeSha256: string): PeSignatureInspection[] {
  return certificateEntries(table).map((entry, i): PeSignatureInspection => {
    const index = i + 1
    if ('error' in entry) return {index, valid: false, error: entry.error, matches: false}
    try {
      const signature = describeSignature(readAuthenticodeSignature(entry.pkcs7))
      return {index, valid: true, ...signature, matches: signature.signedSha256 === authenticodeSha256}
    } catch (error) {
      if (!(error instanceof AuthenticodeError)) throw error
      return {index, valid: false, error: error.message, matches: false}
    }
  })
}
