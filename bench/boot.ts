// Benchmark: the boot-test harness's overhead. The minimal profile is built once; then, alternated
// each round, the time from spawning a process to the marker on the serial console:
//   bare     qemu-system-x86_64 with the very argv the harness uses (from `boot --json`), killed at the marker
//   boot     `node bin/run.js boot --kernel K --initrd I --expect MARKER --accel tcg`, until it exits 0
//   test     `node bin/run.js test profiles/minimal.yaml --accel tcg`, until it exits 0 (a rebuild included)
// Medians; the section "## Boot: " of bench/RESULTS.md is rewritten (the others stay), and printed.
//
//   npm run bench:boot [-- --rounds 5]
import {spawn, spawnSync} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {availableParallelism, release, tmpdir} from 'node:os'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(REPO, 'bin', 'run.js')
const PROFILE = join(REPO, 'profiles', 'minimal.yaml')
const RESULTS = join(REPO, 'bench', 'RESULTS.md')
const HEADING = '## Boot: '
const MARKER = 'STAGEX-APPLIANCE-OK minimal'
const argv = process.argv.slice(2)
const ROUNDS = Number(argv[argv.indexOf('--rounds') + 1] ?? 5) || 5
/** Every run is bounded: a hung QEMU must not hang the benchmark. */
const DEADLINE_MS = 120_000

/** Seconds from spawn until `done(stdout so far)` or the process exits 0; it is killed afterwards. */
function timed(command: string, args: string[], done?: (stdout: string) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, {stdio: ['pipe', 'pipe', 'ignore'], detached: true})
    let stdout = ''
    const finish = (error?: Error) => {
      clearTimeout(timer)
      const seconds = (performance.now() - started) / 1000
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // gone already
      }
      if (error) reject(error)
      else resolve(seconds)
    }
    const timer = setTimeout(() => finish(new Error(`${command} did not reach the marker within ${DEADLINE_MS / 1000}s`)), DEADLINE_MS)
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString('latin1')).slice(-4096)
      if (done?.(stdout)) finish()
    })
    child.on('exit', (code) => {
      if (done) {
        if (!done(stdout)) finish(new Error(`${command} exited (${code}) before the marker`))
      } else if (code === 0) finish()
      else finish(new Error(`${command} exited ${code}`))
    })
  })
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

async function writeSection(text: string): Promise<void> {
  // Re-read just before writing: other benchmarks keep their own sections in the same file.
  const existing = await readFile(RESULTS, 'utf8').catch(() => '# Benchmarks\n')
  const at = existing.indexOf(`\n${HEADING}`)
  const next = at < 0 ? -1 : existing.indexOf('\n## ', at + 1)
  const report = at < 0 ? `${existing.trimEnd()}\n\n${text}` : `${existing.slice(0, at + 1)}${text}${next < 0 ? '' : `\n${existing.slice(next + 1)}`}`
  await writeFile(RESULTS, report)
}

const work = await mkdtemp(join(tmpdir(), 'stagex-bench-boot-'))
try {
  const out = join(work, 'out')
  const built = spawnSync(process.execPath, [CLI, 'build', PROFILE, '--out', out], {stdio: 'inherit'})
  if (built.status !== 0) throw new Error('bench: build failed')
  const bootArgs = ['boot', '--kernel', join(out, 'vmlinuz'), '--initrd', join(out, 'initramfs.cpio.gz'), '--append', 'console=ttyS0 panic=-1 quiet', '--expect', MARKER, '--accel', 'tcg']
  const probe = spawnSync(process.execPath, [CLI, ...bootArgs, '--json'], {encoding: 'utf8', timeout: DEADLINE_MS})
  if (probe.status !== 0) throw new Error(`bench: boot failed: ${probe.stderr}`)
  const [qemu, ...qemuArgv] = (JSON.parse(probe.stdout) as {qemuArgv: string[]}).qemuArgv as [string, ...string[]]
  const times: Record<'bare' | 'boot' | 'test', number[]> = {bare: [], boot: [], test: []}
  for (let round = 1; round <= ROUNDS; round++) {
    times.bare.push(await timed(qemu, qemuArgv, (stdout) => stdout.includes(MARKER)))
    times.boot.push(await timed(process.execPath, [CLI, ...bootArgs]))
    times.test.push(await timed(process.execPath, [CLI, 'test', PROFILE, '--out', out, '--accel', 'tcg']))
    process.stderr.write(`bench: round ${round}/${ROUNDS}: bare ${times.bare.at(-1)!.toFixed(2)} s, boot ${times.boot.at(-1)!.toFixed(2)} s, test ${times.test.at(-1)!.toFixed(2)} s\n`)
  }
  const m = {bare: median(times.bare), boot: median(times.boot), test: median(times.test)}
  const row = (name: string, what: string, seconds: number) => `| ${name} | ${what} | ${seconds.toFixed(2)} | ${(seconds - m.bare >= 0 ? '+' : '') + (seconds - m.bare).toFixed(2)} |`
  const text = [
    `${HEADING}time to the marker, the harness against a bare \`qemu-system-x86_64\``,
    '',
    `profiles/minimal.yaml (Debian kernel, busybox initramfs), TCG, ${ROUNDS} rounds alternated, medians; ` +
      `${availableParallelism()} CPUs, Linux ${release()}, Node.js ${process.version}. \`npm run bench:boot\`.`,
    '',
    '| run | what | seconds to the marker | against bare |',
    '|---|---|---|---|',
    row('bare', 'qemu-system-x86_64 with the harness\'s argv, killed at the marker', m.bare),
    row('boot', '`stagex-image boot --kernel --initrd --expect`, until it exits 0', m.boot),
    row('test', '`stagex-image test profiles/minimal.yaml`, rebuild included, until it exits 0', m.test),
    '',
    `Every round: bare ${times.bare.map((t) => t.toFixed(2)).join(', ')}; boot ${times.boot.map((t) => t.toFixed(2)).join(', ')}; test ${times.test.map((t) => t.toFixed(2)).join(', ')}.`,
    '',
  ].join('\n')
  await writeSection(text)
  process.stdout.write(text)
} finally {
  await rm(work, {recursive: true, force: true})
}
