// policy.json and registries.d from containers/image's fixtures, read in place.
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import type {StagexError} from '../../src/errors.js'
import {
  containersTrustFor,
  dockerRequirements,
  dockerScopes,
  lookasideFor,
  parseContainersPolicy,
  readRegistriesDir,
  type RegistriesD,
} from '../../src/trust/containers-config.js'
import {keyringFingerprints} from '../../src/trust/keyring.js'

const signing = new URL('../../../shared/vectors/signing/', import.meta.url)
const fixturePath = (name: string) => fileURLToPath(new URL(`fixtures/${name}`, signing))
const PRIMARY = '08CD26E446E2E95249B7A405E932F44B23E8DD43'

describe('trust: containers policy.json and registries.d', () => {
  describe('policy.json fixture', () => {
    const policy = parseContainersPolicy(readFileSync(fixturePath('policy.json'), 'utf8'))

    it('picks the most specific docker scope', () => {
      assert.deepEqual(dockerRequirements(policy, 'example.com/production/app:1').requirements, [
        {type: 'signedBy', keyType: 'GPGKeys', keyPath: '/keys/employee-gpg-keyring'},
      ])
      assert.equal(dockerRequirements(policy, 'example.com/playground/x').scope, 'example.com/playground')
      assert.equal(dockerRequirements(policy, 'registry.access.redhat.com/rhel7').scope, 'registry.access.redhat.com')
      assert.equal(dockerRequirements(policy, 'foo.access.redhat.com/x').scope, '*.access.redhat.com')
      assert.equal(dockerRequirements(policy, 'www.redhat.com:8080/x').scope, '*.redhat.com')
      assert.equal(dockerRequirements(policy, 'private-mirror:5000/vendor-mirror/app').scope, 'private-mirror:5000/vendor-mirror')
      assert.equal(dockerRequirements(policy, 'busybox').scope, 'default')
    })

    it('lists scopes the way containers/image does', () => {
      assert.deepEqual(dockerScopes('a.b.example.com:5000/ns/repo:tag'), [
        'a.b.example.com:5000/ns/repo:tag',
        'a.b.example.com:5000/ns/repo',
        'a.b.example.com:5000/ns',
        'a.b.example.com:5000',
        '*.b.example.com',
        '*.example.com',
        '*.com',
      ])
    })

    it('is strict: unknown fields and types are usage errors', () => {
      assert.throws(() => parseContainersPolicy('{"default":[{"type":"reject"}],"extra":1}'), (e: StagexError) => e.exitCode === 2 && /unknown field "extra"/.test(e.message))
      assert.throws(() => parseContainersPolicy('{"default":[{"type":"acceptIfLucky"}]}'), /unknown requirement type/)
      assert.throws(() => parseContainersPolicy('{"default":[]}'), /non-empty list/)
      assert.throws(
        () => parseContainersPolicy('{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","keyData":"eA=="}]}'),
        /exactly one of keyPath, keyPaths, keyData/,
      )
    })
  })

  describe('containersTrustFor: a keyring from keyPath, keyPaths or keyData', () => {
    let folder: string
    const write = (name: string, policy: unknown) => {
      const path = join(folder, name)
      writeFileSync(path, JSON.stringify(policy))
      return path
    }
    before(() => {
      folder = mkdtempSync(join(tmpdir(), 'stagex-policy-'))
    })
    after(() => rmSync(folder, {recursive: true, force: true}))

    const signedBy = (source: Record<string, unknown>) => ({
      default: [{type: 'reject'}],
      transports: {docker: {'docker.io/stagex': [{type: 'signedBy', keyType: 'GPGKeys', ...source}], 'docker.io/open': [{type: 'insecureAcceptAnything'}]}},
    })

    it('keyPath, keyPaths (with repeats) and keyData give the same primary', async () => {
      const keyData = readFileSync(fixturePath('public-key.gpg')).toString('base64')
      for (const [name, source] of [
        ['path.json', {keyPath: fixturePath('public-key.gpg')}],
        ['paths.json', {keyPaths: [fixturePath('public-key-1.gpg'), fixturePath('public-key-1.gpg')]}],
        ['data.json', {keyData}],
      ] as const) {
        const trust = await containersTrustFor({policyPath: write(name, signedBy(source)), reference: 'docker.io/stagex/core-busybox'})
        assert.deepEqual(keyringFingerprints(trust.keyring), [PRIMARY], name)
        assert.equal(trust.scope, 'docker.io/stagex')
      }
      const two = await containersTrustFor({
        policyPath: write('two.json', signedBy({keyPaths: [fixturePath('public-key-2.gpg'), fixturePath('public-key-1.gpg')]})),
        reference: 'stagex/core-busybox',
      })
      assert.deepEqual(keyringFingerprints(two.keyring), ['F2B501009F78B0B340221A12A3CD242DA6028093', PRIMARY])
    })

    it('a rejected image or one needing no signatures fails (trust, exit 3)', async () => {
      const path = write('reject.json', signedBy({keyPath: fixturePath('public-key.gpg')}))
      await assert.rejects(containersTrustFor({policyPath: path, reference: 'docker.io/library/busybox'}), (e: StagexError) => e.exitCode === 3 && /default policy rejects docker.io\/library\/busybox/.test(e.message))
      await assert.rejects(containersTrustFor({policyPath: path, reference: 'docker.io/open/x'}), (e: StagexError) => e.exitCode === 3 && /requires no GPG signatures/.test(e.message))
    })

    it('reads the lookaside from registries.d next to the keys', async () => {
      const trust = await containersTrustFor({
        policyPath: write('path2.json', signedBy({keyPath: fixturePath('public-key.gpg')})),
        registriesDir: fileURLToPath(new URL('registries.d/', signing)),
        reference: 'docker.io/stagex/core-busybox',
      })
      assert.equal(trust.lookaside, 'file:///mnt/companywide/signatures/for/other/repositories')
    })
  })

  describe('registries.d fixture folder', () => {
    let config: RegistriesD
    before(async () => {
      config = await readRegistriesDir(fileURLToPath(new URL('registries.d/', signing)))
    })

    it('the most specific docker scope wins; default-docker is the fallback', () => {
      assert.equal(lookasideFor(config, 'docker.io/contoso/app'), 'https://lookaside.contoso.com/fordocker')
      assert.equal(lookasideFor(config, 'centos/mybetaproduct@sha256:' + 'a'.repeat(64)), 'http://localhost:9999/mybetaWIP/lookaside')
      assert.equal(lookasideFor(config, 'docker.io/centos/mybetaproduct:latest'), 'https://lookaside.centos.org/')
      assert.equal(lookasideFor(config, 'docker.io/centos/other'), 'https://lookaside.centos.org/')
      assert.equal(lookasideFor(config, 'example.com/x'), 'https://lookaside.example.com')
      assert.equal(lookasideFor(config, 'registry.test.example.com:8888/x'), 'http://registry.test.example.com:8889/lookaside')
      assert.equal(lookasideFor(config, 'registry.test.example.com/x'), 'http://registry.test.example.com/lookaside')
      assert.equal(lookasideFor(config, 'localhost:8080/x'), 'file:///home/mitr/mydevelopment2')
      assert.equal(lookasideFor(config, 'quay.io/stagex/core-busybox'), 'file:///mnt/companywide/signatures/for/other/repositories')
    })

    it('lookasides that are not file/http(s) URLs are usage errors', () => {
      for (const reference of ['localhost/invalid/url/test', 'localhost/file/path/test', 'localhost/relative/path/test'])
        assert.throws(() => lookasideFor(config, reference), (e: StagexError) => e.exitCode === 2, reference)
    })

    it('one scope in two files is an error', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'stagex-registries-'))
      try {
        writeFileSync(join(dir, 'a.yaml'), 'docker:\n  example.com:\n    lookaside: https://a\n')
        writeFileSync(join(dir, 'b.yaml'), 'docker:\n  example.com:\n    lookaside: https://b\n')
        await assert.rejects(readRegistriesDir(dir), /already configured/)
      } finally {
        rmSync(dir, {recursive: true, force: true})
      }
    })
  })
})
