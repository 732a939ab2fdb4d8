// The SBOM: an SPDX 2.3 JSON document naming every image the appliance was built from, by manifest
// digest, with its role (rootfs package, kernel, boot loader) and the maintainers whose signatures
// counted. Like build.json, its bytes depend only on the inputs: the creation time is
// SOURCE_DATE_EPOCH and the namespace is derived from the input digests, never from the clock.
import {createHash} from 'node:crypto'
import type {RecordedInput} from './record.js'

export const SBOM_FILE = 'sbom.spdx.json'

export interface SbomInput {
  profileName: string
  profileSha256: string
  sourceDateEpoch: number
  toolVersion: string
  inputs: RecordedInput[]
}

const spdxId = (text: string) => text.replace(/[^A-Za-z0-9.-]/g, '-')

/** pkg:oci purl (github.com/package-url/purl-spec): the digest is the version, the repository a qualifier. */
export function ociPurl(input: RecordedInput): string {
  const name = input.identity.split('/').at(-1)!.toLowerCase()
  const digest = encodeURIComponent(input.manifestDigest)
  const repository = input.identity.startsWith('oci:') ? undefined : encodeURIComponent(input.identity)
  return `pkg:oci/${name}@${digest}?arch=amd64${repository ? `&repository_url=${repository}` : ''}${input.tag ? `&tag=${encodeURIComponent(input.tag)}` : ''}`
}

export function buildSbom(sbom: SbomInput): Record<string, unknown> {
  const namespaceHash = createHash('sha256')
    .update(`${sbom.profileSha256}\n${sbom.sourceDateEpoch}\n${sbom.inputs.map((i) => `${i.identity}@${i.manifestDigest}`).join('\n')}`)
    .digest('hex')
  const imageId = `SPDXRef-Appliance-${spdxId(sbom.profileName)}`
  const packages = sbom.inputs.map((input) => ({
    name: input.name,
    SPDXID: `SPDXRef-Image-${input.role}-${spdxId(input.name)}`,
    versionInfo: input.manifestDigest,
    downloadLocation: input.identity.startsWith('oci:') ? 'NOASSERTION' : `${input.identity}@${input.manifestDigest}`,
    filesAnalyzed: false,
    checksums: [{algorithm: 'SHA256', checksumValue: input.manifestDigest.slice(7)}],
    primaryPackagePurpose: 'CONTAINER',
    externalRefs: [{referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: ociPurl(input)}],
    comment:
      `role: ${input.role}; layers: ${input.layers.map((l) => l.digest).join(', ')}; ` +
      (input.signers.length > 0 ? `signed by: ${input.signers.map((s) => s.fingerprint).join(', ')}` : 'signatures not verified'),
  }))
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${sbom.profileName} appliance`,
    documentNamespace: `https://stagex-image.invalid/spdx/${spdxId(sbom.profileName)}-${namespaceHash}`,
    creationInfo: {
      created: new Date(sbom.sourceDateEpoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      creators: [`Tool: stagex-image-${sbom.toolVersion}`],
    },
    packages: [
      {
        name: sbom.profileName,
        SPDXID: imageId,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        primaryPackagePurpose: 'OPERATING_SYSTEM', // SPDX 2.3 JSON's enum spells it with an underscore
        comment: `built from profile sha256 ${sbom.profileSha256.slice(7)}`,
      },
      ...packages,
    ],
    relationships: [
      {spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId},
      ...packages.map((p) => ({spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID})),
    ],
  }
}

export const serializeSbom = (document: Record<string, unknown>) => `${JSON.stringify(document, null, 2)}\n`
