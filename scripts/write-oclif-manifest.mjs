// Writes oclif.manifest.json after `tsc`, so the CLI starts without importing every command module
// (oclif reads the manifest for --help and to find the one command to load).
import {Config} from '@oclif/core'
import {writeFileSync, rmSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
rmSync(`${root}/oclif.manifest.json`, {force: true})
const config = await Config.load({root, devPlugins: false, userPlugins: false})
const commands = Object.fromEntries(
  config.commands
    .filter((c) => c.pluginName === config.pjson.name)
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((c) => [c.id, JSON.parse(JSON.stringify(c))]),
)
writeFileSync(`${root}/oclif.manifest.json`, `${JSON.stringify({commands, version: config.version}, null, 2)}\n`)
