// Benchmark: writing the ESP of profiles/minimal-syslinux.yaml (syslinux.efi, ldlinux.e64,
// syslinux.cfg, kernel, initramfs) with our FAT32 writer, side by side with the host tools
// (mkfs.vfat, then mmd and mcopy of the same files into an image of the same size). Both sides start
// from the same files on disk and end with the image file written. Repeated runs, medians, and a
// section in bench/RESULTS.md with the machine and the date (other sections are left as they are).
//
//   node --import tsx bench/esp/esp.ts [--runs 11]
import {execFile, execFileSync} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {cpus, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {bytesSource} from '../../src/formats/bytes.js'
import {writeFat32Stream} from '../../src/formats/fat32.js'
import {parseSeed} from '../../src/formats/seed.js'
import {buildDisk} from '../../src/image/disk.js'
import {ESP_PATHS, syslinuxConfig} from '../../src/image/loader.js'
import {build} from '../../src/pipeline/pipeline.js'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const runsFlag = process.argv.indexOf('--runs')
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 11
const env = {...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C'}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const ms = (n: number) => `${n.toFixed(1)} ms`

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - start) / 1e6
}

const work = await mkdtemp(join(tmpdir(), 'stagex-bench-esp-'))
try {
  // The inputs: what the minimal-syslinux build puts on its ESP, as files on disk.
  const built = await build({profilePath: join(REPO, 'profiles/minimal-syslinux.yaml'), outDir: join(work, 'out')})
  const world = JSON.parse(await readFile(join(REPO, '.cache/world/oci/world.json'), 'utf8'))
  const inputs: {esp: string; from: string}[] = [
    {esp: ESP_PATHS.bootloader, from: world.sources.syslinuxEfi.path},
    {esp: ESP_PATHS.ldlinux, from: world.sources.ldlinuxE64.path},
    {esp: ESP_PATHS.syslinuxCfg, from: join(work, 'syslinux.cfg')},
    {esp: ESP_PATHS.kernel, from: built.outputs.find((o) => o.kind === 'kernel')!.path},
    {esp: ESP_PATHS.initrd, from: built.outputs.find((o) => o.kind === 'initramfs')!.path},
  ]
  await writeFile(join(work, 'syslinux.cfg'), syslinuxConfig(built.profile.cmdline))
  const espSize = built.record.stages.esp!.size
  const totalBytes = (await Promise.all(inputs.map((i) => readFile(i.from)))).reduce((n, b) => n + b.length, 0)

  const ours = async (out: string) => {
    const files = await Promise.all(inputs.map(async (i) => ({path: i.esp, source: bytesSource(new Uint8Array(await readFile(i.from)))})))
    await writeFile(out, writeFat32Stream({files, volumeId: 0x12345678, label: 'ESP', sourceDateEpoch: 1, sizeBytes: espSize, hiddenSectors: 2048}))
  }
  const host = async (out: string) => {
    await rm(out, {force: true})
    await run('mkfs.vfat', ['-F', '32', '-n', 'ESP', '-i', '12345678', '-C', out, String(espSize / 1024)], {env})
    await run('mmd', ['-i', out, '::/EFI', '::/EFI/BOOT'], {env})
    await run('mcopy', ['-i', out, inputs[0]!.from, '::/EFI/BOOT/BOOTX64.EFI'], {env})
    await run('mcopy', ['-i', out, inputs[1]!.from, '::/EFI/BOOT/LDLINUX.E64'], {env})
    await run('mcopy', ['-i', out, inputs[2]!.from, '::/EFI/BOOT/SYSLINUX.CFG'], {env})
    await run('mcopy', ['-i', out, inputs[3]!.from, '::/LINUX'], {env})
    await run('mcopy', ['-i', out, inputs[4]!.from, '::/INITRD'], {env})
  }
  // The whole ESP + GPT disk stage of a build, for scale (no host-tool counterpart).
  const oursDisk = async (out: string) => {
    const files = await Promise.all(inputs.map(async (i) => ({path: i.esp, source: bytesSource(new Uint8Array(await readFile(i.from)))})))
    const disk = buildDisk({files, seed: parseSeed('00'.repeat(16)), sourceDateEpoch: 1})
    await writeFile(out, disk.disk())
  }

  // Warm-up (page cache, JIT), then alternate the sides so neither gets a cold or warm bias.
  await ours(join(work, 'ours.img'))
  await host(join(work, 'host.img'))
  const times = {ours: [] as number[], host: [] as number[], disk: [] as number[]}
  for (let i = 0; i < RUNS; i++) {
    times.ours.push(await timed(() => ours(join(work, 'ours.img'))))
    times.host.push(await timed(() => host(join(work, 'host.img'))))
    times.disk.push(await timed(() => oursDisk(join(work, 'disk.raw'))))
  }
  // Both images must hold the same files (fsck clean): the comparison is of equal work.
  for (const image of ['ours.img', 'host.img']) execFileSync('fsck.fat', ['-n', join(work, image)])

  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}).split('\n')[0]!.trim()
    } catch (error) {
      return String((error as {stdout?: string}).stdout ?? '').split('\n')[0]!.trim()
    }
  }
  const cpu = cpus()
  const row = (name: string, t: number[], base: number) =>
    `| ${name} | ${ms(median(t))} | ${ms(Math.min(...t))} | ${ms(Math.max(...t))} | ${(median(t) / base).toFixed(2)} |`
  const base = median(times.ours)
  const section = [
    '## ESP: our FAT32 writer against `mkfs.vfat` + `mcopy`',
    '',
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpu[0]?.model.trim()}, ${cpu.length} cores (shared with other work), Node.js ${process.version}, ${version('mkfs.fat', ['--help']) || 'mkfs.fat'}, ${version('mcopy', ['--version'])}.`,
    '',
    `The ESP of profiles/minimal-syslinux.yaml: 5 files (syslinux.efi, ldlinux.e64, syslinux.cfg, kernel, initramfs; ${(totalBytes / 1e6).toFixed(1)} MB) in a ${espSize / 1024 / 1024} MiB FAT32 volume; ${RUNS} runs, sides alternated after one warm-up each.`,
    'Ours: read the 5 files, stream writeFat32Stream into the image file (in one process, as the build does). Host: `mkfs.vfat -F 32 -C` of the same size, `mmd`, then one `mcopy` per file (as an image script does; each tool is its own process).',
    'Our process start is not counted (it is part of `build`, about 0.3 s for the CLI); the host side pays seven process starts. Both images pass `fsck.fat -n`. Ours writes every byte of the volume; mkfs.vfat -C leaves the free space as a hole in the file.',
    '',
    '| writer | median | min | max | median / ours |',
    '|---|---|---|---|---|',
    row('stagex-image writeFat32Stream to the file', times.ours, base),
    row('mkfs.vfat + mmd + mcopy', times.host, base),
    row('(ours: ESP inside the GPT disk, disk file written)', times.disk, base),
    '',
    `Ratio (host tools / ours): ${(median(times.host) / base).toFixed(2)}. Goal: above 1.0 (faster than the host tools).`,
    '',
    'Run it again with `node --import tsx bench/esp/esp.ts` (needs `bash scripts/setup.sh` first).',
    '',
  ].join('\n')

  // Re-read just before writing: other benchmarks keep their own sections in the same file.
  const resultsPath = join(REPO, 'bench/RESULTS.md')
  let text = ''
  try {
    text = await readFile(resultsPath, 'utf8')
  } catch {
    text = '# Benchmarks\n\n'
  }
  const heading = '## ESP: '
  const at = text.indexOf(heading)
  if (at >= 0) {
    const next = text.indexOf('\n## ', at + heading.length)
    text = text.slice(0, at) + section + (next >= 0 ? text.slice(next + 1) : '')
  } else {
    text = `${text.replace(/\n*$/, '\n\n')}${section}`
  }
  await writeFile(resultsPath, text)
  process.stdout.write(`${section}\n`)
} finally {
  await rm(work, {recursive: true, force: true})
}
