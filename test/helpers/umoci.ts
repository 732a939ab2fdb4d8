// umoci as the reference for layer application (test/rootfs/differential.test.ts): `umoci raw unpack`
// of an OCI layout's tag into a directory, and that directory listed as `rootfs --list` lists our
// tree, from lstat(2): path, type, mode, owner, size, sha256 of the content or the link target, and
// hardlink groups by inode number (the first path in UTF-8 order carries the sha256, the others name it).
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {lstatSync, readFileSync, readdirSync, readlinkSync, type BigIntStats} from 'node:fs'
import {join} from 'node:path'
import type {RootfsListEntry} from '../../src/pipeline/rootfs.js'
import type {NodeType} from '../../src/rootfs/tree.js'

export interface UnpackResult {
  /** umoci's error output when it refused the image. */
  error?: string
}

/**
 * `umoci raw unpack --image LAYOUT:TAG ROOTFS` as root (owners and modes applied for real), under
 * umask 022: umoci makes missing parents with mode 0777 less the umask, our rule is 0755.
 */
export function umociUnpack(layout: string, tag: string, rootfs: string): Promise<UnpackResult> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', 'umask 022 && exec umoci raw unpack --image "$1" "$2"', 'umoci', `${layout}:${tag}`, rootfs], {maxBuffer: 16 * 1024 * 1024}, (error, _stdout, stderr) =>
      resolve(error ? {error: `${stderr}`.trim() || String(error)} : {}),
    )
  })
}

/** Runs `jobs` with at most `parallel` at a time (umoci is a process each: the machine has 2 cores). */
export async function runLimited<T>(jobs: (() => Promise<T>)[], parallel: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length)
  let next = 0
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await jobs[i]!()
    }
  }
  await Promise.all(Array.from({length: Math.min(parallel, jobs.length)}, worker))
  return results
}

function typeOf(stats: BigIntStats): NodeType | 'socket' {
  if (stats.isFile()) return 'file'
  if (stats.isDirectory()) return 'dir'
  if (stats.isSymbolicLink()) return 'symlink'
  if (stats.isCharacterDevice()) return 'char'
  if (stats.isBlockDevice()) return 'block'
  if (stats.isFIFO()) return 'fifo'
  return 'socket'
}

/** A directory tree listed as RootfsListEntry objects (package "" : a directory has no provenance), in UTF-8 path order. */
export function listDirectory(root: string): RootfsListEntry[] {
  const found: {path: string; bytes: Buffer; stats: BigIntStats; real: string}[] = []
  const walk = (real: string, path: string) => {
    const stats = lstatSync(real, {bigint: true})
    found.push({path, bytes: Buffer.from(path, 'utf8'), stats, real})
    if (stats.isDirectory()) for (const name of readdirSync(real)) walk(join(real, name), path === '/' ? `/${name}` : `${path}/${name}`)
  }
  walk(root, '/')
  found.sort((a, b) => Buffer.compare(a.bytes, b.bytes))
  const firstOfInode = new Map<bigint, string>()
  return found.map(({path, stats, real}) => {
    const type = typeOf(stats)
    const entry: RootfsListEntry = {
      path,
      type: type as NodeType,
      mode: Number(stats.mode & 0o7777n).toString(8).padStart(4, '0'),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      size: type === 'file' ? Number(stats.size) : 0,
      package: '',
    }
    const first = type === 'dir' ? undefined : firstOfInode.get(stats.ino)
    if (first !== undefined) entry.hardlinkTo = first
    else {
      if (type !== 'dir') firstOfInode.set(stats.ino, path)
      if (type === 'file') entry.sha256 = createHash('sha256').update(readFileSync(real)).digest('hex')
      if (type === 'symlink') entry.target = readlinkSync(real)
      if (type === 'char' || type === 'block') entry.device = `${Number(stats.rdev >> 8n) & 0xfff},${Number(stats.rdev & 0xffn)}`
    }
    return entry
  })
}
