import assert from 'node:assert/strict'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {credentialsFor, parseChallenges} from '../../src/oci/auth.js'
import {isStagexError} from '../../src/errors.js'

describe('oci/auth', () => {
  it('parses Bearer challenges as Docker Hub and quay send them', () => {
    const [hub] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:stagex/core-busybox:pull"',
    )
    assert.deepEqual(hub, {
      scheme: 'bearer',
      params: {realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:stagex/core-busybox:pull'},
    })
    const [quay] = parseChallenges('Bearer realm="https://quay.io/v2/auth",service="quay.io"')
    assert.equal(quay!.params.realm, 'https://quay.io/v2/auth')
    assert.equal(quay!.params.scope, undefined)
  })

  it('parses several challenges, escaped quotes and unquoted values', () => {
    const challenges = parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm=https://t/token,service=svc,error="insufficient_scope"')
    assert.equal(challenges.length, 2)
    assert.deepEqual(challenges[0], {scheme: 'basic', params: {realm: 'a "quoted" realm'}})
    assert.deepEqual(challenges[1], {scheme: 'bearer', params: {realm: 'https://t/token', service: 'svc', error: 'insufficient_scope'}})
    assert.deepEqual(parseChallenges(''), [])
  })

  describe('credentials from the Docker config', () => {
    let dir: string
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'stagex-auth-'))
    })
    afterEach(async () => rm(dir, {recursive: true, force: true}))

    it('reads auths by host, and Docker Hub under its legacy key, from DOCKER_CONFIG', async () => {
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({
          auths: {
            'https://index.docker.io/v1/': {auth: Buffer.from('hub-user:hub:pass').toString('base64')},
            'quay.io': {username: 'q', password: 'p'},
            'https://127.0.0.1:5000': {auth: Buffer.from('local:secret').toString('base64')},
          },
        }),
      )
      const env = {DOCKER_CONFIG: dir}
      assert.deepEqual(await credentialsFor('docker.io', env), {username: 'hub-user', password: 'hub:pass'})
      assert.deepEqual(await credentialsFor('quay.io', env), {username: 'q', password: 'p'})
      assert.deepEqual(await credentialsFor('127.0.0.1:5000', env), {username: 'local', password: 'secret'})
      assert.equal(await credentialsFor('ghcr.io', env), undefined)
    })

    it('uses ~/.docker/config.json when DOCKER_CONFIG is not set, and nothing when there is none', async () => {
      assert.equal(await credentialsFor('quay.io', {HOME: dir}), undefined)
      await mkdir(join(dir, '.docker'))
      await writeFile(join(dir, '.docker', 'config.json'), JSON.stringify({auths: {'quay.io': {username: 'home', password: 'pw'}}}))
      assert.deepEqual(await credentialsFor('quay.io', {HOME: dir}), {username: 'home', password: 'pw'})
    })

    it('refuses a config that is not JSON, or an auth that is not user:password (exit 2)', async () => {
      await writeFile(join(dir, 'config.json'), '{auths:')
      await assert.rejects(credentialsFor('quay.io', {DOCKER_CONFIG: dir}), (e: unknown) => isStagexError(e) && e.exitCode === 2 && /not valid JSON/.test(e.message))
      await writeFile(join(dir, 'config.json'), JSON.stringify({auths: {'quay.io': {auth: Buffer.from('nocolon').toString('base64')}}}))
      await assert.rejects(credentialsFor('quay.io', {DOCKER_CONFIG: dir}), /not base64 of "user:password"/)
    })
  })
})
