// Authenticode for PE images, as UEFI Secure Boot checks them (Microsoft's "Windows Authenticode
// Portable Executable Signature Format"; sbsign and osslsigncode hash the same bytes).
// The image hash: SHA-256 over the headers up to SizeOfHeaders without the CheckSum field and the
// certificate table's data directory entry, then each section's raw data in file order, then what
// follows the sections except the certificate table itself.
// The signature: a PKCS#7 SignedData whose content is an SpcIndirectDataContent naming that hash,
// signed with RSA PKCS#1 v1.5 over SHA-256 of authenticated attributes that carry the signing time:
// the same key, certificate, time and image give the same bytes (PKCS#1 v1.5 has no randomness). It
// is appended in a WIN_CERTIFICATE on an 8-byte boundary, which data directory 4 names, and the PE
// checksum is written for the signed file, as sbsign does. The ASN.1 is pkijs/asn1js's; the PE
// layout is ours. Pure: the private key stays with the caller, who passes a function that signs.
import {createHash, verify as verifySignature, X509Certificate} from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import {exactly, type SizedSource} from './bytes.js'
import {createPeChecksum, parsePe, PeFormatError, type PeInfo} from './pe.js'

const CERT_TABLE_DIRECTORY = 4
const WIN_CERT_REVISION_2_0 = 0x0200
const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002

export const AUTHENTICODE_OIDS = {
  spcIndirectData: '1.3.6.1.4.1.311.2.1.4',
  spcPeImageData: '1.3.6.1.4.1.311.2.1.15',
  spcSpOpusInfo: '1.3.6.1.4.1.311.2.1.12',
  spcStatementType: '1.3.6.1.4.1.311.2.1.11',
  spcIndividualCodeSigning: '1.3.6.1.4.1.311.2.1.21',
  sha256: '2.16.840.1.101.3.4.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  signedData: '1.2.840.113549.1.7.2',
} as const
const OID = AUTHENTICODE_OIDS

/** A byte range [start, end) of the file. */
export interface HashRegion {
  start: number
  end: number
}

/** What the hash covers, and where the two fields it skips are. */
export interface AuthenticodeLayout {
  /** In hashing order: three header pieces, the sections by file offset, then trailing data. */
  regions: HashRegion[]
  checkSumOffset: number
  /** The certificate table's data directory entry (8 bytes: file offset, size). */
  certEntryOffset: number
}

const sha256 = (bytes: Uint8Array) => new Uint8Array(createHash('sha256').update(bytes).digest())

/** The regions the Authenticode hash covers in a file of `fileSize` bytes whose headers are `pe`. */
export function authenticodeLayout(pe: PeInfo, fileSize: number): AuthenticodeLayout {
  const checkSumOffset = pe.optionalOffset + 64
  const certEntryOffset = pe.optionalOffset + 112 + CERT_TABLE_DIRECTORY * 8
  if (certEntryOffset + 8 > pe.sectionTableOffset) throw new PeFormatError('the optional header has no certificate table entry (fewer than 5 data directories)')
  if (pe.sizeOfHeaders < pe.sectionTableOffset || pe.sizeOfHeaders > fileSize)
    throw new PeFormatError(`SizeOfHeaders ${pe.sizeOfHeaders} does not cover the headers or lies beyond the file (${fileSize} bytes)`)
  const regions: HashRegion[] = [
    {start: 0, end: checkSumOffset},
    {start: checkSumOffset + 4, end: certEntryOffset},
    {start: certEntryOffset + 8, end: pe.sizeOfHeaders},
  ]
  let hashed = pe.sizeOfHeaders
  const sections = pe.sections.filter((s) => s.sizeOfRawData > 0).sort((a, b) => a.pointerToRawData - b.pointerToRawData)
  for (const s of sections) {
    const end = s.pointerToRawData + s.sizeOfRawData
    if (end > fileSize) throw new PeFormatError(`section ${s.name} ends at ${end}, beyond the end of the file (${fileSize} bytes)`)
    regions.push({start: s.pointerToRawData, end})
    hashed += s.sizeOfRawData
  }
  const table = pe.certificateTable
  if (table.size > 0 && table.offset + table.size !== fileSize)
    throw new PeFormatError(`the certificate table (${table.offset}+${table.size}) does not end the file (${fileSize} bytes)`)
  // The specification's "extra data": from SUM_OF_BYTES_HASHED to the certificate table (or the end).
  if (hashed + table.size < fileSize) regions.push({start: hashed, end: fileSize - table.size})
  return {regions, checkSumOffset, certEntryOffset}
}

/** The Authenticode SHA-256 of a PE image in memory (any layout, sections in any order). */
export function authenticodeSha256(image: Uint8Array): Uint8Array {
  const layout = authenticodeLayout(parsePe(image), image.length)
  const hash = createHash('sha256')
  for (const r of layout.regions) hash.update(image.subarray(r.start, r.end))
  return new Uint8Array(hash.digest())
}

/** How many bytes of the file's start hold its headers, as far as `prefix` tells (more may be asked once more is known). */
function headerBytesNeeded(prefix: Uint8Array): number {
  if (prefix.length < 64) return 64
  const v = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength)
  const optionalOffset = v.getUint32(60, true) + 24
  if (prefix.length < optionalOffset) return optionalOffset
  const tableEnd = optionalOffset + v.getUint16(optionalOffset - 4, true) + v.getUint16(optionalOffset - 18, true) * 40
  if (prefix.length < optionalOffset + 64) return Math.max(optionalOffset + 64, tableEnd)
  return Math.max(tableEnd, v.getUint32(optionalOffset + 60, true))
}

/** A pass over a PE file given in chunks, in order, of `fileSize` bytes in all. */
export interface PePass {
  update(chunk: Uint8Array): void
  /** After the last chunk: the parsed headers, the layout, the Authenticode SHA-256 and the PE checksum so far. */
  finish(): {pe: PeInfo; layout: AuthenticodeLayout; sha256: Uint8Array; checksum: ReturnType<typeof createPeChecksum>}
}

/**
 * The Authenticode hash (and the PE checksum) in one streaming pass. The headers are buffered until
 * they can be parsed; the hashed regions must then lie in file order without overlapping, as they do
 * in any image a linker or our UKI writer makes (authenticodeSha256 takes any layout).
 */
export function createPePass(fileSize: number): PePass {
  const hash = createHash('sha256')
  let head: Uint8Array[] = []
  let buffered = 0
  let at = 0 // file offset of the next byte given to feed()
  let parsed: {pe: PeInfo; layout: AuthenticodeLayout; checksum: ReturnType<typeof createPeChecksum>} | undefined
  let region = 0

  const feed = (chunk: Uint8Array) => {
    const {regions} = parsed!.layout
    parsed!.checksum.update(chunk)
    const end = at + chunk.length
    while (region < regions.length && regions[region]!.end <= at) region++
    for (let i = region; i < regions.length && regions[i]!.start < end; i++) {
      const r = regions[i]!
      const from = Math.max(r.start, at)
      const to = Math.min(r.end, end)
      if (to > from) hash.update(chunk.subarray(from - at, to - at))
    }
    at = end
  }
  const parse = () => {
    const bytes = Buffer.concat(head)
    head = []
    const pe = parsePe(bytes)
    const layout = authenticodeLayout(pe, fileSize)
    for (let i = 1; i < layout.regions.length; i++)
      if (layout.regions[i]!.start < layout.regions[i - 1]!.end)
        throw new PeFormatError('the sections overlap or are out of file order, so the image cannot be hashed in one pass')
    parsed = {pe, layout, checksum: createPeChecksum(layout.checkSumOffset)}
    feed(bytes)
  }
  return {
    update(chunk) {
      if (parsed) return feed(chunk)
      head.push(chunk.slice()) // a copy: a streamed chunk may be a view that is refilled later
      buffered += chunk.length
      const needed = Math.min(fileSize, headerBytesNeeded(Buffer.concat(head)))
      if (buffered >= needed) parse()
    },
    finish() {
      if (!parsed) parse() // a file shorter than its headers: parsePe says what is missing
      if (at !== fileSize) throw new PeFormatError(`the PE image gave ${at} bytes, but ${fileSize} were expected`)
      return {...parsed!, sha256: new Uint8Array(hash.digest())}
    },
  }
}

/** Who signs: the X.509 certificate (DER) and an RSA PKCS#1 v1.5 signature with SHA-256 of given bytes. */
export interface AuthenticodeSigner {
  certificate: Uint8Array
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>
}

/** The BMPString sbsign and signtool put where a file link would be (Authenticode: "<<<Obsolete>>>"). */
function obsoleteLink(): asn1js.Constructed {
  const text = '<<<Obsolete>>>'
  const bmp = new Uint8Array(text.length * 2)
  for (let i = 0; i < text.length; i++) bmp[i * 2 + 1] = text.charCodeAt(i)
  const unicode = new asn1js.Primitive({idBlock: {tagClass: 3, tagNumber: 0}, valueHex: bmp}) // SpcString unicode [0] IMPLICIT
  const file = new asn1js.Constructed({idBlock: {tagClass: 3, tagNumber: 2}, value: [unicode]}) // SpcLink file [2]
  return new asn1js.Constructed({idBlock: {tagClass: 3, tagNumber: 0}, value: [file]}) // SpcPeImageData file [0]
}

const sha256Algorithm = () => new pkijs.AlgorithmIdentifier({algorithmId: OID.sha256, algorithmParams: new asn1js.Null()})

/** SpcIndirectDataContent: SpcPeImageData (no flags, the obsolete link) and the image's SHA-256 as a DigestInfo. */
export function spcIndirectDataContent(imageSha256: Uint8Array): asn1js.Sequence {
  const peImageData = new asn1js.Sequence({value: [new asn1js.BitString({valueHex: new Uint8Array(0)}), obsoleteLink()]})
  return new asn1js.Sequence({
    value: [
      new asn1js.Sequence({value: [new asn1js.ObjectIdentifier({value: OID.spcPeImageData}), peImageData]}),
      new asn1js.Sequence({value: [sha256Algorithm().toSchema(), new asn1js.OctetString({valueHex: imageSha256})]}),
    ],
  })
}

/** The contents octets of a DER element (its value without the tag and length). */
function derContents(tlv: Uint8Array): Uint8Array {
  const first = tlv[1]!
  const lengthBytes = first < 0x80 ? 0 : first & 0x7f
  return tlv.subarray(2 + lengthBytes)
}

/** UTCTime for 1950-2049 and GeneralizedTime otherwise (RFC 5652's rule for signingTime). */
function timeValue(date: Date): asn1js.UTCTime | asn1js.GeneralizedTime {
  const year = date.getUTCFullYear()
  return year >= 1950 && year < 2050 ? new asn1js.UTCTime({valueDate: date}) : new asn1js.GeneralizedTime({valueDate: date})
}

const attribute = (type: string, value: asn1js.BaseBlock) => new pkijs.Attribute({type, values: [value]})

const toBytes = (schema: {toBER(): ArrayBuffer}) => new Uint8Array(schema.toBER())

/**
 * The PKCS#7 ContentInfo (DER) that signs `imageSha256` at `signingTime`: SignedData version 1 as
 * Authenticode has it, the signer's certificate included, authenticated attributes contentType,
 * signingTime, messageDigest, SpcSpOpusInfo (empty) and SpcStatementType (individual code signing).
 */
export async function authenticodeSignedData(imageSha256: Uint8Array, signer: AuthenticodeSigner, signingTime: Date): Promise<Uint8Array> {
  if (imageSha256.length !== 32) throw new TypeError('an Authenticode SHA-256 is 32 bytes')
  const certificate = pkijs.Certificate.fromBER(signer.certificate)
  const content = spcIndirectDataContent(imageSha256)
  const attributes = [
    attribute(OID.contentType, new asn1js.ObjectIdentifier({value: OID.spcIndirectData})),
    attribute(OID.signingTime, timeValue(signingTime)),
    // The digest of SpcIndirectDataContent's contents octets, without its SEQUENCE header (Authenticode's rule).
    attribute(OID.messageDigest, new asn1js.OctetString({valueHex: sha256(derContents(toBytes(content)))})),
    attribute(OID.spcSpOpusInfo, new asn1js.Sequence()),
    attribute(OID.spcStatementType, new asn1js.Sequence({value: [new asn1js.ObjectIdentifier({value: OID.spcIndividualCodeSigning})]})),
  ]
  // DER sorts a SET OF by the elements' encodings; a verifier re-encodes the set that way and checks the signature over it.
  const encoded = new Map(attributes.map((a) => [a, toBytes(a.toSchema())]))
  attributes.sort((a, b) => Buffer.compare(encoded.get(a)!, encoded.get(b)!))
  const signedAttrs = new pkijs.SignedAndUnsignedAttributes({type: 0, attributes})
  const signedBytes = toBytes(signedAttrs.toSchema())
  signedBytes[0] = 0x31 // signed as a SET OF, not as the [0] IMPLICIT it is written with
  const signature = await signer.sign(signedBytes)
  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({issuer: certificate.issuer, serialNumber: certificate.serialNumber}),
    digestAlgorithm: sha256Algorithm(),
    signedAttrs,
    signatureAlgorithm: new pkijs.AlgorithmIdentifier({algorithmId: OID.rsaEncryption, algorithmParams: new asn1js.Null()}),
    signature: new asn1js.OctetString({valueHex: signature}),
  })
  const signedData = new pkijs.SignedData({
    digestAlgorithms: [sha256Algorithm()],
    // Authenticode's content is the SpcIndirectDataContent itself, not CMS's OCTET STRING around it.
    encapContentInfo: new pkijs.EncapsulatedContentInfo({eContentType: OID.spcIndirectData, eContent: content as unknown as asn1js.OctetString}),
    certificates: [certificate],
    signerInfos: [signerInfo],
  })
  const schema = signedData.toSchema() as asn1js.Sequence
  // pkijs writes CMS's version 3 for a content type other than data; PKCS#7 Authenticode is version 1.
  schema.valueBlock.value[0] = new asn1js.Integer({value: 1})
  return toBytes(new pkijs.ContentInfo({contentType: OID.signedData, content: schema}).toSchema())
}

/** What a signature says, read back from its DER. */
export interface AuthenticodeSignatureInfo {
  /** The image hash SpcIndirectDataContent names. */
  imageSha256: Uint8Array
  /** The signer's certificate (DER), the first one the SignedData carries. */
  certificate: Uint8Array
  signingTime?: Date
}

export class AuthenticodeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AuthenticodeError'
  }
}

/**
 * Reads a PKCS#7 Authenticode signature and checks it cryptographically: SHA-256 SpcIndirectDataContent,
 * the messageDigest attribute over it, the RSA signature over the attributes with the included
 * certificate's key. Throws AuthenticodeError naming what does not hold. Trust in the certificate is
 * the caller's business (compare it with the one expected).
 */
export function readAuthenticodeSignature(pkcs7: Uint8Array): AuthenticodeSignatureInfo {
  let signedData: pkijs.SignedData
  try {
    const info = pkijs.ContentInfo.fromBER(pkcs7)
    if (info.contentType !== OID.signedData) throw new AuthenticodeError(`content type ${info.contentType}, not signedData`)
    signedData = new pkijs.SignedData({schema: info.content})
  } catch (error) {
    throw new AuthenticodeError(`not a PKCS#7 SignedData: ${(error as Error).message}`)
  }
  const {eContentType, eContent} = signedData.encapContentInfo
  if (eContentType !== OID.spcIndirectData || !eContent) throw new AuthenticodeError(`the signed content is ${eContentType}, not SpcIndirectDataContent`)
  const contentDer = new Uint8Array(eContent.valueBeforeDecodeView)
  const content = eContent as unknown as asn1js.Sequence
  const digestInfo = content.valueBlock.value[1] as asn1js.Sequence | undefined
  const algorithm = digestInfo && new pkijs.AlgorithmIdentifier({schema: digestInfo.valueBlock.value[0]})
  if (!digestInfo || algorithm?.algorithmId !== OID.sha256) throw new AuthenticodeError('the image digest is not SHA-256')
  const imageSha256 = new Uint8Array((digestInfo.valueBlock.value[1] as asn1js.OctetString).valueBlock.valueHexView)
  const signer = signedData.signerInfos[0]
  const certificate = signedData.certificates?.[0]
  if (signedData.signerInfos.length !== 1 || !signer || !(certificate instanceof pkijs.Certificate)) throw new AuthenticodeError('expected one signer with its certificate')
  const attrs = signer.signedAttrs?.attributes ?? []
  const value = (type: string) => attrs.find((a) => a.type === type)?.values[0] as asn1js.BaseBlock | undefined
  const digest = value(OID.messageDigest) as asn1js.OctetString | undefined
  if (!digest || !Buffer.from(digest.valueBlock.valueHexView).equals(sha256(derContents(contentDer))))
    throw new AuthenticodeError('the messageDigest attribute does not match the SpcIndirectDataContent')
  if ((value(OID.contentType) as asn1js.ObjectIdentifier | undefined)?.valueBlock.toString() !== OID.spcIndirectData)
    throw new AuthenticodeError('the contentType attribute is not SpcIndirectDataContent')
  const certificateDer = toBytes(certificate.toSchema())
  const {publicKey} = new X509Certificate(certificateDer)
  if (!verifySignature('sha256', new Uint8Array(signer.signedAttrs!.encodedValue), publicKey, signer.signature.valueBlock.valueHexView))
    throw new AuthenticodeError("the RSA signature over the authenticated attributes does not verify with the included certificate's key")
  const time = value(OID.signingTime) as asn1js.UTCTime | asn1js.GeneralizedTime | undefined
  return {imageSha256, certificate: certificateDer, signingTime: time?.toDate()}
}

/** WIN_CERTIFICATE (revision 2.0, PKCS SignedData) around the signature, zero-padded to 8 bytes as sbsign pads it. */
export function certificateTable(pkcs7: Uint8Array): Uint8Array {
  const length = 8 + pkcs7.length
  const table = new Uint8Array(Math.ceil(length / 8) * 8)
  const v = new DataView(table.buffer)
  v.setUint32(0, length, true)
  v.setUint16(4, WIN_CERT_REVISION_2_0, true)
  v.setUint16(6, WIN_CERT_TYPE_PKCS_SIGNED_DATA, true)
  table.set(pkcs7, 8)
  return table
}

/** One WIN_CERTIFICATE of a certificate table: its PKCS#7, or why it holds none. */
export type CertificateEntry = {at: number; pkcs7: Uint8Array} | {at: number; error: string}

/** The WIN_CERTIFICATEs of a certificate table (certificateTable's reverse): 8-byte aligned, one after another. */
export function certificateEntries(table: Uint8Array): CertificateEntry[] {
  const v = new DataView(table.buffer, table.byteOffset, table.byteLength)
  const entries: CertificateEntry[] = []
  for (let at = 0; at + 8 <= table.length; ) {
    const length = v.getUint32(at, true)
    const type = v.getUint16(at + 6, true)
    if (length < 8 || at + length > table.length) {
      entries.push({at, error: `WIN_CERTIFICATE at byte ${at} of the table says ${length} bytes; the table has ${table.length - at} left`})
      break
    }
    entries.push(type === WIN_CERT_TYPE_PKCS_SIGNED_DATA ? {at, pkcs7: table.subarray(at + 8, at + length)} : {at, error: `WIN_CERTIFICATE type 0x${type.toString(16)}, not PKCS SignedData (0x2)`})
    at += Math.ceil(length / 8) * 8
  }
  return entries
}

/** A signed PE image, streamed: the unsigned bytes with two header fields filled in, zero padding, the certificate table. */
export interface SignedPe extends SizedSource {
  open(): AsyncGenerator<Uint8Array>
  /** The Authenticode SHA-256 (of the image without checksum, directory entry and table). */
  authenticodeSha256: Uint8Array
  pkcs7: Uint8Array
}

/**
 * Signs a PE image streamed from `image` (one pass, to hash it): `signatureFor` gives the PKCS#7 for
 * the hash (authenticodeSignedData, or a signature made earlier that is being attached again). The
 * image must be unsigned. Its end is padded to 8 bytes, and the padding is hashed (as sbsign does).
 */
export async function signPe(image: SizedSource, signatureFor: (imageSha256: Uint8Array) => Uint8Array | Promise<Uint8Array>): Promise<SignedPe> {
  const paddedSize = Math.ceil(image.size / 8) * 8
  const padding = new Uint8Array(paddedSize - image.size)
  const pass = createPePass(paddedSize)
  const source = () => exactly(image.open(), image.size, (seen) => new PeFormatError(`the PE image gave ${seen} bytes, but was laid out for ${image.size}`))
  for await (const chunk of source()) pass.update(chunk)
  if (padding.length > 0) pass.update(padding)
  const {pe, layout, sha256: imageSha256, checksum} = pass.finish()
  if (pe.certificateTable.offset !== 0 || pe.certificateTable.size !== 0) throw new PeFormatError('the image is signed already (it has a certificate table)')
  const pkcs7 = await signatureFor(imageSha256)
  const table = certificateTable(pkcs7)
  const entry = new Uint8Array(8)
  new DataView(entry.buffer).setUint32(0, paddedSize, true)
  new DataView(entry.buffer).setUint32(4, table.length, true)
  // The pass saw the entry as zeros (an unsigned image): add its words, then the table's, for the signed file's checksum.
  checksum.include(entry)
  checksum.update(table)
  const checkSumBytes = new Uint8Array(4)
  new DataView(checkSumBytes.buffer).setUint32(0, checksum.digest(), true)
  const patches = [
    {offset: layout.checkSumOffset, bytes: checkSumBytes},
    {offset: layout.certEntryOffset, bytes: entry},
  ]
  async function* open(): AsyncGenerator<Uint8Array> {
    let at = 0
    for await (const chunk of source()) {
      const end = at + chunk.length
      let out = chunk
      for (const p of patches) {
        if (p.offset + p.bytes.length <= at || p.offset >= end) continue
        if (out === chunk) out = chunk.slice()
        for (let i = 0; i < p.bytes.length; i++) {
          const to = p.offset + i - at
          if (to >= 0 && to < out.length) out[to] = p.bytes[i]!
        }
      }
      yield out
      at = end
    }
    if (padding.length > 0) yield padding
    yield table
  }
  return {size: paddedSize + table.length, open, authenticodeSha256: imageSha256, pkcs7}
}
