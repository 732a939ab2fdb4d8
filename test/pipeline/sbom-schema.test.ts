// sbom.spdx.json against the official SPDX 2.3 JSON schema (test/fixtures/spdx/, see SOURCE there):
// the SBOM of a real build validates, and a mutated one does not, so this test can fail.
import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Ajv2019} from 'ajv/dist/2019.js'
import {build} from '../../src/pipeline/pipeline.js'
import {buildSbom, SBOM_FILE} from '../../src/pipeline/sbom.js'
import {REPO} from '../helpers/cli.js'

const SCHEMA_PATH = join(REPO, 'test/fixtures/spdx/spdx-schema.json')

async function spdxValidator() {
  const schema = JSON.parse(await readFile(SCHEMA_PATH, 'utf8'))
  // The schema is draft 2019-09 (its $schema says so) and uses no `format`: Ajv2019, strict.
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2019-09/schema')
  const compiled = new Ajv2019({allErrors: true, strict: true}).compile(schema)
  // A plain boolean, not ajv's type guard (which would narrow the documents to unknown).
  const validate = (document: unknown): boolean => compiled(document)
  const errors = () => (compiled.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join('\n')
  return {validate, errors}
}

describe('build: sbom.spdx.json validates against the official SPDX 2.3 JSON schema', function () {
  this.timeout(300_000)
  let dir = ''
  let validate: (document: unknown) => boolean
  let errors: () => string
  before(async () => {
    ;({validate, errors} = await spdxValidator())
    dir = await mkdtemp(join(tmpdir(), 'stagex-sbom-schema-'))
  })
  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('the sbom of a real build of profiles/minimal.yaml validates; mutated copies do not', async () => {
    const out = join(dir, 'out')
    await build({profilePath: join(REPO, 'profiles/minimal.yaml'), outDir: out, progress: () => {}, warn: () => {}})
    const sbom = JSON.parse(await readFile(join(out, SBOM_FILE), 'utf8'))
    assert.ok(validate(sbom), errors())
    assert.ok(sbom.packages.length >= 4, 'the appliance and its images')

    // The enum spells it OPERATING_SYSTEM: the hyphen of the tag-value format is refused.
    const hyphen = structuredClone(sbom)
    hyphen.packages[0].primaryPackagePurpose = 'OPERATING-SYSTEM'
    assert.equal(validate(hyphen), false)
    assert.match(errors(), /\/packages\/0\/primaryPackagePurpose must be equal to one of the allowed values/)

    const noCreators = structuredClone(sbom)
    noCreators.creationInfo.creators = []
    assert.equal(validate(noCreators), false)

    const badChecksum = structuredClone(sbom)
    badChecksum.packages[1].checksums[0].algorithm = 'SHA-256'
    assert.equal(validate(badChecksum), false)
    assert.match(errors(), /\/packages\/1\/checksums\/0\/algorithm must be equal to one of the allowed values/)
  })

  it('an sbom with every role, unsigned inputs and a layout identity validates too', () => {
    const input = (name: string, role: 'package' | 'kernel' | 'boot', identity: string, signed: boolean) => ({
      role,
      name,
      identity,
      tag: role === 'boot' ? undefined : 'latest',
      manifestDigest: `sha256:${'ab'.repeat(32)}`,
      configDigest: `sha256:${'c'.repeat(64)}`,
      layers: [{digest: `sha256:${'d'.repeat(64)}`, diffId: `sha256:${'e'.repeat(64)}`, size: 10}],
      signers: signed ? [{fingerprint: 'f'.repeat(40)}] : [],
    })
    const sbom = buildSbom({
      profileName: 'odd_name.v2',
      profileSha256: `sha256:${'9'.repeat(64)}`,
      sourceDateEpoch: 0,
      toolVersion: '0.1.0',
      inputs: [
        input('core-busybox', 'package', 'docker.io/stagex/core-busybox', true),
        input('user-linux-generic', 'kernel', 'oci:/tmp/layouts/user-linux-generic', false),
        input('user-syslinux', 'boot', 'docker.io/stagex/user-syslinux', true),
      ] as Parameters<typeof buildSbom>[0]['inputs'],
    })
    assert.ok(validate(sbom), errors())
  })
})
