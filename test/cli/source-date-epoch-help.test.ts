// `build --help` (and `test --help`) say what --source-date-epoch changes, from the real CLI.
import assert from 'node:assert/strict'
import {runCli} from '../helpers/cli.js'

/** The help text with oclif's wrapping undone: one space between words. */
const flat = (text: string) => text.replace(/\s+/g, ' ')

describe('cli: --source-date-epoch is documented with what it changes', () => {
  for (const command of ['build', 'test']) {
    it(`${command} --help: the clamp of newer mtimes (cpio, rootfs.tar), the ESP and UKI stamps, build.json, the sbom`, () => {
      const help = runCli([command, '--help'])
      assert.equal(help.code, 0, help.stderr)
      const text = flat(help.stdout)
      assert.match(text, /--source-date-epoch=<value>/)
      for (const phrase of [
        "default: $SOURCE_DATE_EPOCH, else the profile's sourceDateEpoch, else 1",
        'newer than it gets it as its mtime in the initramfs (cpio) and rootfs.tar',
        'an older one keeps its own',
        'show no change',
        'Every timestamp on the ESP (FAT',
        "the UKI's PE TimeDateStamp",
        'disk GUID, partition GUID and FAT volume serial',
        'build.json',
        'sbom.spdx.json (created, documentNamespace)',
        "gzip header's MTIME is always 0",
      ])
        assert.ok(text.includes(phrase), `${command} --help says "${phrase}":\n${help.stdout}`)
    })
  }
})
