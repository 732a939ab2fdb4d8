// boot.secureBoot in the profile: paths relative to the profile, loader uki only, one passphrase
// source, misspelt fields named; the recipe carries the certificate and never the key.
import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseProfile} from '../../src/profile/load.js'
import {makeRecipe, restoreRecipe} from '../../src/pipeline/recipe.js'
import {profileErrorOf} from '../helpers/profile.js'

const profile = (boot: string) => `name: demo
packages:
  - core-busybox
kernel:
  package: user-linux-generic
boot:
${boot}`
const UKI = '  loader: uki\n  stub: user-systemd-stub\n'

describe('profile: boot.secureBoot', () => {
  it('resolves key, cert and passphraseFile against the profile folder; passphraseEnv is a name', () => {
    const p = parseProfile(Buffer.from(profile(`${UKI}  secureBoot:\n    key: keys/db.key\n    cert: /etc/db.pem\n    passphraseFile: ../db.pass\n`)), '/p/q/demo.yaml')
    assert.deepEqual(p.boot.secureBoot, {key: '/p/q/keys/db.key', cert: '/etc/db.pem', passphraseFile: '/p/db.pass', passphraseEnv: undefined})
    const e = parseProfile(Buffer.from(profile(`${UKI}  secureBoot: {key: k, cert: c, passphraseEnv: DB_PASS}\n`)), '/p/demo.yaml')
    assert.equal(e.boot.secureBoot?.passphraseEnv, 'DB_PASS')
  })

  it('needs loader uki, and says why with syslinux', () => {
    const syslinux = profileErrorOf(profile('  loader: syslinux\n  packages: [user-syslinux]\n  secureBoot: {key: k, cert: c}\n'))
    assert.match(syslinux, /^demo\.yaml:9:15: boot\.secureBoot signs the UKI, and needs boot\.loader uki \(not syslinux\): only a UKI holds the kernel, the initramfs and the command line inside the one signed file; with syslinux, Secure Boot would check syslinux\.efi alone/)
    assert.match(profileErrorOf(profile('  secureBoot: {key: k, cert: c}\n')), /needs boot\.loader uki \(not none\)/)
  })

  it('refuses two passphrase sources, a missing cert, a misspelt field (did you mean) and a bad variable name', () => {
    assert.match(profileErrorOf(profile(`${UKI}  secureBoot: {key: k, cert: c, passphraseFile: f, passphraseEnv: E}\n`)), /give the passphrase one way/)
    assert.match(profileErrorOf(profile(`${UKI}  secureBoot: {key: k}\n`)), /missing required field "boot\.secureBoot\.cert"/)
    assert.match(profileErrorOf(profile(`${UKI}  secureBoot: {key: k, cert: c, passphrasefile: f}\n`)), /unknown field "boot\.secureBoot\.passphrasefile": did you mean "?passphraseFile/)
    assert.match(profileErrorOf(profile(`${UKI}  secureboot: {key: k, cert: c}\n`)), /unknown field "boot\.secureboot": did you mean "?secureBoot/)
    assert.match(profileErrorOf(profile(`${UKI}  secureBoot: {key: k, cert: c, passphraseEnv: "1 X"}\n`)), /boot\.secureBoot\.passphraseEnv" has an invalid value \(an environment variable's name/)
  })

  it('the recipe carries the certificate as bytes and the key as {local: true}, restored with the recorded signature', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'secure-boot-recipe-'))
    try {
      await writeFile(join(dir, 'db.pem'), 'CERTIFICATE BYTES\n')
      await writeFile(join(dir, 'db.key'), 'PRIVATE KEY BYTES\n')
      await writeFile(join(dir, 'db.pass'), 'secret\n')
      const p = parseProfile(Buffer.from(profile(`${UKI}  secureBoot: {key: db.key, cert: db.pem, passphraseFile: db.pass}\n`)), join(dir, 'demo.yaml'))
      const recipe = await makeRecipe(p)
      const text = JSON.stringify(recipe)
      assert.deepEqual(recipe.profile.boot, {loader: 'uki', stub: 'user-systemd-stub', packages: [], secureBoot: {key: {local: true}, cert: {recipe: 'boot.secureBoot.cert'}}})
      assert.deepEqual(recipe.files.map((f) => f.field), ['boot.secureBoot.cert'])
      assert.ok(!text.includes(Buffer.from('PRIVATE KEY BYTES\n').toString('base64')) && !text.includes('secret') && !text.includes(dir))
      const restored = await restoreRecipe(recipe, {workDir: join(dir, 'rebuild'), secureBootSignature: 'UEtDUzc='})
      assert.equal(restored.profile.boot.secureBoot?.key, undefined)
      assert.equal(restored.profile.boot.secureBoot?.signature, 'UEtDUzc=')
      // The rebuilt profile gives the same recipe: the record of a rebuild is the same bytes.
      assert.deepEqual(await makeRecipe(restored.profile), recipe)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
