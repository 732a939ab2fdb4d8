// The build seed: a hash of what goes into the image, recomputable from build.json.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {deriveBuildSeed, SEED_SCHEME, seedMessage, type SeedInputs} from '../../src/image/seed.js'

const base: SeedInputs = {
  sourceDateEpoch: 1,
  loader: 'syslinux',
  cmdline: 'console=ttyS0',
  kernelSha256: 'a'.repeat(64),
  initramfsSha256: 'b'.repeat(64),
  loaderFiles: {'syslinux.efi': 'c'.repeat(64), 'ldlinux.e64': 'd'.repeat(64)},
  espSize: 'auto',
}

describe('image: build seed', () => {
  it('is the first 16 bytes of sha256(scheme + canonical JSON), recomputable from the record', () => {
    const seed = deriveBuildSeed(base)
    const expected = createHash('sha256').update(`${SEED_SCHEME}\n${seedMessage(base)}`).digest('hex').slice(0, 32)
    assert.equal(seed.hex, expected)
    assert.equal(seed.bytes.length, 16)
    assert.deepEqual(deriveBuildSeed(JSON.parse(JSON.stringify(seed.inputs))).hex, seed.hex, 'the recorded inputs give the same seed')
  })

  it('does not depend on key order of the loader files', () => {
    const reordered = {...base, loaderFiles: {'ldlinux.e64': 'd'.repeat(64), 'syslinux.efi': 'c'.repeat(64)}}
    assert.equal(deriveBuildSeed(reordered).hex, deriveBuildSeed(base).hex)
  })

  it('changes with every input', () => {
    const changes: Partial<SeedInputs>[] = [
      {sourceDateEpoch: 2},
      {loader: 'uki'},
      {cmdline: 'console=ttyS1'},
      {kernelSha256: 'e'.repeat(64)},
      {initramfsSha256: 'e'.repeat(64)},
      {loaderFiles: {...base.loaderFiles, 'ldlinux.e64': 'e'.repeat(64)}},
      {espSize: 64 * 1024 * 1024},
    ]
    const seen = new Set([deriveBuildSeed(base).hex])
    for (const change of changes) seen.add(deriveBuildSeed({...base, ...change}).hex)
    assert.equal(seen.size, changes.length + 1)
  })
})
