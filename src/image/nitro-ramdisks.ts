// The ramdisk layouts of an EIF. `single`: one archive holding the tree. `nitro`: what nitro-cli
// makes (aws-nitro-enclaves-cli, enclave_build/src/yaml_generator.rs): a bootstrap ramdisk with
// /dev, /init and /nsm.ko (measured into PCR1 with the kernel), and a customer ramdisk with the
// tree under /rootfs, the folders its init mounts on (rootfs/dev, run, sys, var, proc, tmp), and
// /cmd and /env, one line each ("<line>\n", as nitro-cli's write_config), measured into PCR2.
// Each layout is a tree of its own whose inodes are the original ones (hardlinks stay links),
// written by the initramfs writer without compression, as nitro-cli writes them.
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {profileError} from '../errors.js'
import type {Profile} from '../profile/types.js'
import {createTree, type Inode, ROOT, type Tree} from '../rootfs/tree.js'
import type {ContentReader} from '../store/spool.js'
import {findFile} from './loader.js'
import {writeInitramfs} from './initramfs.js'

export interface WrittenRamdisk {
  role: 'rootfs' | 'bootstrap' | 'customer'
  path: string
  size: number
  sha256: string
  entries: number
}

export interface RamdiskInput {
  profile: Pick<Profile, 'eif' | 'displayName' | 'locate' | 'boot'>
  tree: Tree
  bootTree?: {packages: string[]; tree: Tree}
  sourceDateEpoch: number
  reader: ContentReader
  workDir: string
}

/** The folders nitro-cli adds under rootfs/ (its init mounts on them before it chroots). */
const CUSTOMER_DIRS = ['dev', 'run', 'sys', 'var', 'proc', 'tmp']

export async function writeEifRamdisks(input: RamdiskInput): Promise<WrittenRamdisk[]> {
  if (input.profile.eif.ramdisks === 'single') return [await write(input, 'rootfs', input.tree)]
  const bootstrap = bootstrapTree(input)
  const customer = await customerTree(input)
  return [await write(input, 'bootstrap', bootstrap), await write(input, 'customer', customer)]
}

async function write(input: RamdiskInput, role: WrittenRamdisk['role'], tree: Tree): Promise<WrittenRamdisk> {
  const path = join(input.workDir, `eif-${role}.cpio`)
  const written = await writeInitramfs(tree, input.sourceDateEpoch, 'none', input.reader, path)
  return {role, path, size: written.size, sha256: written.sha256, entries: written.entries}
}

const dir = (): Inode => ({type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0})

/** /dev, /init and /nsm.ko, the two files from the boot packages (eif.bootstrap says where), mode 0755. */
function bootstrapTree(input: RamdiskInput): Tree {
  const {profile} = input
  const where = profile.locate(['eif', 'ramdisks'])
  if (!input.bootTree) throw profileError(`${where}: eif.ramdisks nitro takes /init and /nsm.ko from boot.packages, and it lists none`)
  const searchIn = [{name: 'boot', tree: input.bootTree.tree}]
  const hint = `List a package holding it in boot.packages (${input.bootTree.packages.join(', ')}), or set eif.bootstrap.`
  const take = (role: string, path: string): Inode => {
    const found = findFile(searchIn, [path], undefined, role, hint)
    const inode = input.bootTree!.tree.entries.get(found.path)!
    return {type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: inode.mtime, content: found.content}
  }
  const tree = createTree()
  tree.entries.set('dev', dir())
  tree.entries.set('init', take('the enclave bootstrap init', profile.eif.bootstrap.init))
  tree.entries.set('nsm.ko', take('the NSM driver module', profile.eif.bootstrap.nsm))
  return tree
}

/** The tree under rootfs/ (the same inodes), its mount folders where missing, and /cmd and /env. */
async function customerTree(input: RamdiskInput): Promise<Tree> {
  const {eif} = input.profile
  const tree = createTree()
  tree.entries.set('rootfs', input.tree.entries.get(ROOT) ?? dir())
  for (const [path, inode] of input.tree.entries) if (path !== ROOT) tree.entries.set(`rootfs/${path}`, inode)
  for (const name of CUSTOMER_DIRS) if (!tree.entries.has(`rootfs/${name}`)) tree.entries.set(`rootfs/${name}`, dir())
  // cmd and env are bytes of ours: a small file in the work folder the reader can read them back from.
  const lines = (items: string[]) => Buffer.from(items.map((l) => `${l}\n`).join(''), 'utf8')
  const cmd = lines(eif.cmd)
  const env = lines(eif.env)
  const path = join(input.workDir, 'eif-cmd-env')
  await writeFile(path, Buffer.concat([cmd, env]))
  const file = (offset: number, size: number): Inode => ({type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, content: {id: `eif-${offset}`, size, path, offset}})
  tree.entries.set('cmd', file(0, cmd.length))
  tree.entries.set('env', file(cmd.length, env.length))
  return tree
}
