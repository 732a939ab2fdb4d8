// Each stage of src/pipeline/pipeline.ts driven from its named input, on the fixture world's images
// (scripts/world) and the example profile: what each stage gives, and that its sha256 is its own.
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {isStagexError} from '../../src/errors.js'
import {plannedOutputs, writeImageOutputs} from '../../src/image/outputs.js'
import {fetchStage} from '../../src/pipeline/fetch.js'
import {flattenStage, kernelStage, loadStage, type Loaded, resolveAndTrust, shapeStage} from '../../src/pipeline/pipeline.js'
import {openStaging, publish, recordStage} from '../../src/pipeline/record.js'
import {profileRequests, resolveStage} from '../../src/pipeline/resolve.js'
import {trustStage} from '../../src/pipeline/trust.js'
import {profileTrustPolicy} from '../../src/trust/stage.js'
import {openContentReader, openSpool} from '../../src/store/spool.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MINIMAL = join(ROOT, 'profiles/minimal.yaml')
const quiet = {progress: () => {}, warn: () => {}}

describe('pipeline stages, each from its named input', function () {
  this.timeout(120_000)
  let work: string
  let loaded: Loaded
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagex-stages-'))
    loaded = await loadStage({profilePath: MINIMAL})
  })
  after(() => rm(work, {recursive: true, force: true}))

  /** The stages up to kernel, in a spool of their own (the caller closes the reader). */
  async function upToKernel(name: string, sourceDateEpoch = loaded.sourceDateEpoch) {
    const fetched = await fetchStage(await resolveAndTrust(loaded, {...quiet, profilePath: MINIMAL}))
    const spool = await openSpool(join(work, `spool-${name}`))
    const reader = openContentReader()
    const flattened = await flattenStage(fetched, spool, sourceDateEpoch)
    const shaped = await shapeStage(flattened, loaded, spool)
    const kernel = await kernelStage(fetched, loaded, spool, reader)
    return {fetched, spool, reader, flattened, shaped, kernel}
  }

  it('load: the profile and SOURCE_DATE_EPOCH (flag > environment > profile)', async () => {
    assert.equal(loaded.profile.name, 'minimal')
    assert.equal(loaded.sourceDateEpoch, 1)
    assert.equal((await loadStage({profilePath: MINIMAL, env: {SOURCE_DATE_EPOCH: '7'}})).sourceDateEpoch, 7)
    assert.equal((await loadStage({profilePath: MINIMAL, sourceDateEpoch: 9, env: {SOURCE_DATE_EPOCH: '7'}})).sourceDateEpoch, 9)
  })

  it('resolve: every image to its manifest, with a sha256 of what it resolved (no layer read)', async () => {
    const resolved = await resolveStage(profileRequests(loaded.profile, {}), {})
    assert.deepEqual(resolved.packages.map((p) => `${p.request.role}:${p.request.name}`), ['package:core-filesystem', 'package:core-busybox', 'kernel:user-linux-generic'])
    for (const p of resolved.packages) assert.match(p.image.manifestDigest, /^sha256:[0-9a-f]{64}$/)
    const again = await resolveStage(profileRequests(loaded.profile, {}), {})
    assert.equal(again.sha256, resolved.sha256)
    const fewer = await resolveStage(profileRequests(loaded.profile, {}, ['package']), {})
    assert.notEqual(fewer.sha256, resolved.sha256)
  })

  it('trust: counted signers per image under the profile policy; without one, unverified and said so', async () => {
    const resolved = await resolveStage(profileRequests(loaded.profile, {}), {})
    const trusted = await trustStage(resolved, profileTrustPolicy(loaded.profile), quiet)
    assert.equal(trusted.result.mode, 'verified')
    for (const p of resolved.packages) assert.equal(trusted.signersOf(p.request.identity, p.image.manifestDigest).length, 2)
    const warnings: string[] = []
    const unverified = await trustStage(resolved, undefined, {warn: (w) => warnings.push(w)})
    assert.equal(unverified.result.mode, 'none')
    assert.match(warnings.join('\n'), /NOT verified/)
    assert.notEqual(unverified.sha256, trusted.sha256)
    const strict = {...profileTrustPolicy(loaded.profile)!, settings: {...loaded.profile.trust!, threshold: 3}}
    await assert.rejects(trustStage(resolved, strict, quiet), (e: unknown) => isStagexError(e) && e.exitCode === 3 && /2 .*3 needed|fewer|3 needed/.test(e.message))
  })

  it('fetch: takes only a trusted input, gives every image as Layers with a file and a diffId', async () => {
    const fetched = await fetchStage(await resolveAndTrust(loaded, {...quiet, profilePath: MINIMAL}))
    for (const image of fetched.images) {
      assert.ok(image.layers.length > 0)
      for (const layer of image.layers) {
        assert.ok(existsSync(layer.file), layer.file)
        assert.match(layer.diffId, /^sha256:[0-9a-f]{64}$/)
      }
    }
    assert.match(fetched.sha256, /^[0-9a-f]{64}$/)
  })

  it('flatten, shape, kernel: the tree, its hashes before and after shaping, the kernel files', async () => {
    const fetched = await fetchStage(await resolveAndTrust(loaded, {...quiet, profilePath: MINIMAL}))
    const spool = await openSpool(join(work, 'spool-a'))
    const reader = openContentReader()
    try {
      const flattened = await flattenStage(fetched, spool, loaded.sourceDateEpoch)
      assert.equal(flattened.tree.entries.get('usr/bin/busybox')?.type, 'file')
      assert.equal(flattened.tree.entries.has('usr/bin/appliance-init'), false)
      const flatSha = flattened.sha256
      const shaped = await shapeStage(flattened, loaded, spool)
      assert.equal(shaped.tree.entries.get('init')?.target, '/usr/bin/appliance-init')
      assert.equal(shaped.tree.entries.get('dev/console')?.type, 'char')
      assert.equal(reader.bytes(shaped.tree.entries.get('etc/hostname')!.content!).toString(), 'minimal\n')
      assert.notEqual(shaped.sha256, flatSha)
      // The same input gives the same hashes in another spool.
      const spoolB = await openSpool(join(work, 'spool-b'))
      assert.equal((await flattenStage(fetched, spoolB, loaded.sourceDateEpoch)).sha256, flatSha)
      const kernel = (await kernelStage(fetched, loaded, spool, reader))!
      assert.equal(kernel.package.request.name, 'user-linux-generic')
      assert.ok(kernel.files.image.size > 1_000_000)
      assert.ok(kernel.check.required > 0)
      assert.deepEqual(kernel.check.mismatches, [])
    } finally {
      reader.close()
    }
  })

  it('outputs: only what the profile asks lands in the out folder; what the asked ones need stays in the work folder', async () => {
    const {reader, shaped, kernel} = await upToKernel('c')
    try {
      const profile = {...loaded.profile, outputs: ['rootfs-tar' as const]}
      assert.deepEqual([...plannedOutputs(profile)], ['rootfs-tar'])
      const outDir = join(work, 'out-c')
      const workDir = join(work, 'work-c')
      await mkdir(outDir)
      await mkdir(workDir)
      const image = await writeImageOutputs({profile, tree: shaped.tree, kernel: {files: kernel!.files, sha256: kernel!.sha256.image, cmdline: kernel!.cmdline}, outDir, workDir, sourceDateEpoch: 1, reader})
      assert.deepEqual(await readdir(outDir), ['rootfs.tar'])
      assert.deepEqual(image.outputs.map((o) => o.kind), ['rootfs-tar'])
      assert.equal(image.stages.initramfs, undefined)
    } finally {
      reader.close()
    }
  })

  it('record and publish: build.json lists exactly the files beside it; what an earlier build listed and this one did not write is removed', async () => {
    const {fetched, spool, reader, flattened, shaped, kernel} = await upToKernel('d', 1)
    try {
      const outDir = join(work, 'out-d')
      await mkdir(outDir)
      // An earlier build wrote a disk this one does not: it must not stay beside the new build.json.
      await writeFile(join(outDir, 'disk.raw'), 'old disk')
      await writeFile(join(outDir, 'build.json'), JSON.stringify({outputs: {disk: {file: 'disk.raw'}, evil: {file: '../escape'}}}))
      const {staging} = await openStaging(outDir)
      const workDir = join(work, 'work-d')
      await mkdir(workDir)
      const image = await writeImageOutputs({profile: loaded.profile, tree: shaped.tree, kernel: {files: kernel!.files, sha256: kernel!.sha256.image, cmdline: kernel!.cmdline}, outDir: staging, workDir, sourceDateEpoch: 1, reader})
      const recorded = await recordStage({loaded, fetched, flattened, shaped, kernel, spool, reader}, image, staging)
      assert.equal(recorded.outputs.at(-1)!.kind, 'record')
      const published = await publish(recorded, outDir)
      await rm(staging, {recursive: true, force: true})
      const record = JSON.parse(await readFile(join(outDir, 'build.json'), 'utf8'))
      const listed = Object.values(record.outputs as Record<string, {file: string}>).map((o) => o.file)
      assert.deepEqual((await readdir(outDir)).sort(), [...listed, 'build.json'].sort())
      assert.ok(!listed.includes('disk.raw'))
      for (const stage of ['resolve', 'trust', 'fetch', 'flatten', 'shape', 'kernel', 'initramfs']) assert.match(record.stages[stage].sha256, /^[0-9a-f]{64}$/, stage)
      assert.equal(published.recordPath, join(outDir, 'build.json'))
    } finally {
      reader.close()
    }
  })

  it('openStaging refuses an --out that is a file before any work (exit 2)', async () => {
    const file = join(work, 'a-file')
    await writeFile(file, 'x')
    await assert.rejects(openStaging(file), (e: unknown) => isStagexError(e) && e.exitCode === 2 && /--out .*not a folder/.test(e.message))
  })
})
