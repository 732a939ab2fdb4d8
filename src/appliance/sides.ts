// What diff and reproduce compare: an output folder, a build.json, or an appliance reference
// (pulled, digests checked, into a folder of the caller's work folder).
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {type BuildSide, readBuildSide} from '../compare/builds.js'
import {pullAppliance} from './pull.js'

export interface SideOptions {
  /** Where a referenced appliance is pulled to. */
  workDir: string
  env?: NodeJS.ProcessEnv
}

/**
 * True when the argument names a file or folder here; otherwise it is read as a registry reference.
 * A bare name ("out") is a folder, missing or not: never a Docker Hub repository asked over the network.
 */
export const isLocalPath = (arg: string) =>
  existsSync(arg) || arg.startsWith('.') || arg.startsWith('/') || arg.endsWith('.json') || !arg.includes('/')

export async function openSide(arg: string, name: string, options: SideOptions): Promise<BuildSide & {manifestDigest?: string}> {
  if (isLocalPath(arg)) return readBuildSide(arg)
  const pulled = await pullAppliance({reference: arg, to: join(options.workDir, name), env: options.env})
  return {...(await readBuildSide(pulled.outDir)), label: arg, manifestDigest: pulled.manifestDigest}
}
