// `npm run registry`: the README's registry examples need a registry on 127.0.0.1:5000. This starts
// Debian's docker-registry there (as the tests' world does: scripts/world/registry.ts), pushes every
// fixture image to 127.0.0.1:5000/stagex/<name>:latest with skopeo (digests preserved, so the world's
// lookaside signatures, made by scripts/world/signing.ts, still name them), and runs in the
// foreground until Ctrl-C (SIGINT) or SIGTERM, then stops the registry and removes its storage.
//
//   npm run registry                  # 127.0.0.1:5000
//   npm run registry -- --port 5001   # or STAGEX_REGISTRY_PORT=5001
//   npm run registry -- --push-only   # start, push, print, stop: a check that it works
import {access} from 'node:fs/promises'
import {join} from 'node:path'
import {ociDir, PACKAGE_NAMES} from './world/build-fixtures.js'
import {pushFixtures, startRegistry} from './world/registry.js'

const args = process.argv.slice(2)
const portArg = args.indexOf('--port')
const port = Number(portArg >= 0 ? args[portArg + 1] : (process.env.STAGEX_REGISTRY_PORT ?? 5000))
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`registry: --port must be a port number, got ${portArg >= 0 ? args[portArg + 1] : process.env.STAGEX_REGISTRY_PORT}`)
  process.exit(2)
}
const pushOnly = args.includes('--push-only')

try {
  await access(join(ociDir(), PACKAGE_NAMES[0]!))
} catch {
  console.error(`registry: no fixture world in ${ociDir()}: run \`npm run demo\` (or \`npm run setup\`) first`)
  process.exit(2)
}

let registry
try {
  registry = await startRegistry({port})
} catch (error) {
  console.error(`registry: cannot start docker-registry on 127.0.0.1:${port}: ${(error as Error).message}`)
  console.error('registry: is another one running there? `npm run registry -- --port N` picks another port')
  process.exit(1)
}
let stopping = false
const stop = async (why: string) => {
  if (stopping) return
  stopping = true
  console.log(`registry: ${why}; stopping docker-registry on ${registry.host} and removing its storage`)
  await registry.dispose()
  process.exit(0)
}
process.on('SIGINT', () => void stop('interrupted'))
process.on('SIGTERM', () => void stop('terminated'))

try {
  console.log(`registry: docker-registry on ${registry.url}; pushing ${PACKAGE_NAMES.join(', ')} with skopeo`)
  const pushed = await pushFixtures(registry)
  for (const ref of pushed) console.log(`  ${ref}`)
} catch (error) {
  console.error(`registry: ${(error as Error).message}`)
  await registry.dispose()
  process.exit(1)
}
const mirror = `${registry.host}/stagex`
console.log(`registry: ready. The images are signed in the world's lookaside (.cache/world/sigs), e.g.:
  stagex-image lock profiles/minimal-registry.yaml --mirror ${mirror}
  stagex-image pull profiles/minimal-registry.yaml --mirror ${mirror} --to oci:carry
registry: running in the foreground (pid ${process.pid}); Ctrl-C (or kill ${process.pid}) stops it`)
if (pushOnly) await stop('--push-only')
else setInterval(() => {}, 1 << 30)
