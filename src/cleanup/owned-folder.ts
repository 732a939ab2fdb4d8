// A temp folder the run owns: made with an owner mark (owner.ts) so that the next run can tell it is
// stale if this one is killed, and registered so that an interrupt removes it (interrupt.ts).
import {mkdtemp, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {registerPath, unregisterPath} from './interrupt.js'
import {writeOwnerMark} from './owner.js'

/** mkdtemp(parent/prefix) with its owner mark, removed on interrupt until removeOwnedFolder. */
export async function makeOwnedFolder(parent: string, prefix: string, what: string): Promise<string> {
  const dir = await mkdtemp(join(parent, prefix))
  registerPath(dir, what)
  try {
    writeOwnerMark(dir)
  } catch (error) {
    await removeOwnedFolder(dir)
    throw error
  }
  return dir
}

export async function removeOwnedFolder(dir: string): Promise<void> {
  await rm(dir, {recursive: true, force: true})
  unregisterPath(dir)
}
