// Profiles that would cost the parser minutes or memory, and paths that must mean what they say.
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {isStagexError} from '../../src/errors.js'
import {sourceFor, packageRequests} from '../../src/pipeline/packages.js'
import {buildSbom} from '../../src/pipeline/sbom.js'
import {MAX_PROFILE_BYTES, parseProfile} from '../../src/profile/load.js'

const refusal = (pattern: RegExp) => (error: unknown) => isStagexError(error) && error.exitCode === 2 && pattern.test(error.message)
const base = 'name: t\npackages: [core-busybox]\nkernel: {package: user-linux-generic}\n'

describe('profile: limits and paths', () => {
  it('refuses a YAML alias bomb at once (exit 2), naming the file', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(',')}]`)
    const started = Date.now()
    assert.throws(() => parseProfile(Buffer.from(`${base}${lines.join('\n')}\n`), '/p/bomb.yaml', 'bomb.yaml'), refusal(/^bomb\.yaml: the YAML expands its aliases too far/))
    assert.ok(Date.now() - started < 5000, 'refused quickly')
  })

  it(`refuses a profile over ${MAX_PROFILE_BYTES} bytes (exit 2) before parsing it`, () => {
    const big = Buffer.alloc(MAX_PROFILE_BYTES + 1, 0x20)
    assert.throws(() => parseProfile(big, '/p/big.yaml', 'big.yaml'), refusal(/^big\.yaml: the profile is 1048577 bytes; a profile is at most 1048576 bytes/))
  })

  it('reads oci:/absolute/path as absolute and oci:relative against the profile folder', () => {
    const profile = parseProfile(Buffer.from('name: t\npackages: ["oci:/srv/layouts/busybox", "oci:rel/fs"]\nkernel: {package: user-linux-generic}\n'), '/p/t.yaml', 't.yaml')
    const [abs, rel] = packageRequests(profile).map((r) => sourceFor(profile, r))
    assert.equal(abs!.kind === 'layout' && abs!.source.description, 'OCI layout /srv/layouts/busybox')
    assert.equal(rel!.kind === 'layout' && rel!.source.description, `OCI layout ${join('/p', 'rel/fs')}`)
  })

  it("writes SPDX 2.3 JSON's enum for the appliance's purpose (OPERATING_SYSTEM, with an underscore)", () => {
    const sbom = buildSbom({profileName: 't', profileSha256: `sha256:${'a'.repeat(64)}`, sourceDateEpoch: 1, toolVersion: '0', inputs: []}) as {packages: {primaryPackagePurpose: string}[]}
    assert.equal(sbom.packages[0]!.primaryPackagePurpose, 'OPERATING_SYSTEM')
  })
})
