// The checks on every build, through the CLI (dist/): prune: default on a build image's tools
// (user-devtools), the report per package, the renamed compiler refused even when kept; the ELF closure
// of a dynamic program (core-env) with and without the image that holds its libc (core-glibc).
import assert from 'node:assert/strict'
import {statSync} from 'node:fs'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {ensureSigningWorld} from '../../scripts/world/signing.js'
import {profileVariant, runCli} from '../helpers/cli.js'

/** The minimal profile with other packages, a rootfs-tar output only (the checks come before any output), and extra fields. */
const variant = (dir: string, name: string, packages: string[], extra = '') =>
  profileVariant('minimal', dir, name, (t) => {
    const edited = t
      .replace('  - core-busybox\n', ['  - core-busybox', ...packages.map((p) => `  - ${p}`), ''].join('\n'))
      .replace(/^outputs: .*$/m, 'outputs: [rootfs-tar]')
    assert.notEqual(edited, t)
    return `${edited}${extra}`
  })

const GCC_BYTES = statSync('/usr/bin/x86_64-linux-gnu-gcc-12').size

describe('e2e: prune, no compilers and the ELF closure on every build', function () {
  this.timeout(600_000)
  let dir: string
  before(async () => {
    await ensureSigningWorld()
    dir = await mkdtemp(join(tmpdir(), 'stagex-checks-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  describe('a build image\'s tools (user-devtools)', () => {
    it('rootfs --report lists what prune: default removed, per package, with sizes', async () => {
      const profile = await variant(dir, 'devtools', ['user-devtools'])
      const json = runCli(['rootfs', profile, '--report', '--json'])
      assert.equal(json.code, 0, json.stderr)
      const report = JSON.parse(json.stdout).pruned
      const devtools = report.packages.find((p: {package: string}) => p.package === 'user-devtools')
      const removed = Object.fromEntries(devtools.removed.map((r: {path: string; reason: string; bytes: number}) => [r.path, [r.reason, r.bytes]]))
      assert.deepEqual(removed['/usr/bin/gcc'], ['compiler or build tool', GCC_BYTES])
      assert.deepEqual(removed['/usr/bin/x86_64-linux-musl-gcc'], ['compiler or build tool', 0])
      assert.deepEqual(removed['/usr/bin/x86_64-linux-musl-g++'], ['compiler or build tool', 0])
      assert.equal(removed['/usr/bin/ld.bfd'][0], 'linker or assembler')
      assert.equal(removed['/usr/bin/ld'][0], 'linker or assembler')
      for (const path of ['/usr/libexec/gcc', '/usr/lib/gcc']) assert.equal(removed[path][0], 'compiler private tree', path)
      for (const path of ['/usr/bin/apk', '/usr/bin/pip3', '/usr/bin/npm', '/usr/lib/python3.12/ensurepip', '/usr/lib/python3.12/site-packages/pip', '/usr/lib/python3.12/site-packages/pip-24.0.dist-info', '/usr/lib/node_modules/npm'])
        assert.equal(removed[path]?.[0], 'package manager', path)
      for (const path of ['/usr/lib/apk', '/etc/apk']) assert.equal(removed[path]?.[0], 'package database', path)
      assert.equal(removed['/usr/include'][0], 'C headers')
      assert.equal(removed['/usr/lib/libdevtools.a'][0], 'static library or libtool archive')
      assert.equal(removed['/usr/lib/libdevtools.la'][0], 'static library or libtool archive')
      assert.equal(removed['/usr/lib/pkgconfig'][0], 'pkg-config files')
      assert.equal(removed['/usr/share/man'][0], 'man pages and documentation')
      assert.equal(removed['/usr/share/doc'][0], 'man pages and documentation')
      // What no name gives away stays for the content check.
      assert.equal(removed['/usr/bin/helper'], undefined)
      assert.equal(removed['/usr/bin/update-tools'], undefined)
      // busybox's package-manager applets go too, under busybox's name.
      const busybox = report.packages.find((p: {package: string}) => p.package === 'core-busybox')
      assert.deepEqual(busybox.removed.map((r: {path: string}) => r.path), ['/usr/bin/dpkg', '/usr/bin/dpkg-deb', '/usr/bin/rpm'])
      assert.equal(devtools.bytes, devtools.removed.reduce((n: number, r: {bytes: number}) => n + r.bytes, 0))
      assert.ok(devtools.bytes > GCC_BYTES + statSync('/usr/bin/x86_64-linux-gnu-ld.bfd').size, 'the driver, collect2 and ld.bfd at least')

      const text = runCli(['rootfs', profile, '--report'])
      assert.equal(text.code, 0, text.stderr)
      assert.match(text.stdout, /^pruned: \d+ entries, \d+ bytes from 2 packages$/m)
      assert.match(text.stdout, new RegExp(`^user-devtools: \\d+ entries, ${devtools.bytes} bytes$`, 'm'))
      assert.match(text.stdout, new RegExp(`^  /usr/bin/gcc\\tcompiler or build tool\\t1 entry, ${GCC_BYTES} bytes$`, 'm'))
      assert.match(text.stdout, /^  \/usr\/lib\/apk\tpackage database\t\d+ entries, \d+ bytes$/m)
    })

    it('build exits 4 naming the renamed compiler and the script that runs pip, with their package, and writes nothing', async () => {
      const profile = await variant(dir, 'devtools-build', ['user-devtools'])
      const out = join(dir, 'out-devtools')
      const result = runCli(['build', profile, '--out', out])
      assert.equal(result.code, 4, result.stderr)
      assert.match(result.stderr, /minimal fails the ELF closure check and the no-compiler check/)
      assert.match(result.stderr, /\/usr\/bin\/helper \(user-devtools\): the GCC compiler driver .* \(its content has "COLLECT_GCC_OPTIONS"\)/)
      assert.match(result.stderr, /\/usr\/bin\/update-tools \(user-devtools\): a script that runs a package manager \(python -m pip\)/)
      // The renamed driver is dynamic and its libc is not there either.
      assert.match(result.stderr, /\/usr\/bin\/helper \(user-devtools\): needs libc\.so\.6, which is not in the image; none of the profile's images provides it/)
      assert.deepEqual(await readdir(out).catch(() => []), [])
    })

    it('with keep: naming the renamed compiler, the build still exits 4 naming it; check says the same', async () => {
      const profile = await variant(dir, 'devtools-keep', ['user-devtools', 'core-glibc'], 'keep:\n  - /usr/bin/helper\n  - /usr/bin/update-tools\n')
      const result = runCli(['build', profile, '--out', join(dir, 'out-keep'), '--json'])
      assert.equal(result.code, 4, result.stderr)
      const failure = JSON.parse(result.stdout).error
      assert.equal(failure.exitCode, 4)
      assert.deepEqual(failure.compilers.map((c: {path: string; kept: boolean}) => [c.path, c.kept]), [['/usr/bin/helper', true], ['/usr/bin/update-tools', true]])
      assert.match(failure.message, /\/usr\/bin\/helper \(user-devtools\): the GCC compiler driver.*keep: lists it, but a compiler or package manager is refused even when kept/)
      // The kept pip script is refused too: its content runs a package manager.
      assert.match(failure.message, /\/usr\/bin\/update-tools \(user-devtools\): a script that runs a package manager/)
      assert.doesNotMatch(failure.message, /needs libc\.so\.6/, 'core-glibc provides it')

      const check = runCli(['check', profile])
      assert.equal(check.code, 4, check.stderr)
      assert.match(check.stdout, /\/usr\/bin\/helper: the GCC compiler driver .*\(user-devtools; its content has "COLLECT_GCC_OPTIONS"\) - keep: lists it/)
      assert.match(check.stdout, /\/usr\/bin\/helper: kept by keep: \/usr\/bin\/helper/)
    })
  })

  describe('the ELF closure of a dynamic program (core-env) and its libc (core-glibc)', () => {
    it('builds with both images; build.json records the checks and what pruning removed per package', async () => {
      const profile = await variant(dir, 'env', ['core-env', 'core-glibc'], 'keep:\n  - /usr/include/stdio.h\n')
      const out = join(dir, 'out-env')
      const result = runCli(['build', profile, '--out', out])
      assert.equal(result.code, 0, result.stderr)
      const record = JSON.parse(await readFile(join(out, 'build.json'), 'utf8'))
      assert.ok(record.checks.elf.dynamic >= 2, 'env and libc.so.6')
      assert.deepEqual(record.checks.elf.allowedMissing, [])
      assert.ok(record.checks.noCompiler.scanned >= 4)
      assert.deepEqual(record.checks.kept, [{path: '/usr/include/stdio.h', keep: '/usr/include/stdio.h', reason: 'C headers', package: 'core-glibc'}])
      const glibc = record.stages.shape.pruned.filter((r: {package: string}) => r.package === 'core-glibc')
      assert.deepEqual(glibc.map((r: {path: string; reason: string}) => [r.path, r.reason]), [
        ['/usr/lib/libc.a', 'static library or libtool archive'],
        ['/usr/share/doc', 'man pages and documentation'],
      ])
      assert.ok(glibc.every((r: {bytes: number}) => r.bytes > 0))
    })

    it('fails without the second image, naming the program, the library and the fetched image that has it', async () => {
      const profile = await variant(dir, 'env-boot', ['core-env'], 'boot:\n  packages: [core-glibc]\n')
      const result = runCli(['build', profile, '--out', join(dir, 'out-env-boot')])
      assert.equal(result.code, 4, result.stderr)
      assert.match(result.stderr, /\/usr\/bin\/env \(core-env\): its interpreter \/lib64\/ld-linux-x86-64\.so\.2 is not in the image; core-glibc \(fetched as the profile's boot package, not one of its packages\) has it at \/usr\/lib\/ld-linux-x86-64\.so\.2: add core-glibc to packages:/)
      assert.match(result.stderr, /\/usr\/bin\/env \(core-env\): needs libc\.so\.6, which is not in the image; core-glibc .* has it at \/usr\/lib\/libc\.so\.6: add core-glibc to packages:/)
    })

    it('says that no image has it when none does; allowMissing: waives it, and build.json says so', async () => {
      const missing = await variant(dir, 'env-alone', ['core-env'])
      const failed = runCli(['build', missing, '--out', join(dir, 'out-env-alone')])
      assert.equal(failed.code, 4, failed.stderr)
      assert.match(failed.stderr, /\/usr\/bin\/env \(core-env\): needs libc\.so\.6, which is not in the image; none of the profile's images provides it/)

      const allowed = await variant(dir, 'env-allowed', ['core-env'], 'allowMissing:\n  - libc.so.6\n  - /lib64/ld-linux-x86-64.so.2\n')
      const out = join(dir, 'out-env-allowed')
      const result = runCli(['build', allowed, '--out', out])
      assert.equal(result.code, 0, result.stderr)
      const record = JSON.parse(await readFile(join(out, 'build.json'), 'utf8'))
      assert.deepEqual(record.checks.elf.allowedMissing, [
        {path: '/usr/bin/env', missing: '/lib64/ld-linux-x86-64.so.2'},
        {path: '/usr/bin/env', missing: 'libc.so.6'},
      ])
    })
  })
})
