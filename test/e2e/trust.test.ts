// The trust stage end to end, through the CLI, with signatures made by skopeo (standalone-sign, and
// copy --sign-by into a real registry) and the lookaside served over HTTP on loopback. Each test
// works on its own copy of the world's lookaside; the world cache is never changed.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {copyFile, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {startRegistry} from '../../scripts/world/registry.js'
import {
  copyLookaside,
  ensureSigningWorld,
  manifestFile,
  pushSigned,
  serveLookaside,
  signatureFolder,
  type SigningWorld,
  standaloneSign,
  stopGpgAgent,
} from '../../scripts/world/signing.js'
import {CLI, type CliResult, REPO} from '../helpers/cli.js'

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** The CLI in a child process, without blocking this one: the lookaside server here must answer it. */
function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? -1, stdout, stderr}))
  })
}

describe('e2e: trust (2 of 3 maintainers, skopeo-made signatures)', function () {
  this.timeout(600_000)
  let signing: SigningWorld
  let root: string
  let minimal: string

  before(async () => {
    signing = await ensureSigningWorld()
    root = await mkdtemp(join(tmpdir(), 'stagex-trust-'))
    minimal = await readFile(join(REPO, 'profiles/minimal.yaml'), 'utf8')
  })
  after(async () => {
    await rm(root, {recursive: true, force: true})
  })

  let count = 0
  /** The minimal profile with absolute paths, in its own folder, trusting `lookaside`. */
  async function profileWith(options: {lookaside?: string; threshold?: number; keyring?: string; trust?: boolean} = {}) {
    const dir = join(root, `p${++count}`)
    await mkdir(dir, {recursive: true})
    let text = minimal
      .replace('oci:../.cache/world/oci', `oci:${join(REPO, '.cache/world/oci')}`)
      .replace('../kernel/initramfs-boot.config', join(REPO, 'kernel/initramfs-boot.config'))
      .replace('../.cache/world/keys/maintainers.pgp', options.keyring ?? signing.keyring)
      .replace('file://../.cache/world/sigs', options.lookaside ?? signing.lookasideUrl)
      .replace('threshold: 2', `threshold: ${options.threshold ?? 2}`)
    if (options.trust === false) text = text.replace(/^trust:\n(?: {2}.*\n)+/m, '')
    const path = join(dir, 'profile.yaml')
    await writeFile(path, text)
    return {dir, path, out: join(dir, 'out')}
  }

  const busybox = () => signing.world.packages['core-busybox']!
  const busyboxFolder = (lookaside: string) => signatureFolder(lookaside, 'core-busybox', busybox().manifestDigest)
  async function sign(who: {fingerprint: string}, output: string, name = 'core-busybox') {
    try {
      await standaloneSign({
        gnupgHome: signing.gnupgHome,
        manifest: manifestFile(signing.world, name),
        reference: `docker.io/stagex/${name}:latest`,
        fingerprint: who.fingerprint,
        output,
      })
    } finally {
      await stopGpgAgent(signing.gnupgHome)
    }
  }
  /** Every file under a folder, with its sha256. */
  async function snapshot(dir: string): Promise<Record<string, string>> {
    const files: Record<string, string> = {}
    for (const name of await readdir(dir, {recursive: true}).catch(() => [] as string[])) {
      const bytes = await readFile(join(dir, name)).catch(() => undefined)
      if (bytes) files[name] = sha256(bytes)
    }
    return files
  }

  /** A build that must be refused: exit 3 (or `code`), naming core-busybox, and no output written. */
  async function refusedBuild(lookasideUrl: string, expect: RegExp, code = 3) {
    const profile = await profileWith({lookaside: lookasideUrl})
    const result = await runCli(['build', profile.path, '--out', profile.out])
    assert.equal(result.code, code, result.stderr)
    assert.match(result.stderr, expect)
    assert.deepEqual(await snapshot(profile.out), {}, 'nothing written')
    return result
  }

  it('2 of 3 passes over HTTP on loopback, and build.json records the two maintainers of each input', async () => {
    const lookaside = await copyLookaside(signing)
    const server = await serveLookaside(lookaside)
    try {
      const profile = await profileWith({lookaside: server.url})
      const result = await runCli(['build', profile.path, '--out', profile.out])
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stderr, /trust: core-busybox: 2 distinct signers \(2 needed\)/)
      const record = JSON.parse(await readFile(join(profile.out, 'build.json'), 'utf8'))
      assert.deepEqual(record.trust, {threshold: 2})
      const [one, two] = signing.maintainers
      for (const input of record.inputs)
        assert.deepEqual(input.signers, [
          {fingerprint: one!.fingerprint, name: one!.userId},
          {fingerprint: two!.fingerprint, name: two!.userId},
        ])
      assert.ok(server.requests.some((path) => path.endsWith(`/stagex/core-busybox@sha256=${busybox().manifestDigest.slice(7)}/signature-3`)))
    } finally {
      await server.close()
      await rm(lookaside, {recursive: true, force: true})
    }
  })

  it('maintainer 2 signs through a subkey and counts as its primary key', async () => {
    const result = await runCli([
      'verify', `oci:${busybox().layout}:latest`, '--identity', 'docker.io/stagex/core-busybox',
      '--keyring', signing.keyring, '--lookaside', signing.lookasideUrl, '--json',
    ])
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(result.stdout)
    const two = signing.maintainers[1]!
    assert.notEqual(two.signingFingerprint, two.fingerprint)
    assert.equal(report.table[1].signer, two.fingerprint)
    assert.match(report.table[1].reason, new RegExp(`by subkey ${two.signingFingerprint}`))
    assert.equal(report.distinctSigners, 2)
  })

  it('one signature is not enough: exit 3, found 1, needed 2, and nothing written', async () => {
    const lookaside = await copyLookaside(signing)
    await unlink(join(busyboxFolder(lookaside), 'signature-2'))
    const {stderr} = await refusedBuild(`file://${lookaside}`, /image docker\.io\/stagex\/core-busybox@sha256:[0-9a-f]{64} is not trusted: 1 valid distinct signer found, 2 needed/)
    assert.match(stderr, new RegExp(`signature-1 +${signing.maintainers[0]!.fingerprint} .* yes +ok: signed`))
    await rm(lookaside, {recursive: true, force: true})
  })

  it('the same key signing twice counts once: exit 3', async () => {
    const lookaside = await copyLookaside(signing)
    await sign(signing.maintainers[0]!, join(busyboxFolder(lookaside), 'signature-2'))
    await refusedBuild(`file://${lookaside}`, /1 valid distinct signer found, 2 needed[\s\S]*duplicate: [0-9A-F]{40} already counted for signature-1/)
    await rm(lookaside, {recursive: true, force: true})
  })

  it("a signature copied from another image's folder is refused (digest)", async () => {
    const lookaside = await copyLookaside(signing)
    const other = signatureFolder(lookaside, 'core-filesystem', signing.world.packages['core-filesystem']!.manifestDigest)
    await copyFile(join(other, 'signature-2'), join(busyboxFolder(lookaside), 'signature-2'))
    const signed = signing.world.packages['core-filesystem']!.manifestDigest
    await refusedBuild(`file://${lookaside}`, new RegExp(`1 valid distinct signer found, 2 needed[\\s\\S]*signature-2 .* no +digest: signed ${signed}`))
    await rm(lookaside, {recursive: true, force: true})
  })

  it('a signature by a key outside the keyring does not count', async () => {
    const lookaside = await copyLookaside(signing)
    await sign(signing.outsider, join(busyboxFolder(lookaside), 'signature-2'))
    await refusedBuild(`file://${lookaside}`, /1 valid distinct signer found[\s\S]*signed by key [0-9A-F]{16}, which is not in the keyring/)
    await rm(lookaside, {recursive: true, force: true})
  })

  it('maintainer 3 signing too gives 3 distinct signers, enough for a threshold of 3', async () => {
    const lookaside = await copyLookaside(signing)
    for (const name of Object.keys(signing.world.packages))
      await sign(signing.maintainers[2]!, join(signatureFolder(lookaside, name, signing.world.packages[name]!.manifestDigest), 'signature-3'), name)
    const profile = await profileWith({lookaside: `file://${lookaside}`, threshold: 3})
    const result = await runCli(['build', profile.path, '--out', profile.out])
    assert.equal(result.code, 0, result.stderr)
    const record = JSON.parse(await readFile(join(profile.out, 'build.json'), 'utf8'))
    assert.deepEqual(record.inputs[1].signers.map((s: {fingerprint: string}) => s.fingerprint), signing.maintainers.map((m) => m.fingerprint))
    await rm(lookaside, {recursive: true, force: true})
  })

  it('a lookaside answering 500 fails the build with exit 7 (unreachable: CI may retry)', async () => {
    const server = await serveLookaside(signing.lookaside, (path) => (path.includes('core-busybox') ? 500 : undefined))
    try {
      await refusedBuild(server.url, /core-busybox.*is not trusted: lookaside answered HTTP 500/, 7)
    } finally {
      await server.close()
    }
  })

  it('a signature file over the size limit is refused, and nothing is written', async () => {
    const lookaside = await copyLookaside(signing)
    await writeFile(join(busyboxFolder(lookaside), 'signature-2'), Buffer.alloc(65 * 1024, 0xa3))
    await refusedBuild(`file://${lookaside}`, /signature-2 is larger than 65536 bytes; refusing it/, 4)
    await rm(lookaside, {recursive: true, force: true})
  })

  it('a refused build leaves the previous outputs as they were', async () => {
    const lookaside = await copyLookaside(signing)
    const profile = await profileWith({lookaside: `file://${lookaside}`})
    assert.equal((await runCli(['build', profile.path, '--out', profile.out])).code, 0)
    const before = await snapshot(profile.out)
    assert.ok(Object.keys(before).includes('build.json'))
    await unlink(join(busyboxFolder(lookaside), 'signature-1'))
    const result = await runCli(['build', profile.path, '--out', profile.out])
    assert.equal(result.code, 3, result.stderr)
    assert.deepEqual(await snapshot(profile.out), before)
    await rm(lookaside, {recursive: true, force: true})
  })

  it("trust: may reuse a containers set-up: policy.json's signedBy keyPath and a registries.d lookaside", async () => {
    const profile = await profileWith({trust: false})
    const policy = join(profile.dir, 'policy.json')
    await writeFile(
      policy,
      JSON.stringify({
        default: [{type: 'reject'}],
        transports: {docker: {'docker.io/stagex': [{type: 'signedBy', keyType: 'GPGKeys', keyPath: signing.keyring}]}},
      }),
    )
    await mkdir(join(profile.dir, 'registries.d'))
    await writeFile(join(profile.dir, 'registries.d', 'stagex.yaml'), `docker:\n  docker.io/stagex:\n    lookaside: ${signing.lookasideUrl}\n`)
    const text = await readFile(profile.path, 'utf8')
    await writeFile(profile.path, text.replace(/^packages:/m, 'trust:\n  policy: policy.json\n  registriesD: registries.d\n  threshold: 2\npackages:'))
    const result = await runCli(['build', profile.path, '--out', profile.out])
    assert.equal(result.code, 0, result.stderr)
    const record = JSON.parse(await readFile(join(profile.out, 'build.json'), 'utf8'))
    assert.equal(record.inputs[1].signers.length, 2)
    // The same set-up with a threshold of 3: refused.
    await writeFile(profile.path, (await readFile(profile.path, 'utf8')).replace('threshold: 2', 'threshold: 3'))
    const refused = await runCli(['build', profile.path, '--out', join(profile.dir, 'out3')])
    assert.equal(refused.code, 3, refused.stderr)
    assert.match(refused.stderr, /2 valid distinct signers found, 3 needed/)
  })

  it('a profile without trust: builds unverified, warns on stderr and records "trust": "none"', async () => {
    const profile = await profileWith({trust: false})
    const result = await runCli(['build', profile.path, '--out', profile.out])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /warning: the profile has no trust: section, so its images are NOT verified/)
    const record = JSON.parse(await readFile(join(profile.out, 'build.json'), 'utf8'))
    assert.equal(record.trust, 'none')
    assert.deepEqual(record.inputs[0].signers, [])
  })

  it('lock records the counted signers; --locked fails once fewer than the threshold of them still count', async () => {
    const lookaside = await copyLookaside(signing)
    const profile = await profileWith({lookaside: `file://${lookaside}`})
    const locked = await runCli(['lock', profile.path])
    assert.equal(locked.code, 0, locked.stderr)
    const lock = JSON.parse(await readFile(join(profile.dir, 'profile.lock.json'), 'utf8'))
    assert.deepEqual(lock.packages[1].signers.map((s: {fingerprint: string}) => s.fingerprint), signing.maintainers.slice(0, 2).map((m) => m.fingerprint))
    assert.equal((await runCli(['build', profile.path, '--out', profile.out, '--locked'])).code, 0)
    // Maintainer 2's signature goes, maintainer 3's comes: 2 distinct signers still, but only one of those the lock recorded.
    await sign(signing.maintainers[2]!, join(busyboxFolder(lookaside), 'signature-2'))
    assert.equal((await runCli(['build', profile.path, '--out', join(profile.dir, 'unlocked')])).code, 0)
    const result = await runCli(['build', profile.path, '--out', join(profile.dir, 'relocked'), '--locked'])
    assert.equal(result.code, 3, result.stderr)
    assert.match(result.stderr, /core-busybox.*is not trusted: 1 of the 2 signers .*profile\.lock\.json recorded still count, 2 needed/)
    await rm(lookaside, {recursive: true, force: true})
  })

  describe('registry world: skopeo copy --sign-by, then standalone-sign', () => {
    let registry: Awaited<ReturnType<typeof startRegistry>>
    let staging: string
    const names = ['core-filesystem', 'core-busybox', 'user-linux-generic']

    before(async () => {
      registry = await startRegistry()
      staging = await mkdtemp(join(tmpdir(), 'stagex-staging-'))
      for (const name of names) {
        const digest = await pushSigned(registry, signing, name, signing.maintainers[0]!.fingerprint, staging)
        assert.equal(digest, signing.world.packages[name]!.manifestDigest)
        await sign(signing.maintainers[1]!, join(signatureFolder(staging, name, digest), 'signature-2'), name)
      }
    })
    after(async () => {
      await registry?.dispose()
      await rm(staging, {recursive: true, force: true})
    })

    async function registryProfile(lookaside: string) {
      const profile = await profileWith({lookaside})
      await writeFile(profile.path, (await readFile(profile.path, 'utf8')).replace(/^source: .*\n/m, 'registry: docker.io/stagex\n'))
      return profile
    }

    it('skopeo copy --sign-by wrote signature-1 for the manifest digest; pull verifies 2 of 3 through a mirror', async () => {
      const digest = busybox().manifestDigest
      assert.ok((await readdir(signatureFolder(staging, 'core-busybox', digest))).includes('signature-1'))
      const server = await serveLookaside(staging)
      try {
        const profile = await registryProfile(server.url)
        const store = join(profile.dir, 'store')
        const result = await runCli(['pull', profile.path, '--mirror', `${registry.host}/stagex`, '--store', store, '--json'])
        assert.equal(result.code, 0, result.stderr)
        const pulled = JSON.parse(result.stdout)
        assert.equal(pulled.trust, 'verified')
        for (const image of pulled.images) assert.equal(image.signers.length, 2)
      } finally {
        await server.close()
      }
    })

    it('a lookaside answering 500 fails the pull (exit 7) before any layer enters the store', async () => {
      const server = await serveLookaside(staging, () => 500)
      try {
        const profile = await registryProfile(server.url)
        const store = join(profile.dir, 'store')
        const result = await runCli(['pull', profile.path, '--mirror', `${registry.host}/stagex`, '--store', store])
        assert.equal(result.code, 7, result.stderr)
        assert.match(result.stderr, /is not trusted: lookaside answered HTTP 500/)
        const blobs = Object.keys(await snapshot(join(store, 'blobs')))
        for (const layer of busybox().layers) assert.ok(!blobs.some((b) => b.endsWith(layer.slice(7))), `layer ${layer} is not in the store`)
      } finally {
        await server.close()
      }
    })
  })
})
