// Nothing partial is left behind: a build that fails after some outputs were written leaves the
// previous outputs exactly as they were, and no temp or staging file.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdtemp, readFile, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {profileVariant, runCli} from '../helpers/cli.js'

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {}
  for (const name of (await readdir(dir)).sort()) files[name] = sha256(await readFile(join(dir, name)))
  return files
}

describe('e2e: a failed build leaves the previous outputs intact', function () {
  this.timeout(300_000)
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-atomic-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('an ESP too small for its files fails (exit 4, a format error) after the initramfs was made, and changes nothing', async () => {
    const good = await profileVariant('minimal-syslinux', dir, 'good')
    const out = join(dir, 'out')
    const first = runCli(['build', good, '--out', out])
    assert.equal(first.code, 0, first.stderr)
    const before = await snapshot(out)
    assert.ok(before['disk.raw'] && before['build.json'])

    // Another init changes the initramfs; an ESP of 1 MiB cannot hold the kernel.
    const bad = await profileVariant('minimal-syslinux', dir, 'bad', (text) =>
      text.replace('STAGEX-APPLIANCE-OK', 'CHANGED-MARKER').replace(/boot:\n/, 'boot:\n  espSize: 1M\n'),
    )
    const failed = runCli(['build', bad, '--out', out])
    assert.equal(failed.code, 4, failed.stderr)
    assert.match(failed.stderr, /espSize/)
    assert.deepEqual(await snapshot(out), before, 'every previous output is byte for byte as it was, and nothing else is there')
  })
})
