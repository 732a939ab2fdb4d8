// Runs one CLI command from the TypeScript sources, as `stagex-image <id> ...` would:
//   node --import tsx test/helpers/run-command-from-source.ts boot --kernel K ...
// bin/dev.js is not used because oclif's own tsx registration fails in this setup and silently
// falls back to dist/, which may be stale or half rebuilt while others work in the tree.
import {flush, handle} from '@oclif/core'
import {join} from 'node:path'

const projectRoot = join(import.meta.dirname, '..', '..')
const [id, ...argv] = process.argv.slice(2)
if (!id || !/^[a-z][a-z-]*$/.test(id)) {
  process.stderr.write('usage: run-command-from-source.ts <command-id> [args...]\n')
  process.exit(2)
}
try {
  const {default: command} = await import(`../../src/commands/${id}.js`)
  await command.run(argv, projectRoot)
  await flush()
} catch (error) {
  await handle(error as Error)
}
