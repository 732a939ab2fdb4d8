import assert from 'node:assert/strict'
import {buildSbom, ociPurl} from '../../src/pipeline/sbom.js'
import type {RecordedInput} from '../../src/pipeline/record.js'

const input = (name: string, role: RecordedInput['role'], hex: string, signers = 2): RecordedInput => ({
  role,
  name,
  identity: `docker.io/stagex/${name}`,
  tag: 'latest',
  manifestDigest: `sha256:${hex.repeat(64 / hex.length)}`,
  configDigest: `sha256:${'c'.repeat(64)}`,
  layers: [{digest: `sha256:${'d'.repeat(64)}`, diffId: `sha256:${'e'.repeat(64)}`, size: 10}],
  signers: Array.from({length: signers}, (_, i) => ({fingerprint: `${i}`.repeat(40)})),
})

describe('build: SBOM (SPDX 2.3)', () => {
  const inputs = [input('core-filesystem', 'package', 'a'), input('core-busybox', 'package', 'b'), input('user-linux-generic', 'kernel', 'f', 0)]
  const sbom = buildSbom({profileName: 'minimal', profileSha256: `sha256:${'9'.repeat(64)}`, sourceDateEpoch: 1700000000, toolVersion: '0.1.0', inputs}) as {
    spdxVersion: string
    creationInfo: {created: string; creators: string[]}
    documentNamespace: string
    packages: {SPDXID: string; name: string; versionInfo?: string; checksums?: {checksumValue: string}[]; comment: string}[]
    relationships: {spdxElementId: string; relationshipType: string; relatedSpdxElement: string}[]
  }

  it('has the SPDX 2.3 document fields, dated SOURCE_DATE_EPOCH', () => {
    assert.equal(sbom.spdxVersion, 'SPDX-2.3')
    assert.equal(sbom.creationInfo.created, '2023-11-14T22:13:20Z')
    assert.deepEqual(sbom.creationInfo.creators, ['Tool: stagex-image-0.1.0'])
    assert.match(sbom.documentNamespace, /^https:\/\/stagex-image\.invalid\/spdx\/minimal-[0-9a-f]{64}$/)
  })

  it('lists every image by manifest digest, with its role and signers, contained in the appliance', () => {
    const images = sbom.packages.slice(1)
    assert.deepEqual(images.map((p) => [p.name, p.versionInfo]), inputs.map((i) => [i.name, i.manifestDigest]))
    assert.deepEqual(images.map((p) => p.checksums![0]!.checksumValue), inputs.map((i) => i.manifestDigest.slice(7)))
    assert.match(images[1]!.comment, /^role: package; layers: sha256:d+; signed by: 0{40}, 1{40}$/)
    assert.match(images[2]!.comment, /signatures not verified$/)
    const ids = new Set(sbom.packages.map((p) => p.SPDXID))
    assert.equal(ids.size, sbom.packages.length, 'SPDX ids are unique')
    assert.deepEqual(
      sbom.relationships.filter((r) => r.relationshipType === 'CONTAINS').map((r) => r.relatedSpdxElement),
      images.map((p) => p.SPDXID),
    )
  })

  it('changes its namespace with any input digest, and only then', () => {
    const again = buildSbom({profileName: 'minimal', profileSha256: `sha256:${'9'.repeat(64)}`, sourceDateEpoch: 1700000000, toolVersion: '0.1.0', inputs})
    assert.deepEqual(again, sbom)
    const other = buildSbom({profileName: 'minimal', profileSha256: `sha256:${'9'.repeat(64)}`, sourceDateEpoch: 1700000000, toolVersion: '0.1.0', inputs: [inputs[0]!, input('core-busybox', 'package', '7')]}) as {documentNamespace: string}
    assert.notEqual(other.documentNamespace, sbom.documentNamespace)
  })

  it('names images with a pkg:oci purl', () => {
    assert.equal(
      ociPurl(inputs[1]!),
      `pkg:oci/core-busybox@sha256%3A${'b'.repeat(64)}?arch=amd64&repository_url=docker.io%2Fstagex%2Fcore-busybox&tag=latest`,
    )
  })
})
