import {BaseCommand} from '../cli/base-command.js'
import {TOOL_VERSION} from '../version.js'

export default class Version extends BaseCommand {
  static override description = 'Print the tool version (it is part of every build record).'
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --json']

  async run(): Promise<{version: string; node: string}> {
    await this.parse(Version)
    const result = {version: TOOL_VERSION, node: process.version}
    this.log(`stagex-image ${TOOL_VERSION}`)
    return result
  }
}
