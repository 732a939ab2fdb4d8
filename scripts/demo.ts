// `npm run demo`, after set-up: the StageX flow on one machine, offline.
//  1. a real registry (Debian's docker-registry) on 127.0.0.1 gets the fixture images, pushed by skopeo;
//  2. `stagex-image test profiles/minimal-registry.yaml --mirror` pulls them into a fresh store,
//     refuses any image fewer than 2 of the 3 test maintainers signed, builds, and boots the result
//     under QEMU to its marker.
import {spawn} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {ensureWorld} from './world/build-fixtures.js'
import {pushFixtures, startRegistry} from './world/registry.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const PACKAGES = ['core-filesystem', 'core-busybox', 'user-linux-generic']

function stagexImage(args: string[]): Promise<number> {
  console.log(`\n== stagex-image ${args.join(' ')}`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'bin/run.js'), ...args], {cwd: REPO, stdio: 'inherit'})
    child.on('error', reject)
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
  })
}

await ensureWorld()
const registry = await startRegistry()
const store = await mkdtemp(join(tmpdir(), 'stagex-demo-store-'))
let code = 1
try {
  console.log(`== registry: docker-registry on ${registry.url}; pushing ${PACKAGES.join(', ')} with skopeo`)
  await pushFixtures(registry, {names: PACKAGES})
  const mirror = `${registry.host}/stagex`
  code = await stagexImage(['test', 'profiles/minimal-registry.yaml', '--mirror', mirror, '--store', store, '--out', 'out/minimal',
    '--accel', 'auto', '--console', '--junit', 'out/minimal/junit.xml'])
} finally {
  await registry.dispose()
  await rm(store, {recursive: true, force: true})
}
process.exit(code)
