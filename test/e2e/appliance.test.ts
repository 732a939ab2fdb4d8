// Appliances others can verify, end to end against Debian's docker-registry on loopback: one build
// pushed as an OCI artifact, signed by maintainer 1, reproduced elsewhere (other TZ, locale, umask,
// HOME and store) and signed by maintainer 2, verified 2 of 3, skopeo checking our signatures; an
// edited recipe and an altered ESP named by reproduce and diff; an altered layer refused by pull.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {cp, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {promisify} from 'node:util'
import * as openpgp from 'openpgp'
import {ociDir} from '../../scripts/world/build-fixtures.js'
import {type Registry, startRegistry} from '../../scripts/world/registry.js'
import {ensureSigningWorld, type SigningWorld, stopGpgAgent} from '../../scripts/world/signing.js'
import {readFatEntries} from '../../src/formats/fat32-reader.js'
import {build} from '../../src/pipeline/pipeline.js'
import {profileVariant, REPO} from '../helpers/cli.js'

const execFileAsync = promisify(execFile)

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** The CLI from the TypeScript sources, with its own environment and umask. */
async function cli(args: string[], env: NodeJS.ProcessEnv = process.env, umask = '022'): Promise<Run> {
  const command = `umask ${umask} && exec "$0" "$@"`
  try {
    const {stdout, stderr} = await execFileAsync('sh', ['-c', command, process.execPath, '--import', 'tsx', join(REPO, 'test/helpers/run-command-from-source.ts'), ...args], {
      cwd: REPO,
      env,
      maxBuffer: 16 << 20,
    })
    return {code: 0, stdout, stderr}
  } catch (error) {
    const e = error as {code: number; stdout: string; stderr: string}
    return {code: e.code, stdout: e.stdout, stderr: e.stderr}
  }
}

describe('e2e: appliances (push, sign, reproduce, verify, diff)', function () {
  this.timeout(300_000)
  let signing: SigningWorld
  let registry: Registry
  let work: string
  let out: string
  let ref: string
  let digest: string
  let sigs: string
  /** A private copy of the world's GNUPGHOME: its agent is ours to stop, whatever runs beside us. */
  let gnupgHome: string
  const keys: string[] = []
  const source = `oci:${ociDir()}`

  before(async () => {
    signing = await ensureSigningWorld()
    registry = await startRegistry()
    work = await mkdtemp(join(tmpdir(), 'stagex-e2e-appliance-'))
    await writeFile(join(work, 'motd'), 'built from a record\n')
    // minimal, with an ESP (UKI loader) and one files: source that reaches the initramfs.
    const profile = await profileVariant('minimal', work, 'appliance', (text) =>
      text
        .replace('outputs: [kernel, initramfs, rootfs-tar]', 'outputs: [kernel, initramfs, rootfs-tar, esp]\nboot:\n  loader: uki\n  stub: user-systemd-stub')
        .replace('files:\n', `files:\n  - path: /etc/motd\n    source: ${join(work, 'motd')}\n`),
    )
    out = join(work, 'out-a')
    await build({profilePath: profile, outDir: out})
    ref = `${registry.host}/appliances/minimal:1.0`
    gnupgHome = join(work, 'gnupg')
    await cp(signing.gnupgHome, gnupgHome, {recursive: true, filter: (from) => !basename(from).startsWith('S.')})
    // Maintainer 1's key protected by a passphrase (read from a file); maintainer 2's (a signing subkey) not.
    for (const [i, m] of signing.maintainers.slice(0, 2).entries()) {
      const {stdout} = await execFileAsync('gpg', ['--homedir', gnupgHome, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--armor', '--export-secret-keys', m.fingerprint])
      let armored = stdout
      if (i === 0) {
        const key = await openpgp.readPrivateKey({armoredKey: stdout})
        armored = (await openpgp.encryptKey({privateKey: key, passphrase: 'maintainer one'})).armor()
        await writeFile(join(work, 'passphrase'), 'maintainer one\n')
      }
      keys.push(join(work, `key-${i + 1}.asc`))
      await writeFile(keys[i]!, armored)
    }
    await stopGpgAgent(gnupgHome)
    sigs = join(work, 'sigs')
  })
  after(async () => {
    if (gnupgHome) await stopGpgAgent(gnupgHome)
    await registry?.dispose()
    if (work) await rm(work, {recursive: true, force: true})
  })

  it('the same outputs pushed from two folders give the same manifest digest, and diff finds them identical', async () => {
    const pushed = await cli(['push', out, ref, '--json'])
    assert.equal(pushed.code, 0, pushed.stderr + pushed.stdout)
    digest = JSON.parse(pushed.stdout).manifestDigest
    const copy = join(work, 'out-copy')
    await cp(out, copy, {recursive: true})
    const again = await cli(['push', copy, `${registry.host}/elsewhere/minimal:other`, '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(JSON.parse(again.stdout).manifestDigest, digest)
    const manifest = JSON.parse(await (await fetch(`${registry.url}/v2/appliances/minimal/manifests/1.0`, {headers: {accept: 'application/vnd.oci.image.manifest.v1+json'}})).text())
    assert.equal(manifest.artifactType, 'application/vnd.stagex-image.appliance.v1')
    assert.equal(manifest.config.mediaType, 'application/vnd.stagex-image.build-record.v1+json')
    assert.deepEqual(manifest.layers.map((l: {annotations: Record<string, string>}) => l.annotations['org.opencontainers.image.title']), ['vmlinuz', 'initramfs.cpio.gz', 'rootfs.tar', 'esp.img', 'sbom.spdx.json'])
    assert.equal(manifest.annotations['org.opencontainers.image.created'], '1970-01-01T00:00:01Z')
    const same = await cli(['diff', out, copy])
    assert.equal(same.code, 0, same.stderr)
  })

  it('sign (key 1), reproduce --sign key 2 elsewhere: exit 0 and a second signature; verify --threshold 2 passes, with one signature exits 3; skopeo accepts both', async () => {
    const locked = await cli(['sign', ref, '--key', keys[0]!, '--lookaside-dir', sigs])
    assert.equal(locked.code, 2, locked.stderr)
    assert.match(locked.stderr, /is protected: give its passphrase with --passphrase-file FILE or \$STAGEX_SIGN_PASSPHRASE/)
    const signed = await cli(['sign', ref, '--key', keys[0]!, '--passphrase-file', join(work, 'passphrase'), '--lookaside-dir', sigs, '--json'])
    assert.equal(signed.code, 0, signed.stderr + signed.stdout)
    const home = join(work, 'home')
    await mkdir(join(home, 'tmp'), {recursive: true})
    // Another work folder (TMPDIR), TZ, locale, umask, HOME and store; a SOURCE_DATE_EPOCH the record's overrides.
    const env = {...process.env, TMPDIR: join(home, 'tmp'), TZ: 'Pacific/Kiritimati', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8', HOME: home, XDG_CACHE_HOME: join(home, '.cache'), SOURCE_DATE_EPOCH: '99999'}
    const args = ['reproduce', ref, '--source', source, '--lookaside', signing.lookasideUrl, '--store', join(work, 'store-b'), '--sign', keys[1]!, '--lookaside-dir', sigs, '--json']
    const reproduced = await cli(args, env, '077')
    assert.equal(reproduced.code, 0, reproduced.stderr + reproduced.stdout)
    const result = JSON.parse(reproduced.stdout)
    assert.equal(result.identical, true)
    assert.ok(result.stages.some((s: {stage: string}) => s.stage === 'initramfs'))
    assert.equal(result.signature.signature, join(sigs, `appliances/minimal@sha256=${digest.slice(7)}`, 'signature-2'))

    // Maintainer 1 again (passphrase from the environment): signature-3, and the same key counts once.
    const again = await cli(['sign', ref, '--key', keys[0]!, '--lookaside-dir', sigs], {...process.env, STAGEX_SIGN_PASSPHRASE: 'maintainer one'})
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /signature-3$/m)

    const verify = (lookaside: string) => cli(['verify', ref, '--keyring', signing.keyring, '--threshold', '2', '--lookaside', `file://${lookaside}`, '--json'])
    const both = await verify(sigs)
    assert.equal(both.code, 0, both.stderr + both.stdout)
    assert.deepEqual(JSON.parse(both.stdout).signers.map((s: {fingerprint: string}) => s.fingerprint), signing.maintainers.slice(0, 2).map((m) => m.fingerprint))
    const one = join(work, 'sigs-one')
    await cp(sigs, one, {recursive: true})
    await rm(join(one, `appliances/minimal@sha256=${digest.slice(7)}`, 'signature-2'))
    const refused = await verify(one)
    assert.equal(refused.code, 3, refused.stderr + refused.stdout)
    assert.equal(JSON.parse(refused.stdout).error.distinctSigners, 1, 'signature-1 and signature-3 are one signer')

    const manifestPath = join(work, 'manifest.json')
    await writeFile(manifestPath, Buffer.from(await (await fetch(`${registry.url}/v2/appliances/minimal/manifests/${digest}`, {headers: {accept: 'application/vnd.oci.image.manifest.v1+json'}})).arrayBuffer()))
    try {
      for (const [i, m] of signing.maintainers.slice(0, 2).entries()) {
        const {stdout} = await execFileAsync('skopeo', ['standalone-verify', manifestPath, ref, m.signingFingerprint, join(sigs, `appliances/minimal@sha256=${digest.slice(7)}`, `signature-${i + 1}`)], {
          env: {...process.env, GNUPGHOME: gnupgHome},
        })
        assert.match(stdout, new RegExp(`Signature verified.*${digest}`))
      }
    } finally {
      await stopGpgAgent(gnupgHome)
    }
  })

  it('one byte changed in a file of a copy of the recipe: reproduce exits 8 naming the initramfs stage and the cpio member', async () => {
    const record = JSON.parse(await readFile(join(out, 'build.json'), 'utf8'))
    const motd = record.recipe.files.find((f: {field: string}) => f.field.endsWith('.source'))
    const bytes = Buffer.from(motd.contents, 'base64')
    bytes[0] ^= 0x20
    motd.contents = bytes.toString('base64')
    // In a copy of the output folder: the original outputs beside the edited record are compared entry by entry.
    await cp(out, join(work, 'edited'), {recursive: true})
    const copy = join(work, 'edited', 'build.json')
    await writeFile(copy, JSON.stringify(record))
    const run = await cli(['reproduce', copy, '--source', source, '--lookaside', signing.lookasideUrl, '--json'])
    assert.equal(run.code, 8, run.stderr + run.stdout)
    const error = JSON.parse(run.stdout).error
    assert.equal(error.firstStage, 'shape')
    const initramfs = error.stages.find((s: {stage: string}) => s.stage === 'initramfs')
    assert.equal(initramfs.same, false)
    assert.match(error.message, /initramfs: cpio member etc\/motd bytes/)
  })

  it('a changed FAT timestamp in a copied ESP: diff exits 8 naming it as a FAT field of that file', async () => {
    const copy = join(work, 'out-fat')
    await cp(out, copy, {recursive: true})
    const esp = await readFile(join(copy, 'esp.img'))
    const entry = readFatEntries(esp).entries.find((e) => e.path === 'EFI/BOOT/BOOTX64.EFI')!
    esp.writeUInt16LE(esp.readUInt16LE(entry.entryOffset + 22) + 1, entry.entryOffset + 22)
    await writeFile(join(copy, 'esp.img'), esp)
    const run = await cli(['diff', out, copy, '--json'])
    assert.equal(run.code, 8, run.stderr + run.stdout)
    const error = JSON.parse(run.stdout).error
    const row = error.stages.find((s: {stage: string}) => s.stage === 'esp')
    assert.deepEqual(row.entries.map((e: {entry: string; field: string}) => [e.entry, e.field]), [['FAT file EFI/BOOT/BOOTX64.EFI', 'writeTime']])
  })

  it('pull --to DIR fetches the appliance; a layer altered in the registry storage: exit 4 naming its digest', async () => {
    const fetched = await cli(['pull', ref, '--to', join(work, 'pulled'), '--json'])
    assert.equal(fetched.code, 0, fetched.stderr + fetched.stdout)
    assert.equal((await cli(['diff', out, join(work, 'pulled')])).code, 0)
    const byRef = await cli(['diff', ref, out])
    assert.equal(byRef.code, 0, byRef.stderr)
    const record = JSON.parse(await readFile(join(out, 'build.json'), 'utf8'))
    const layer = `sha256:${record.outputs.initramfs.sha256}`
    const path = registry.blobDataPath(layer)
    const original = await readFile(path)
    const altered = Buffer.from(original)
    altered[altered.length >> 1] ^= 0xff
    await writeFile(path, altered)
    try {
      const run = await cli(['pull', ref, '--to', join(work, 'pulled-bad')])
      assert.equal(run.code, 4, run.stderr + run.stdout)
      assert.match(run.stderr, new RegExp(layer))
    } finally {
      await writeFile(path, original)
    }
  })
})
