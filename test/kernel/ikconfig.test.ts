// IKCONFIG: the config a kernel carries (src/kernel/ikconfig.ts) and its comparison with
// /linux.config (src/kernel/package.ts). The fixture world's Debian kernel carries none (its config
// says "# CONFIG_IKCONFIG is not set", and it is xz-compressed, which we do not read), so the
// extraction is tested on small bzImage-like blobs made here: a boot protocol header
// (setup_sects, "HdrS", version, payload_offset, payload_length) and a gzip payload (with the
// 4 size bytes the kernel's build appends) holding a fake kernel with the markers inside.
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {gzipSync} from 'node:zlib'
import {bzImagePayload, compressionOf, readIkconfig} from '../../src/kernel/ikconfig.js'
import {checkKernelConfig, describeMismatches} from '../../src/kernel/package.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DEBIAN = join(ROOT, '.cache/world/kernel')

const CONFIG = '#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_CC_VERSION_TEXT="gcc (GCC) 14.2.0"\nCONFIG_IKCONFIG=y\nCONFIG_EFI=y\nCONFIG_EFI_STUB=y\n# CONFIG_WIRELESS is not set\n'

/** Deterministic filler that does not compress to nothing (so the inflated kernel spans many pieces). */
function filler(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** A fake decompressed kernel: code, then kernel/configs.c's "IKCFG_ST" + config.gz + "IKCFG_ED", then more. */
function vmlinux(config: string | undefined, before = 70_000, after = 50_000): Buffer {
  const embedded = config === undefined ? [] : [Buffer.from('IKCFG_ST'), gzipSync(config), Buffer.from('IKCFG_ED')]
  return Buffer.concat([Buffer.from('\x7fELF'), filler(before, 7), ...embedded, filler(after, 11)])
}

/** A bzImage-like file: boot sector + setup sectors with the header, a stub, then the payload and its size bytes. */
function bzImage(payload: Buffer, setupSects = 1, stub = 0x120): Buffer {
  const sectors = setupSects === 0 ? 4 : setupSects
  const setup = Buffer.alloc((sectors + 1) * 512)
  setup[0x1f1] = setupSects
  setup.write('HdrS', 0x202, 'latin1')
  setup.writeUInt16LE(0x020f, 0x206)
  setup.writeUInt32LE(stub, 0x248)
  setup.writeUInt32LE(payload.length, 0x24c)
  return Buffer.concat([setup, Buffer.alloc(stub, 0x90), payload, Buffer.alloc(64)])
}

/** gzip as arch/x86/boot/compressed makes it: the member, then the uncompressed size (size_append). */
function gzipPayload(kernel: Buffer): Buffer {
  const size = Buffer.alloc(4)
  size.writeUInt32LE(kernel.length)
  return Buffer.concat([gzipSync(kernel), size])
}

describe('IKCONFIG: the config inside /bzImage', () => {
  it('finds the boot protocol payload and names its compression by its magic', () => {
    const payload = gzipPayload(vmlinux(CONFIG))
    for (const setupSects of [0, 1, 3]) {
      const image = bzImage(payload, setupSects)
      const place = bzImagePayload(image)!
      assert.equal(place.length, payload.length)
      assert.ok(image.subarray(place.offset, place.offset + place.length).equals(payload), `setup_sects ${setupSects}`)
    }
    assert.equal(compressionOf(payload), 'gzip')
    assert.equal(compressionOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00])), 'xz')
    assert.equal(compressionOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00])), 'zstd')
    assert.equal(compressionOf(Buffer.from([0x02, 0x21, 0x4c, 0x18, 0x00])), 'lz4')
    assert.equal(bzImagePayload(Buffer.alloc(4096)), undefined)
  })

  it('reads the config out of a gzip-compressed kernel, markers wherever the inflated pieces split', async () => {
    // Node inflates in 16 KiB pieces: put IKCFG_ST across a piece boundary, and well inside one.
    for (const before of [16_384 - 4 - 3, 16_384 * 3 - 4 - 7, 100]) {
      const result = await readIkconfig(bzImage(gzipPayload(vmlinux(CONFIG, before))))
      assert.equal(result.kind, 'found', `IKCFG_ST at ${before}`)
      assert.equal(result.kind === 'found' && result.config, CONFIG)
      assert.equal(result.kind === 'found' && result.compression, 'gzip')
    }
    // A gzip header with the optional FNAME and FCOMMENT fields (gzip without -n writes a name).
    const member = gzipSync(vmlinux(CONFIG))
    const named = Buffer.concat([member.subarray(0, 3), Buffer.from([0x18]), member.subarray(4, 10), Buffer.from('vmlinux.bin\0a comment\0'), member.subarray(10)])
    const fromNamed = await readIkconfig(bzImage(Buffer.concat([named, Buffer.alloc(4)])))
    assert.equal(fromNamed.kind === 'found' && fromNamed.config, CONFIG)
    // An uncompressed kernel has the markers as they are.
    const plain = await readIkconfig(vmlinux(CONFIG))
    assert.deepEqual(plain, {kind: 'found', compression: 'none', config: CONFIG})
  })

  it('reports a gzip kernel without markers as carrying no config', async () => {
    const result = await readIkconfig(bzImage(gzipPayload(vmlinux(undefined))))
    assert.equal(result.kind, 'absent')
    assert.match(result.kind === 'absent' ? result.note : '', /no IKCFG_ST/)
  })

  for (const [name, magic] of [
    ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
    ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
    ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ] as const) {
    it(`skips a ${name}-compressed kernel with a note, and the check does not fail for it`, async () => {
      const image = bzImage(Buffer.concat([Buffer.from(magic), filler(4000, 3)]))
      const result = await readIkconfig(image)
      assert.equal(result.kind, 'skipped')
      assert.equal(result.kind === 'skipped' && result.compression, name)
      assert.match(result.kind === 'skipped' ? result.note : '', new RegExp(`${name}-compressed; only gzip kernels are read`))
      const check = await checkKernelConfig(CONFIG, undefined, 't.yaml:1:1', {image})
      assert.deepEqual(check.mismatches, [])
      assert.equal(check.ikconfig.status, 'skipped')
      assert.match(check.ikconfig.note, new RegExp(name))
    })
  }

  it('skips what is not a bzImage', async () => {
    const result = await readIkconfig(filler(8192, 5))
    assert.equal(result.kind, 'skipped')
    assert.match(result.kind === 'skipped' ? result.note : '', /not a bzImage/)
  })

  it('accepts a kernel whose embedded config is /linux.config', async () => {
    const check = await checkKernelConfig(CONFIG, undefined, 't.yaml:1:1', {image: bzImage(gzipPayload(vmlinux(CONFIG)))})
    assert.deepEqual(check.mismatches, [])
    assert.equal(check.ikconfig.status, 'matches')
  })

  it('fails when the embedded config disagrees with /linux.config, in the same table', async () => {
    const built = CONFIG.replace('CONFIG_EFI_STUB=y', '# CONFIG_EFI_STUB is not set').replace('# CONFIG_WIRELESS is not set', 'CONFIG_WIRELESS=y')
    const check = await checkKernelConfig(CONFIG, undefined, 't.yaml:1:1', {image: bzImage(gzipPayload(vmlinux(built)))})
    assert.equal(check.ikconfig.status, 'differs')
    assert.deepEqual(check.mismatches.map((m) => [m.option, m.wanted, m.wantedBy]), [
      ['CONFIG_EFI_STUB', 'y', '/linux.config (vs /bzImage)'],
      ['CONFIG_WIRELESS', 'n', '/linux.config (vs /bzImage)'],
    ])
    assert.match(check.mismatches[0]!.found, /^not set in the config \/bzImage carries \(IKCONFIG\)$/)
    assert.match(describeMismatches(check), /2 options of the config in \/bzImage \(IKCONFIG\) disagree with \/linux\.config/)
  })

  it('fails when /linux.config says IKCONFIG=y but the gzip kernel carries none', async () => {
    const check = await checkKernelConfig(CONFIG, undefined, 't.yaml:1:1', {image: bzImage(gzipPayload(vmlinux(undefined)))})
    assert.deepEqual(check.mismatches.map((m) => m.option), ['CONFIG_IKCONFIG'])
    // Without that claim, a kernel carrying no config is just that.
    const quiet = await checkKernelConfig(CONFIG.replace('CONFIG_IKCONFIG=y', '# CONFIG_IKCONFIG is not set'), undefined, 't', {
      image: bzImage(gzipPayload(vmlinux(undefined))),
    })
    assert.deepEqual(quiet.mismatches, [])
    assert.equal(quiet.ikconfig.status, 'absent')
  })

  it('the fixture world\'s Debian kernel: IKCONFIG not set, xz-compressed, so the check is skipped', async function () {
    if (!existsSync(join(DEBIAN, 'vmlinuz'))) this.skip()
    const config = readFileSync(join(DEBIAN, 'config'), 'utf8')
    assert.match(config, /^# CONFIG_IKCONFIG is not set$/m)
    assert.match(config, /^CONFIG_KERNEL_XZ=y$/m)
    const image = readFileSync(join(DEBIAN, 'vmlinuz'))
    const result = await readIkconfig(image)
    assert.equal(result.kind, 'skipped')
    assert.equal(result.kind === 'skipped' && result.compression, 'xz')
    const check = await checkKernelConfig(config, undefined, 't', {image})
    assert.deepEqual(check.mismatches, [])
    assert.equal(check.form, 'full')
  })
})
