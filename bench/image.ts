// Benchmark: the data path on a large image. A synthetic StageX-like image (bench/image/generate.ts:
// 4 gzip layers, ~21,000 files, ~550 MB) goes through `stagex-image rootfs` and `stagex-image build`,
// side by side in one run with what people use without us:
//   rootfs     `node bin/run.js rootfs P --out X.tar`  against  `umoci raw unpack --image DIR:TAG ROOTFS`
//   initramfs  `node bin/run.js build P` (kernel + gzip initramfs)  against the script StageX users write:
//              umoci raw unpack, then find | sort | cpio -o -H newc --reproducible | gzip -n -9
//   uki        `node bin/run.js build P` with outputs [disk, uki] (boot.loader: uki): time and memory, no peer
// Whole processes, alternated each round; medians; peak RSS; the section "## Image: " of
// bench/RESULTS.md is rewritten (the other sections stay), and printed.
//
//   npm run bench:image [-- --rounds 5] [--only rootfs,initramfs,uki] [--profile] [--no-build]
//                       [--seed S] [--preliminary]
//
// --profile runs our side once more per comparison under `node --cpu-prof` and prints the top 15
// functions by self time (profiles in .cache/bench/prof/). --rounds 0 --profile profiles only.
// --no-build uses dist/ as it is (by default `npm run build` runs first, so dist/ is src/).
import {spawn, spawnSync} from 'node:child_process'
import {createReadStream, existsSync, readFileSync, readdirSync} from 'node:fs'
import {mkdir, readFile, readdir, rm, writeFile} from 'node:fs/promises'
import {availableParallelism, release, totalmem} from 'node:os'
import {basename, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'
import tarStream from 'tar-stream'
import {IMAGE_REF, describe, ensureBenchImage, type BenchImage} from './image/generate.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const RUN = join(REPO, '.cache', 'bench', 'run')
const PROF = join(REPO, '.cache', 'bench', 'prof')
const RESULTS = join(REPO, 'bench', 'RESULTS.md')
const HEADING = '## Image: '
const TIME = '/usr/bin/time'
const RSS_GOAL_MB = 256
const COMPARISONS = ['rootfs', 'initramfs', 'uki'] as const
type Comparison = (typeof COMPARISONS)[number]

// ---------------------------------------------------------------------------------------------
// Flags

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}
const ROUNDS = Number(flag('--rounds') ?? 5)
const ONLY = (flag('--only') ?? COMPARISONS.join(',')).split(',').map((s) => s.trim()) as Comparison[]
const PROFILE = argv.includes('--profile')
const PRELIMINARY = argv.includes('--preliminary')
if (!Number.isInteger(ROUNDS) || ROUNDS < 0) throw new Error(`--rounds ${flag('--rounds')}: a whole number, 0 or more`)
for (const c of ONLY) if (!COMPARISONS.includes(c)) throw new Error(`--only: "${c}" is not one of ${COMPARISONS.join(', ')}`)

// ---------------------------------------------------------------------------------------------
// Measuring one process: wall time from spawn to exit (hrtime), peak RSS of its largest process
// (GNU time's %M: Linux's rusage of the waited-for process tree keeps the largest one), and the
// peak of the sum of RSS over the whole tree, sampled from /proc every 100 ms (what a pipeline or
// worker processes hold at once; short peaks between samples are missed).

interface Measure {
  ms: number
  /** KB, largest single process (GNU time %M). */
  rssKB: number
  /** KB, largest sampled sum over the process tree. */
  treeKB: number
  stdout: string
  stderr: string
}

const PAGE_KB = 4

/** The sum of resident memory of every descendant of `root` (the GNU time process itself left out). */
function treeRssKB(root: number): number {
  const parent = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1')
      // The command name may hold spaces and parentheses: the fields start after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parent.set(Number(name), ppid)
    } catch {
      // The process ended meanwhile.
    }
  }
  let kb = 0
  for (const pid of parent.keys()) {
    let p: number | undefined = parent.get(pid)
    while (p !== undefined && p !== root && p > 1) p = parent.get(p)
    if (p !== root) continue
    try {
      kb += Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * PAGE_KB
    } catch {
      // Ended.
    }
  }
  return kb
}

async function measure(cmd: string, args: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv; label: string}): Promise<Measure> {
  await mkdir(RUN, {recursive: true})
  const rssFile = join(RUN, `.time-${process.pid}`)
  const start = process.hrtime.bigint()
  const child = spawn(TIME, ['-f', '%M', '-o', rssFile, cmd, ...args], {cwd: options.cwd ?? REPO, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  let treeKB = 0
  const sampler = setInterval(() => (treeKB = Math.max(treeKB, treeRssKB(child.pid!))), 100)
  const code = await new Promise<number>((res, rej) => {
    child.on('error', rej)
    child.on('close', (c) => res(c ?? 1))
  })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  clearInterval(sampler)
  const timeOut = await readFile(rssFile, 'utf8').catch(() => '')
  await rm(rssFile, {force: true})
  if (code !== 0) {
    const tail = (stderr + stdout).trim().split('\n').slice(-15).join('\n')
    throw new Error(`${options.label}: exit ${code}\n  ${cmd} ${args.join(' ')}\n${tail}`)
  }
  const rssKB = Number(timeOut.trim().split('\n').at(-1))
  return {ms, rssKB, treeKB: Math.max(treeKB, rssKB), stdout, stderr}
}

/** GNU time, installed with apt-get when it is missing (the bench needs its %M). */
function ensureGnuTime(): void {
  const works = () => spawnSync(TIME, ['-f', '%M', 'true'], {encoding: 'utf8'}).status === 0
  if (works()) return
  process.stderr.write('bench: GNU time is missing: apt-get install -y time\n')
  if (spawnSync('apt-get', ['install', '-y', 'time'], {stdio: 'inherit'}).status !== 0) {
    spawnSync('apt-get', ['update'], {stdio: 'inherit'})
    spawnSync('apt-get', ['install', '-y', 'time'], {stdio: 'inherit'})
  }
  if (!works()) throw new Error('bench: /usr/bin/time (GNU time, Debian package "time") is needed to measure peak RSS')
}

// ---------------------------------------------------------------------------------------------
// The sides

interface Side {
  name: string
  /** Runs once; `dir` is its own empty folder under .cache/bench/run. */
  run: (dir: string, round: number) => Promise<Measure>
}

const ourEnv = (dir: string): NodeJS.ProcessEnv => ({...process.env, TMPDIR: join(dir, 'tmp'), XDG_CACHE_HOME: join(dir, 'xdg')})

/** Our CLI, with a store, temp folder and cache of its own: nothing carries over from one round to the next. */
function ours(args: (dir: string) => string[], nodeFlags: string[] = []): Side['run'] {
  return async (dir) => {
    await mkdir(join(dir, 'tmp'), {recursive: true})
    return measure('node', [...nodeFlags, 'bin/run.js', ...args(dir), '--store', join(dir, 'store'), '--json'], {env: ourEnv(dir), label: 'stagex-image'})
  }
}

const oursRootfs = (image: BenchImage, nodeFlags?: string[]) => ours((dir) => ['rootfs', image.profiles.initramfs, '--out', join(dir, 'rootfs.tar')], nodeFlags)
const oursBuild = (profile: string, nodeFlags?: string[]) => ours((dir) => ['build', profile, '--out', join(dir, 'out')], nodeFlags)

const rootless = process.getuid?.() !== 0 ? ['--rootless'] : []

function umoci(image: BenchImage): Side['run'] {
  return async (dir) => {
    await mkdir(join(dir, 'tmp'), {recursive: true})
    return measure('umoci', ['raw', 'unpack', ...rootless, '--image', `${image.layout}:${IMAGE_REF}`, join(dir, 'rootfs')], {
      env: {...process.env, TMPDIR: join(dir, 'tmp')},
      label: 'umoci',
    })
  }
}

/** The script StageX users write for an initramfs, timed whole (bash included). */
const SCRIPT = `set -euo pipefail
umoci raw unpack $ROOTLESS --image "$LAYOUT" "$WORK/rootfs"
cd "$WORK/rootfs"
find . | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet | gzip -n -9 > "$WORK/initramfs.cpio.gz"
`

function script(image: BenchImage): Side['run'] {
  return async (dir) => {
    await mkdir(join(dir, 'tmp'), {recursive: true})
    return measure('bash', ['-c', SCRIPT], {
      env: {...process.env, TMPDIR: join(dir, 'tmp'), WORK: dir, LAYOUT: `${image.layout}:${IMAGE_REF}`, ROOTLESS: rootless.join(' ')},
      label: 'umoci + cpio + gzip script',
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Sanity: both sides must produce the same tree, or the times compare unlike work.

interface Listing {
  paths: Set<string>
  files: number
  bytes: number
}

const normalize = (name: string) => name.replace(/^\.\//, '').replace(/\/+$/, '')

/** Paths, regular files and their bytes in a tar (hardlinks are paths without bytes). */
async function listTar(file: string): Promise<Listing> {
  const extract = tarStream.extract()
  const listing: Listing = {paths: new Set(), files: 0, bytes: 0}
  const feeding = new Promise<void>((res, rej) => {
    extract.on('error', rej)
    createReadStream(file).on('error', rej).pipe(extract)
    extract.on('finish', res)
  })
  for await (const entry of extract) {
    const name = normalize(entry.header.name)
    if (name !== '' && name !== '.') listing.paths.add(name)
    if (entry.header.type === 'file' || entry.header.type === 'link') listing.files++
    if (entry.header.type === 'file') listing.bytes += entry.header.size ?? 0
    entry.resume()
  }
  await feeding
  return listing
}

/** Paths, regular files and bytes (each inode once) of an unpacked tree. */
function listTree(root: string): Listing {
  const out = spawnSync('find', [root, '-mindepth', '1', '-printf', '%y %i %s %P\\n'], {encoding: 'utf8', maxBuffer: 1 << 30})
  if (out.status !== 0) throw new Error(`find ${root}: ${out.stderr}`)
  const listing: Listing = {paths: new Set(), files: 0, bytes: 0}
  const inodes = new Set<string>()
  for (const line of out.stdout.split('\n')) {
    if (!line) continue
    const [type, inode, size] = line.split(' ', 3)
    listing.paths.add(line.split(' ').slice(3).join(' '))
    if (type !== 'f') continue
    listing.files++
    if (!inodes.has(inode!)) listing.bytes += Number(size)
    inodes.add(inode!)
  }
  return listing
}

/** Names in a gzip'd newc cpio, through the host's gzip and cpio. */
function listCpio(file: string): Set<string> {
  const out = spawnSync('bash', ['-c', 'gzip -dc "$F" | cpio -it --quiet'], {env: {...process.env, F: file}, encoding: 'utf8', maxBuffer: 1 << 30})
  if (out.status !== 0) throw new Error(`cpio -t ${file}: ${out.stderr}`)
  return new Set(out.stdout.split('\n').map(normalize).filter((n) => n !== '' && n !== '.'))
}

/** Every tree the kernel gets from us holds /dev/console (src/rootfs/shape.ts): expected, not a difference. */
const OUR_EXTRAS = new Set(['dev/console'])

function compareSets(ourName: string, oursSet: Set<string>, peerName: string, peerSet: Set<string>, expected: Set<string>): {ok: boolean; line: string} {
  const onlyOurs = [...oursSet].filter((p) => !peerSet.has(p) && !OUR_EXTRAS.has(p))
  const onlyPeer = [...peerSet].filter((p) => !oursSet.has(p))
  const offModel = [...peerSet].filter((p) => !expected.has(p)).length + [...expected].filter((p) => !peerSet.has(p)).length
  const ok = onlyOurs.length === 0 && onlyPeer.length === 0
  const show = (list: string[]) => list.slice(0, 8).join(', ') + (list.length > 8 ? `, ... (${list.length})` : '')
  const line = ok
    ? `same paths: ${ourName} ${oursSet.size.toLocaleString('en')} = ${peerName} ${peerSet.size.toLocaleString('en')} + /dev/console (which every tree of ours has)` +
      (offModel === 0 ? '; both equal to the generator\'s expected tree' : `; WARNING: ${offModel} paths differ from the generator's expected tree`)
    : `WARNING: paths differ: only in ${ourName}: ${show(onlyOurs) || 'none'}; only in ${peerName}: ${show(onlyPeer) || 'none'}`
  if (!ok || offModel > 0) process.stderr.write(`bench: ${line}\n`)
  return {ok: ok && offModel === 0, line}
}

async function expectedPaths(image: BenchImage): Promise<Set<string>> {
  return new Set((await readFile(image.pathsFile, 'utf8')).split('\n').filter(Boolean))
}

// ---------------------------------------------------------------------------------------------
// Rounds

interface Series {
  name: string
  ms: number[]
  rssKB: number[]
  treeKB: number[]
}

interface Result {
  comparison: Comparison
  ours: Series
  peer?: Series
  checks: string[]
  notes: string[]
}

const sync = () => spawnSync('sync')

/** Runs the sides `rounds` times, alternating which goes first; every run starts from an empty folder. */
async function rounds(
  comparison: Comparison,
  sides: Side[],
  check: (dirs: string[], results: Measure[]) => Promise<string[]>,
): Promise<{series: Series[]; checks: string[]}> {
  const series = sides.map((s) => ({name: s.name, ms: [] as number[], rssKB: [] as number[], treeKB: [] as number[]}))
  let checks: string[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const order = sides.map((_, i) => i)
    if (r % 2 === 1) order.reverse()
    const dirs = sides.map((_, i) => join(RUN, `${comparison}-${i === 0 ? 'ours' : 'peer'}`))
    const results: Measure[] = []
    for (const i of order) {
      await rm(dirs[i]!, {recursive: true, force: true})
      await mkdir(dirs[i]!, {recursive: true})
      sync() // the previous run's writeback is not this run's cost
      const m = await sides[i]!.run(dirs[i]!, r)
      sync()
      results[i] = m
      series[i]!.ms.push(m.ms)
      series[i]!.rssKB.push(m.rssKB)
      series[i]!.treeKB.push(m.treeKB)
      process.stderr.write(`bench: ${comparison} round ${r + 1}/${ROUNDS}: ${sides[i]!.name} ${(m.ms / 1000).toFixed(1)} s, peak RSS ${(m.rssKB / 1024).toFixed(0)} MB (tree ${(m.treeKB / 1024).toFixed(0)} MB)\n`)
    }
    if (r === 0) checks = await check(dirs, results)
    for (const d of dirs) await rm(d, {recursive: true, force: true})
  }
  return {series, checks}
}

async function runRootfs(image: BenchImage): Promise<Result> {
  const expected = await expectedPaths(image)
  const shas = new Set<string>()
  const {series, checks} = await rounds('rootfs', [{name: 'stagex-image rootfs', run: oursRootfs(image)}, {name: 'umoci raw unpack', run: umoci(image)}], async (dirs, results) => {
    const tar = await listTar(join(dirs[0]!, 'rootfs.tar'))
    const tree = listTree(join(dirs[1]!, 'rootfs'))
    const same = compareSets('our tar', tar.paths, "umoci's tree", tree.paths, expected)
    const bytes =
      tar.bytes === tree.bytes && tar.files === tree.files
        ? `same content: ${tar.files.toLocaleString('en')} regular files (hardlinks included), ${(tar.bytes / 1e6).toFixed(1)} MB on both sides`
        : `WARNING: content differs: our tar ${tar.files} files, ${tar.bytes} bytes; umoci's tree ${tree.files} files, ${tree.bytes} bytes`
    if (bytes.startsWith('WARNING')) process.stderr.write(`bench: ${bytes}\n`)
    shas.add(JSON.parse(results[0]!.stdout).sha256)
    return [same.line, bytes]
  })
  return {comparison: 'rootfs', ours: series[0]!, peer: series[1], checks, notes: shas.size ? [`our tar's sha256 (round 1): ${[...shas][0]}`] : []}
}

async function runInitramfs(image: BenchImage): Promise<Result> {
  const expected = await expectedPaths(image)
  const {series, checks} = await rounds(
    'initramfs',
    [
      {name: 'stagex-image build (kernel + initramfs)', run: oursBuild(image.profiles.initramfs)},
      {name: 'script: umoci + find | sort | cpio | gzip -9', run: script(image)},
    ],
    async (dirs) => {
      const ourCpio = join(dirs[0]!, 'out', 'initramfs.cpio.gz')
      const theirs = join(dirs[1]!, 'initramfs.cpio.gz')
      const same = compareSets('our initramfs', listCpio(ourCpio), "the script's", listCpio(theirs), expected)
      const size = (f: string) => Number(spawnSync('stat', ['-c', '%s', f], {encoding: 'utf8'}).stdout)
      return [same.line, `initramfs size: ours ${(size(ourCpio) / 1e6).toFixed(1)} MB, the script's (gzip -9) ${(size(theirs) / 1e6).toFixed(1)} MB`]
    },
  )
  const note = 'Ours also writes vmlinuz (copied from the kernel package), build.json and the SBOM; the script writes the initramfs only'
  return {comparison: 'initramfs', ours: series[0]!, peer: series[1], checks, notes: [note]}
}

async function runUki(image: BenchImage): Promise<Result> {
  const {series, checks} = await rounds('uki', [{name: 'stagex-image build (disk + uki)', run: oursBuild(image.profiles.uki)}], async (dirs) => {
    const out = join(dirs[0]!, 'out')
    const files = (await readdir(out)).filter((f) => /\.(raw|efi)$/.test(f))
    const sizes = files.map((f) => `${f} ${(Number(spawnSync('stat', ['-c', '%s', join(out, f)], {encoding: 'utf8'}).stdout) / 1e6).toFixed(1)} MB`)
    return [`outputs: ${sizes.join(', ')}`]
  })
  return {comparison: 'uki', ours: series[0]!, checks, notes: []}
}

// ---------------------------------------------------------------------------------------------
// CPU profiles: our side once more under --cpu-prof, and the functions with the most self time.

interface CpuProfile {
  nodes: {id: number; callFrame: {functionName: string; url: string; lineNumber: number}; hitCount?: number}[]
  startTime: number
  endTime: number
  samples?: number[]
  timeDeltas?: number[]
}

/** Self time per function (µs): each sample lasts until the next one (as DevTools counts it). */
export function selfTimes(profile: CpuProfile): {name: string; where: string; us: number}[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  if (samples.length > 0) {
    for (let i = 0; i < samples.length; i++) {
      const us = i + 1 < deltas.length ? deltas[i + 1]! : (profile.endTime - profile.startTime) / samples.length
      self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + Math.max(0, us))
    }
  } else {
    const interval = (profile.endTime - profile.startTime) / Math.max(1, profile.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0))
    for (const n of profile.nodes) self.set(n.id, (n.hitCount ?? 0) * interval)
  }
  const total = new Map<string, {name: string; where: string; us: number}>()
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame
    const file = frame.url.startsWith('file:') ? relative(REPO, fileURLToPath(frame.url)) : frame.url
    const where = file ? `${file}:${frame.lineNumber + 1}` : ''
    const name = frame.functionName || '(anonymous)'
    const key = `${name} ${where}`
    const t = total.get(key) ?? {name, where, us: 0}
    t.us += us
    total.set(key, t)
  }
  return [...total.values()].sort((a, b) => b.us - a.us)
}

async function profileOurs(comparison: Comparison, image: BenchImage): Promise<string> {
  const dir = join(PROF, comparison)
  await rm(dir, {recursive: true, force: true})
  await mkdir(dir, {recursive: true})
  const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`]
  const run = comparison === 'rootfs' ? oursRootfs(image, flags) : oursBuild(comparison === 'uki' ? image.profiles.uki : image.profiles.initramfs, flags)
  const work = join(RUN, `${comparison}-profile`)
  await rm(work, {recursive: true, force: true})
  await mkdir(work, {recursive: true})
  const m = await run(work, 0)
  await rm(work, {recursive: true, force: true})
  const lines = [`### CPU profile: ${comparison} (one run under node --cpu-prof: ${(m.ms / 1000).toFixed(1)} s wall, peak RSS ${(m.rssKB / 1024).toFixed(0)} MB)`]
  // One file per thread (workers write their own).
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile
    const totalUs = profile.endTime - profile.startTime
    const top = selfTimes(profile).slice(0, 15)
    // Node names them CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
    const thread = Number(file.split('.')[4])
    const who = thread === 0 ? 'main thread' : `worker thread ${thread}`
    lines.push('', `${who}, ${relative(REPO, join(dir, file))}: ${(totalUs / 1e6).toFixed(1)} s profiled`, '', '| self ms | % | function | where |', '|---:|---:|---|---|')
    for (const t of top) lines.push(`| ${(t.us / 1000).toFixed(0)} | ${((t.us / totalUs) * 100).toFixed(1)} | ${t.name} | ${t.where} |`)
  }
  const text = `${lines.join('\n')}\n`
  await writeFile(join(dir, 'summary.md'), text)
  return text
}

// ---------------------------------------------------------------------------------------------
// Report

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, {encoding: 'utf8'})
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.trim() || `${cmd} (version unknown)`
}

function machine(): string {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? 'unknown CPU'
  const fsType = spawnSync('stat', ['-f', '-c', '%T', RUN], {encoding: 'utf8'}).stdout.trim()
  return (
    `${cpu}, nproc ${availableParallelism()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}, ` +
    `${fsType || 'unknown'} file system under .cache/bench/run; Node.js ${process.version}, ${version('umoci', ['--version'])}, ` +
    `${version('cpio', ['--version'])}, ${version('gzip', ['--version'])}, ${version('bash', ['--version']).replace(/ \(.*$/, '')}`
  )
}

const GOALS: Record<Comparison, {ratio?: number; rssMB: number}> = {
  rootfs: {ratio: 0.5, rssMB: RSS_GOAL_MB},
  initramfs: {ratio: 0.7, rssMB: RSS_GOAL_MB},
  uki: {rssMB: RSS_GOAL_MB},
}

const TITLES: Record<Comparison, string> = {
  rootfs: '### rootfs: `stagex-image rootfs` (a tar) against `umoci raw unpack` (a tree)',
  initramfs: '### initramfs: `stagex-image build` (kernel + gzip initramfs) against umoci + cpio + gzip',
  uki: '### disk + UKI: `stagex-image build` with `outputs: [disk, uki]` (no peer)',
}

function table(result: Result): string[] {
  const goal = GOALS[result.comparison]
  const base = result.peer ? median(result.peer.ms) : median(result.ours.ms)
  const row = (s: Series) =>
    `| ${s.name.replace(/\|/g, '\\|')} | ${sec(median(s.ms))} | ${sec(Math.min(...s.ms))} | ${sec(Math.max(...s.ms))} | ${(median(s.ms) / base).toFixed(2)} | ${mb(Math.max(...s.rssKB))} | ${mb(Math.max(...s.treeKB))} |`
  const lines = [
    TITLES[result.comparison],
    '',
    `| side | median | min | max | median / ${result.peer ? 'peer' : 'ours'} | peak RSS, largest process | peak RSS, process tree (sampled) |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    row(result.ours),
    ...(result.peer ? [row(result.peer)] : []),
    '',
  ]
  const verdicts: string[] = []
  if (goal.ratio !== undefined && result.peer) {
    const ratio = median(result.ours.ms) / median(result.peer.ms)
    verdicts.push(`time: ours / peer = ${ratio.toFixed(2)} (goal at most ${goal.ratio}): ${ratio <= goal.ratio ? 'met' : `**not met**, ${(ratio / goal.ratio).toFixed(1)}x too slow`}`)
  }
  const peak = Math.max(...result.ours.rssKB, ...result.ours.treeKB) / 1024
  verdicts.push(`peak RSS of ours ${peak.toFixed(0)} MB, the largest of the rounds (goal under ${goal.rssMB} MB): ${peak < goal.rssMB ? 'met' : '**not met**'}`)
  lines.push(`Goals: ${verdicts.join('; ')}.`, '')
  lines.push(`Rounds, in seconds: ${[result.ours, ...(result.peer ? [result.peer] : [])].map((s) => `${s.name}: ${s.ms.map((m) => (m / 1000).toFixed(1)).join(', ')}`).join('; ')}.`)
  if (result.checks.length) lines.push(`Checks (round 1): ${result.checks.join('; ')}.`)
  for (const note of result.notes) lines.push(`${note}.`)
  lines.push('')
  return lines
}

function section(image: BenchImage, results: Result[]): string {
  const f = image.figures
  const layers = f.layers.map((l, i) => `${i + 1}: ${l.files.toLocaleString('en')} files, ${(l.bytes / 1e6).toFixed(0)} MB -> ${(l.size / 1e6).toFixed(0)} MB`).join('; ')
  return [
    `${HEADING}\`rootfs\` and \`build\` on a synthetic ${Math.round(f.bytes / 1e6)} MB image, against umoci (+ cpio, gzip)`,
    '',
    ...(PRELIMINARY
      ? ['**Preliminary**: taken on a shared 2-core machine while other work ran and while src/ was being changed; not the results. The final run is `npm run bench:image` on a quiet machine.', '']
      : []),
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${machine()}.`,
    '',
    `Image (bench/image/generate.ts, generator v${f.generator}): ${describe(f)}. Layers (${f.compressor}): ${layers}. ` +
      'Layers 2-4 hold whiteouts of files and directories, opaque directories, files replaced by symlinks, directories by files, ' +
      'symlinks by files, a file by a directory, hardlinks, and entries written through `lib -> usr/lib`, `bin -> usr/bin` and `usr/lib64 -> /usr/lib`. ' +
      `The tars (diff_ids) are the same on every machine for a seed; the gzip bytes depend on the host's gzip. Made in ${f.generationSeconds.toFixed(0)} s, cached in .cache/bench/image/.`,
    '',
    `Method: ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}; in each, every side runs once as a whole process (wall time from spawn to exit), the sides alternating which goes first. ` +
      'Every run starts from empty folders of its own under .cache/bench/run (ours: output, `--store`, TMPDIR and XDG_CACHE_HOME; the peer: its rootfs and TMPDIR), ' +
      'so nothing carries over between rounds; `sync` (untimed) before and after each run, so no side pays for the other\'s writeback. ' +
      'Nothing is dropped from the page cache: the layout is warm for both sides. ' +
      'Profiles have `prune: none` and no `trust:` (umoci prunes and verifies nothing), so both sides handle the same tree. ' +
      'Peak RSS: "largest process" is GNU time\'s %M (for the script: its largest process, umoci, cpio, gzip, ..., not their sum); ' +
      '"process tree" is the largest sum over the process and its descendants, sampled from /proc every 100 ms (for the script: what its pipeline holds at once).',
    '',
    ...results.flatMap(table),
    'Run it again with `npm run bench:image` (builds dist/ first; `-- --rounds N`, `--only rootfs,initramfs,uki`, `--profile` for CPU profiles of our side, `--no-build`). ' +
      'The image is made on the first run (about a minute) and reused.',
    '',
  ].join('\n')
}

async function writeSection(text: string): Promise<void> {
  // Re-read just before writing: other benchmarks keep their own sections in the same file.
  const existing = await readFile(RESULTS, 'utf8').catch(() => '# Benchmarks\n')
  const at = existing.indexOf(`\n${HEADING}`)
  const next = at < 0 ? -1 : existing.indexOf('\n## ', at + 1)
  const report =
    at < 0 ? `${existing.trimEnd()}\n\n${text}` : `${existing.slice(0, at + 1)}${text}${next < 0 ? '' : `\n${existing.slice(next + 1)}`}`
  await writeFile(RESULTS, report)
}

// ---------------------------------------------------------------------------------------------

ensureGnuTime()
if (!argv.includes('--no-build')) {
  process.stderr.write('bench: npm run build (dist/ from src/)\n')
  if (spawnSync('npm', ['run', '-s', 'build'], {cwd: REPO, stdio: 'inherit'}).status !== 0) throw new Error('bench: npm run build failed (use --no-build to bench dist/ as it is)')
}
const image = await ensureBenchImage({seed: flag('--seed')})
process.stderr.write(`bench: image ${describe(image.figures)}\n`)
// Warm: every blob read once, so the first side of round 1 does not pay for the disk alone.
for (const blob of await readdir(join(image.layout, 'blobs', 'sha256'))) for await (const _ of createReadStream(join(image.layout, 'blobs', 'sha256', blob), {highWaterMark: 1 << 20}));
await rm(RUN, {recursive: true, force: true})

const results: Result[] = []
if (ROUNDS > 0) {
  if (ONLY.includes('rootfs')) results.push(await runRootfs(image))
  if (ONLY.includes('initramfs')) results.push(await runInitramfs(image))
  if (ONLY.includes('uki')) results.push(await runUki(image))
  const text = section(image, results)
  await writeSection(text)
  process.stdout.write(`${text}\n`)
}
if (PROFILE) for (const c of ONLY) process.stdout.write(`\n${await profileOurs(c, image)}`)
if (existsSync(RUN)) await rm(RUN, {recursive: true, force: true})
process.stdout.write(`(${basename(RESULTS)}: section "${HEADING.trim()}" ${ROUNDS > 0 ? 'rewritten' : 'unchanged'})\n`)
