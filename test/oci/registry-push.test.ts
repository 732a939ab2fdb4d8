// The push side of the registry client against docker-registry behind token auth: blobs uploaded
// once (a second push finds them), an appliance manifest stored under its own digest and read back
// through the pulling client, a push token asked with pull,push scope; a wrong password is exit 2.
import assert from 'node:assert/strict'
import {type Registry, startRegistry} from '../../scripts/world/registry.js'
import {applianceManifest, parseApplianceManifest} from '../../src/appliance/artifact.js'
import {sha256Of} from '../../src/oci/digest.js'
import {MediaType} from '../../src/oci/media-types.js'
import {openRegistry} from '../../src/oci/registry.js'
import {openRegistryWriter} from '../../src/oci/registry-push.js'
import type {BuildRecord} from '../../src/pipeline/record.js'

describe('oci: registry push (token auth)', function () {
  this.timeout(60_000)
  let registry: Registry
  before(async () => (registry = await startRegistry({auth: 'token'})))
  after(async () => registry?.dispose())

  it('pushes blobs once and a manifest under its digest; the pulling client reads it back', async () => {
    const location = {registry: registry.host, repository: 'appliances/tiny'}
    const tokenOrigins = [new URL(registry.tokenUrl!).origin]
    const writer = openRegistryWriter(location, registry.credentials, {tokenOrigins})
    const kernel = Buffer.from('not really a kernel\n')
    const record = {sourceDateEpoch: 1, profile: {name: 'tiny'}, outputs: {kernel: {file: 'vmlinuz', size: kernel.length, sha256: sha256Of(kernel).slice(7)}}} as unknown as BuildRecord
    const recordBytes = Buffer.from(JSON.stringify(record))
    const manifest = applianceManifest(recordBytes, record)
    assert.equal(await writer.pushBlob(manifest.config.digest, recordBytes.length, {bytes: recordBytes}), true)
    assert.equal(await writer.pushBlob(manifest.layers[0]!.digest, kernel.length, {bytes: kernel}), true)
    assert.equal(await writer.pushBlob(manifest.layers[0]!.digest, kernel.length, {bytes: kernel}), false, 'a blob the registry has is not sent again')
    assert.equal(await writer.putManifest('1.0', manifest.bytes, MediaType.ociManifest), manifest.digest)
    // The registry names the actions in either order (a Go map).
    assert.ok(registry.tokenRequests.some((r) => r.granted && r.scope.some((s) => /^repository:appliances\/tiny:(pull,push|push,pull)$/.test(s))))

    const reader = openRegistry(location, {credentials: registry.credentials, tokenOrigins})
    const top = await reader.resolve({tag: '1.0'})
    assert.equal(top.digest, manifest.digest)
    const back = parseApplianceManifest(await reader.readBytes(top), 'tiny')
    assert.deepEqual(Buffer.from(await reader.readBytes(back.config)), recordBytes)

    const denied = openRegistryWriter(location, {username: registry.credentials!.username, password: 'wrong'}, {tokenOrigins})
    await assert.rejects(denied.pushBlob(sha256Of('x'), 1, {bytes: Buffer.from('x')}), (e: {exitCode: number}) => e.exitCode === 2)
  })
})
