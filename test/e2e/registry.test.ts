// The fetch stage end to end against a real registry (Debian's docker-registry on loopback):
// pull, offline builds, OCI layout export, lock and --locked, corrupt blobs, a registry that dies.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {ensureWorld, type World} from '../../scripts/world/build-fixtures.js'
import {type Registry, pushFixtures, pushLayout, startRegistry} from '../../scripts/world/registry.js'
import type {FetchEvent} from '../../src/pipeline/resolve.js'
import {build} from '../../src/pipeline/pipeline.js'
import {pull} from '../../src/pipeline/pull.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const NEEDED = ['core-filesystem', 'core-busybox', 'user-linux-generic']
const runFile = promisify(execFile)

interface CliResult {
  code: number
  stdout: string
  stderr: string
}

async function cli(args: string[]): Promise<CliResult> {
  try {
    const {stdout, stderr} = await runFile('node', ['bin/run.js', ...args], {cwd: REPO})
    return {code: 0, stdout, stderr}
  } catch (error) {
    const e = error as {code: number; stdout: string; stderr: string}
    return {code: e.code, stdout: e.stdout, stderr: e.stderr}
  }
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** Every blob in the store holds the content its name says, and no download is left half done. */
async function assertStoreConsistent(store: string): Promise<number> {
  const names = await readdir(join(store, 'blobs', 'sha256'))
  for (const name of names) assert.equal(sha256(await readFile(join(store, 'blobs', 'sha256', name))), name, `store blob ${name} holds other content`)
  assert.deepEqual(await readdir(join(store, 'tmp')), [], 'temp files left in the store')
  return names.length
}

async function outputHashes(dir: string, files = ['vmlinuz', 'initramfs.cpio.gz']): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {}
  for (const file of files) hashes[file] = sha256(await readFile(join(dir, file)))
  return hashes
}

describe('e2e: registry pulls, the store, lock and offline builds', function () {
  this.timeout(600_000)
  let world: World
  let registry: Registry
  let work: string
  let mirror: string
  /** Kernel and initramfs of the same appliance built from the fixture OCI layouts. */
  let reference: Record<string, string>
  /** A copy of profiles/minimal-registry.yaml in a temp folder, so that its lock file lands there. */
  let profile: string

  before(async () => {
    world = await ensureWorld()
    work = await mkdtemp(join(tmpdir(), 'stagex-e2e-registry-'))
    registry = await startRegistry()
    mirror = `${registry.host}/stagex`
    await pushFixtures(registry, {names: NEEDED})
    await build({profilePath: join(REPO, 'profiles', 'minimal.yaml'), outDir: join(work, 'reference')})
    reference = await outputHashes(join(work, 'reference'))
    // These tests are about fetching (the trust stage has test/e2e/trust.test.ts): they push images no
    // maintainer signed (a v2s2 conversion, a moved tag), so their copy of the profile has no trust:.
    const text = (await readFile(join(REPO, 'profiles', 'minimal-registry.yaml'), 'utf8')).replace(/^trust:\n(?: {2}.*\n)+/m, '')
    assert.doesNotMatch(text, /^trust:/m)
    profile = join(work, 'minimal-registry.yaml')
    await writeFile(profile, text.replace('../kernel/initramfs-boot.config', join(REPO, 'kernel', 'initramfs-boot.config')).replaceAll('../.cache/', `${REPO}/.cache/`))
  })
  after(async () => {
    await registry?.dispose()
    if (work) await rm(work, {recursive: true, force: true})
  })

  it('pulls by tag into a cold store and builds the same bytes as from the OCI layouts', async () => {
    const store = join(work, 'store-a')
    const events: FetchEvent[] = []
    const pulled = await pull({profilePath: profile, mirror, store, onFetch: (e) => events.push(e)})
    assert.deepEqual(
      pulled.images.map((i) => [i.identity, i.manifestDigest]),
      NEEDED.map((n) => [`docker.io/stagex/${n}`, world.packages[n]!.manifestDigest]),
    )
    assert.equal(events.filter((e) => e.type === 'image-fetched').length, 3)
    const downloaded = events.reduce((sum, e) => sum + (e.type === 'bytes' ? e.count : 0), 0)
    assert.ok(downloaded > 8_000_000, `downloaded ${downloaded} bytes`)
    await assertStoreConsistent(store)

    const again: FetchEvent[] = []
    await pull({profilePath: profile, mirror, store, onFetch: (e) => again.push(e)})
    assert.equal(again.filter((e) => e.type === 'bytes').length, 0, 'a warm store downloads nothing')

    const result = await build({profilePath: profile, mirror, store, outDir: join(work, 'out-a')})
    assert.deepEqual(await outputHashes(join(work, 'out-a')), reference)
    assert.deepEqual(
      result.record.inputs.map((i) => i.identity),
      NEEDED.map((n) => `docker.io/stagex/${n}`),
      'a mirror does not change identity',
    )
  })

  it('pull --to oci:DIR; with the registry stopped: build --offline and build from that folder give the same bytes', async () => {
    const store = join(work, 'store-a')
    const carry = join(work, 'carry')
    const exported = await cli(['pull', profile, '--mirror', mirror, '--store', store, '--to', `oci:${carry}`, '--json'])
    assert.equal(exported.code, 0, exported.stderr + exported.stdout)
    assert.equal(JSON.parse(exported.stdout).exported, carry)
    const online = await outputHashes(join(work, 'out-a'), ['vmlinuz', 'initramfs.cpio.gz', 'build.json'])
    await registry.stop()
    try {
      const offline = await cli(['build', profile, '--offline', '--store', store, '--out', join(work, 'out-offline'), '--json'])
      assert.equal(offline.code, 0, offline.stderr + offline.stdout)
      assert.deepEqual(await outputHashes(join(work, 'out-offline'), ['vmlinuz', 'initramfs.cpio.gz', 'build.json']), online)

      const fromFolder = await cli(['build', profile, '--source', `oci:${carry}`, '--out', join(work, 'out-carry'), '--json'])
      assert.equal(fromFolder.code, 0, fromFolder.stderr + fromFolder.stdout)
      assert.deepEqual(await outputHashes(join(work, 'out-carry'), ['vmlinuz', 'initramfs.cpio.gz', 'build.json']), online)

      const cold = await cli(['build', profile, '--offline', '--store', join(work, 'empty-store'), '--out', join(work, 'out-cold')])
      assert.equal(cold.code, 2)
      assert.match(cold.stderr, /never resolved into this store; pull it first/)
    } finally {
      await registry.start()
    }
  })

  it('two pulls of the same profile into one store at the same time both succeed', async () => {
    const store = join(work, 'store-concurrent')
    const args = ['pull', profile, '--mirror', mirror, '--store', store, '--json']
    const [first, second] = await Promise.all([cli(args), cli(args)])
    assert.equal(first.code, 0, first.stderr)
    assert.equal(second.code, 0, second.stderr)
    assert.deepEqual(JSON.parse(first.stdout).images, JSON.parse(second.stdout).images)
    assert.ok((await assertStoreConsistent(store)) >= 9)
  })

  it('a blob altered in the registry: the pull exits 4 naming the digest, and the store keeps no bad blob', async () => {
    const layer = world.packages['core-busybox']!.layers[1]!
    const path = registry.blobDataPath(layer)
    const original = await readFile(path)
    const altered = Buffer.from(original)
    altered[altered.length >> 1] ^= 0xff
    await writeFile(path, altered)
    try {
      const store = join(work, 'store-altered')
      const result = await cli(['pull', profile, '--mirror', mirror, '--store', store])
      assert.equal(result.code, 4, result.stderr)
      assert.match(result.stderr, new RegExp(`digest mismatch: expected ${layer}`))
      assert.match(result.stderr, /package "core-busybox"/)
      await assertStoreConsistent(store)
      assert.ok(!(await readdir(join(store, 'blobs', 'sha256'))).includes(layer.slice(7)))
    } finally {
      await writeFile(path, original)
    }
  })

  it('the registry stopped in the middle of a pull: retries, a clear error, a consistent store; the next pull completes', async () => {
    const store = join(work, 'store-interrupted')
    let stopping: Promise<void> | undefined
    await assert.rejects(
      pull({
        profilePath: profile,
        mirror,
        store,
        jobs: 1,
        retry: {attempts: 3, baseDelayMs: 100, maxDelayMs: 400},
        onFetch: (event) => {
          if (event.type === 'bytes' && !stopping) stopping = registry.stop()
        },
      }),
      (error: Error & {exitCode?: number}) => {
        assert.equal(error.exitCode, 7, 'a registry that went away is worth a retry: exit 7')
        assert.match(error.message, /(unreachable \(ECONNREFUSED\) after 3 attempts|failed 3 times)/)
        return true
      },
    )
    await stopping
    await assertStoreConsistent(store)
    await registry.start()
    const resumed = await pull({profilePath: profile, mirror, store})
    assert.equal(resumed.images.length, 3)
    assert.ok((await assertStoreConsistent(store)) >= 9)
  })

  it('a Docker v2s2 image pushed with skopeo --format v2s2 pulls and builds the same bytes', async () => {
    await pushFixtures(registry, {names: NEEDED, namespace: 'v2s2', format: 'v2s2'})
    const result = await build({profilePath: profile, mirror: `${registry.host}/v2s2`, store: join(work, 'store-v2s2'), outDir: join(work, 'out-v2s2')})
    assert.deepEqual(await outputHashes(join(work, 'out-v2s2')), reference)
    assert.ok(result.record.inputs.every((i) => i.indexDigest === undefined))
  })

  it('refuses bad flags with exit 2: a mirror that is no registry, --to that is no oci: folder', async () => {
    const badMirror = await cli(['pull', profile, '--mirror', 'not a host/Stagex', '--store', join(work, 'store-bad')])
    assert.equal(badMirror.code, 2)
    assert.match(badMirror.stderr, /mirror "not a host\/Stagex"/)
    const badTo = await cli(['pull', profile, '--mirror', mirror, '--to', join(work, 'x')])
    assert.equal(badTo.code, 2)
    assert.match(badTo.stderr, /expected oci:DIR/)
  })

  it('lock; build --locked; a tag moved in the registry: build --locked fails naming the package', async () => {
    const store = join(work, 'store-lock')
    const locked = await cli(['lock', profile, '--mirror', mirror, '--store', store, '--json'])
    assert.equal(locked.code, 0, locked.stderr)
    const lockPath = join(work, 'minimal-registry.lock.json')
    const lock = JSON.parse(await readFile(lockPath, 'utf8'))
    assert.deepEqual(lock.packages[1], {
      role: 'package',
      name: 'core-busybox',
      spec: 'core-busybox',
      repository: 'docker.io/stagex/core-busybox',
      tag: 'latest',
      indexDigest: world.packages['core-busybox']!.indexDigest,
      manifestDigest: world.packages['core-busybox']!.manifestDigest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      platform: 'linux/amd64',
      size: lock.packages[1].size,
    })
    const ok = await cli(['build', profile, '--locked', '--mirror', mirror, '--store', store, '--out', join(work, 'out-locked')])
    assert.equal(ok.code, 0, ok.stderr)
    assert.deepEqual(await outputHashes(join(work, 'out-locked')), reference)

    // Move the tag: the same package, pushed again as Docker v2s2, has another digest.
    await pushLayout(registry, `oci:${join(world.oci, 'core-busybox')}:latest`, 'stagex/core-busybox', {format: 'v2s2'})
    try {
      const moved = await cli(['build', profile, '--locked', '--mirror', mirror, '--store', store, '--out', join(work, 'out-moved')])
      assert.equal(moved.code, 3, moved.stderr)
      assert.match(moved.stderr, /package "core-busybox": the tag docker\.io\/stagex\/core-busybox:latest has moved/)

      // Without --locked, the moved tag is followed, but reported.
      const reported = await cli(['build', profile, '--mirror', mirror, '--store', store, '--out', join(work, 'out-moved')])
      assert.equal(reported.code, 0, reported.stderr)
      assert.match(reported.stderr, /warning: docker\.io\/stagex\/core-busybox:latest moved from sha256:/)
    } finally {
      await pushLayout(registry, `oci:${join(world.oci, 'core-busybox')}:latest`, 'stagex/core-busybox')
    }
  })

  it('build --locked refuses a profile that disagrees with its lock, a missing lock and a damaged one (exit 2)', async () => {
    const lockPath = join(work, 'minimal-registry.lock.json')
    const text = await readFile(profile, 'utf8')
    const changed = join(work, 'changed.yaml')
    await writeFile(changed, text.replace('  - core-busybox\n', '  - core-busybox:1.36\n'))
    await writeFile(join(work, 'changed.lock.json'), await readFile(lockPath))
    const disagree = await cli(['build', changed, '--locked', '--mirror', mirror, '--store', join(work, 'store-lock'), '--out', join(work, 'out-x')])
    assert.equal(disagree.code, 2)
    assert.match(disagree.stderr, /changed\.yaml:\d+:\d+: the profile and .*changed\.lock\.json disagree: the profile names "core-busybox:1\.36" here/)

    await rm(join(work, 'changed.lock.json'))
    const missing = await cli(['build', changed, '--locked', '--mirror', mirror, '--out', join(work, 'out-x')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /no lock file; write it with `stagex-image lock PROFILE`/)

    await writeFile(join(work, 'changed.lock.json'), '{"lockVersion": 1, "profile": "minimal", "packages": [{}]}')
    const damaged = await cli(['build', changed, '--locked', '--mirror', mirror, '--out', join(work, 'out-x')])
    assert.equal(damaged.code, 2)
    assert.match(damaged.stderr, /not a valid lock file: packages\[0\]\.role is missing/)
  })
})
