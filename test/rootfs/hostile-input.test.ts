// Inputs that used to give a wrong tree with exit 0: owners only in PAX records, names that are not
// UTF-8, profile paths naming the root, a config of the wrong media type, an empty kernel fragment.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {mkdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {isStagexError} from '../../src/errors.js'
import {writeTar} from '../../src/formats/tar.js'
import {checkKernelConfig} from '../../src/kernel/package.js'
import {parseManifest} from '../../src/oci/manifest.js'
import {MediaType} from '../../src/oci/media-types.js'
import {parseProfile} from '../../src/profile/load.js'
import {applyLayer, readLayer} from '../../src/rootfs/layer.js'
import {shapeTree} from '../../src/rootfs/shape.js'
import {createTree, type Tree} from '../../src/rootfs/tree.js'
import {openSpool, type Spool} from '../../src/store/spool.js'

const exitCode = (code: number, pattern: RegExp) => (error: unknown) => {
  assert.ok(isStagexError(error), `expected a typed error, got ${error}`)
  assert.equal(error.exitCode, code, error.message)
  assert.match(error.message, pattern)
  return true
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

describe('rootfs: hostile and odd inputs', () => {
  let dir: string
  let spool: Spool
  let n = 0
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-hostile-'))
    spool = await openSpool(join(dir, 'spool'))
  })
  after(() => rm(dir, {recursive: true, force: true}))
  const apply = async (tree: Tree, tar: Uint8Array) => applyLayer(tree, await readLayer(Readable.from([tar]), spool.file(`l${++n}.tar`), 'test layer'))

  it('keeps owners that only PAX records carry (GNU tar --format=posix): a setuid file of 3000000:3000000 is not root', async () => {
    const src = join(dir, 'pax-src')
    mkdirSync(src)
    writeFileSync(join(src, 'suid'), 'x')
    execFileSync('chmod', ['4755', join(src, 'suid')])
    const tar = execFileSync('tar', ['--format=posix', '--owner=3000000', '--group=3000000', '--numeric-owner', '-C', src, '-cf', '-', 'suid'])
    const tree = createTree()
    await apply(tree, tar)
    const inode = tree.entries.get('suid')!
    assert.deepEqual([inode.uid, inode.gid, inode.mode], [3000000, 3000000, 0o4755])
  })

  it('refuses an owner that a cpio archive cannot carry (exit 4), at flatten', async () => {
    const tar = await collect(writeTar([{name: 'big', type: 'file', mode: 0o644, uid: 2 ** 33, gid: 0, mtime: 0, size: 0}]))
    await assert.rejects(apply(createTree(), tar), exitCode(4, /uid 8589934592 does not fit a cpio archive/))
  })

  it('refuses names that are not UTF-8 (exit 4), naming the bytes in hex, rather than merging two of them', async () => {
    const src = join(dir, 'bytes-src')
    mkdirSync(src)
    writeFileSync(Buffer.concat([Buffer.from(`${src}/bad`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'one')
    writeFileSync(Buffer.concat([Buffer.from(`${src}/bad`), Buffer.from([0xfe, 0xff]), Buffer.from('.txt')]), 'two')
    const tar = execFileSync('tar', ['--format=gnu', '-C', src, '-cf', '-', '.'])
    await assert.rejects(apply(createTree(), tar), exitCode(4, /not UTF-8 \(bytes [0-9a-f]*(fffe|feff)[0-9a-f]*\)/))
  })

  for (const path of ['//', '/.', '/./']) {
    it(`refuses a profile file whose path (${JSON.stringify(path)}) names the image root (exit 2)`, async () => {
      const profilePath = join(dir, `root-${n++}.yaml`)
      const text = `name: t\npackages: [core-busybox]\nkernel: {package: user-linux-generic}\nfiles:\n  - {path: "${path}", contents: "x"}\n`
      await writeFile(profilePath, text)
      const profile = parseProfile(await readFile(profilePath), profilePath, 't.yaml')
      await assert.rejects(shapeTree(createTree(), profile, spool), exitCode(2, /names the image root/))
    })
  }

  it('refuses a manifest whose config is not an image config (exit 4)', () => {
    const manifest = (configType: string) =>
      Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.ociManifest, config: {mediaType: configType, digest: `sha256:${'a'.repeat(64)}`, size: 2}, layers: []}))
    assert.equal(parseManifest(manifest(MediaType.ociConfig), 'm').config.mediaType, MediaType.ociConfig)
    assert.throws(() => parseManifest(manifest('application/vnd.oci.image.layer.v1.tar'), 'm'), exitCode(4, /is not an image config/))
  })

  it('refuses a kernel config fragment that names no option (exit 2)', async () => {
    const fragment = join(dir, 'empty.config')
    await writeFile(fragment, '# just a comment\nNOT_A_CONFIG=y\n')
    await assert.rejects(checkKernelConfig('CONFIG_EFI=y\n', fragment, 'p.yaml:3:3'), exitCode(2, /names no option/))
  })
})
