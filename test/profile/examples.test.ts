// The example profiles: every one validates; the real-world one pins real StageX digests and its
// kernel fragment holds against StageX's real kernel config.
import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {checkFragment, parseFragment, parseKconfig} from '../../src/kernel/kconfig.js'
import {loadProfile} from '../../src/profile/load.js'
import {keyringFingerprints, readKeyring} from '../../src/trust/keyring.js'
import {REPO} from '../helpers/cli.js'

const STAGEX = new URL('../../../shared/stagex/', import.meta.url)
const profiles = readdirSync(join(REPO, 'profiles')).filter((f) => f.endsWith('.yaml'))

function stagexDigests(): Map<string, string> {
  const digests = new Map<string, string>()
  for (const file of ['bootstrap', 'core', 'pallet', 'user']) {
    for (const line of readFileSync(new URL(`digests/${file}.txt`, STAGEX), 'utf8').split('\n')) {
      const [hex, name] = line.trim().split(/\s+/)
      if (hex && name) digests.set(name, hex)
    }
  }
  return digests
}

describe('profiles: examples', () => {
  for (const file of profiles) {
    it(`${file} validates`, async () => {
      const profile = await loadProfile(join(REPO, 'profiles', file))
      assert.ok(profile.packages.length > 0)
    })
  }

  it('minimal-iso.yaml writes an iso with loader uki, its BIOS files and EFI stub from boot packages of the fixture world', async () => {
    const profile = await loadProfile(join(REPO, 'profiles/minimal-iso.yaml'))
    assert.ok(profile.outputs.includes('iso'))
    assert.equal(profile.boot.loader, 'uki')
    assert.equal(profile.boot.stub, 'user-systemd-stub')
    assert.deepEqual(profile.boot.packages, ['user-syslinux'])
    assert.ok(profile.test.steps.some((s) => 'expect' in s && s.expect === 'STAGEX-APPLIANCE-OK minimal-iso'))
  })

  describe('airgap-signer.yaml (real StageX 2026.03.0 packages)', () => {
    it('pins every image to its real linux/amd64 manifest digest', async () => {
      const profile = await loadProfile(join(REPO, 'profiles/airgap-signer.yaml'))
      const digests = stagexDigests()
      const pinned = [...profile.packages, profile.kernel!.package, ...profile.boot.packages]
      assert.ok(pinned.length >= 10)
      for (const spec of pinned) {
        const match = /^([a-z0-9-]+)@sha256:([0-9a-f]{64})$/.exec(spec)
        assert.ok(match, `${spec} is pinned by digest`)
        assert.equal(match[2], digests.get(match[1]!), `${match[1]} digest is the 2026.03.0 release digest`)
      }
    })

    it('has a kernel fragment that holds against user-linux-airgap, and not against nitro', async () => {
      const profile = await loadProfile(join(REPO, 'profiles/airgap-signer.yaml'))
      const requirements = parseFragment(readFileSync(profile.kernel!.config!, 'utf8'))
      assert.ok(requirements.length >= 10)
      const airgap = parseKconfig(readFileSync(new URL('kernel-configs/airgap.config', STAGEX), 'utf8'))
      assert.deepEqual(checkFragment(airgap, requirements), [])
      const nitro = parseKconfig(readFileSync(new URL('kernel-configs/nitro.config', STAGEX), 'utf8'))
      const nitroMisses = checkFragment(nitro, requirements).map((m) => m.requirement.option)
      assert.ok(nitroMisses.includes('CONFIG_EFI_STUB'), `nitro has no EFI stub: ${nitroMisses.join(', ')}`)
    })

    it('names a keyring holding the maintainers whose signatures StageX publishes', async () => {
      const profile = await loadProfile(join(REPO, 'profiles/airgap-signer.yaml'))
      const keyring = await readKeyring(readFileSync(profile.trust!.keyring!))
      const fingerprints = keyringFingerprints(keyring).map((f) => f.toUpperCase())
      assert.ok(fingerprints.includes('6B61ECD76088748C70590D55E90A401336C8AAA9'), 'Lance Vick')
      assert.ok(fingerprints.includes('C92FE5A3FBD58DD3EC5AA26BB10116B8193F2DBD'), 'Danny Grove')
      assert.equal(profile.trust!.threshold, 2)
    })
  })
  describe('nitro-enclave.yaml (real StageX 2026.03.0 packages)', () => {
    it('pins user-linux-nitro, core-busybox and user-nit to their real linux/amd64 manifest digests, and writes an EIF', async () => {
      const profile = await loadProfile(join(REPO, 'profiles/nitro-enclave.yaml'))
      const digests = stagexDigests()
      const pinned = [...profile.packages, profile.kernel!.package]
      for (const name of ['user-linux-nitro', 'core-busybox', 'user-nit']) assert.ok(pinned.some((p) => p.startsWith(`${name}@`)), name)
      for (const spec of pinned) {
        const match = /^([a-z0-9-]+)@sha256:([0-9a-f]{64})$/.exec(spec)
        assert.ok(match, `${spec} is pinned by digest`)
        assert.equal(match[2], digests.get(match[1]!), `${match[1]} digest is the 2026.03.0 release digest`)
      }
      assert.deepEqual(profile.outputs, ['eif'])
      assert.equal(profile.eif.memoryBytes, 1024 ** 3)
      assert.match(profile.eif.cmdline, /console=ttyS0/)
    })
  })
})
