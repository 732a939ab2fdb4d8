// Benchmark: pulling the fixture images into a cold store with `stagex-image pull`, side by side
// with `skopeo copy` of the same images from the same registry into an OCI layout (one process
// per image, one after the other, as a script would; and all at once). Repeated runs, medians,
// written to bench/RESULTS.md with the machine and the date.
//
//   npm run bench [-- --runs 9]
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureWorld, PACKAGE_NAMES } from '../scripts/world/build-fixtures.js';
import { randomBytes } from 'node:crypto';
import { writeOciImageLayout } from '../scripts/world/oci-layout.js';
import { pushFixtures, pushLayout, startRegistry } from '../scripts/world/registry.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const runsFlag = process.argv.indexOf('--runs');
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 7;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

await ensureWorld();
const work = await mkdtemp(join(tmpdir(), 'stagex-bench-'));
const registry = await startRegistry();
try {
  await pushFixtures(registry);
  const names = [...PACKAGE_NAMES];
  const kernel = 'user-linux-generic';
  const profile = join(work, 'bench.yaml');
  await writeFile(
    profile,
    [
      'name: bench',
      'registry: docker.io/stagex',
      'packages:',
      ...names.filter((n) => n !== kernel).map((n) => `  - ${n}`),
      'kernel:',
      `  package: ${kernel}`,
      '',
    ].join('\n'),
  );
  const mirror = `${registry.host}/stagex`;
  let totalBytes = 0;

  const ours: number[] = [];
  const skopeoSequential: number[] = [];
  const skopeoParallel: number[] = [];
  const skopeoCopy = (name: string, layout: string) =>
    run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/stagex/${name}:latest`, `oci:${layout}:${name}`]);

  for (let i = 0; i < RUNS; i++) {
    const store = join(work, `store-${i}`);
    ours.push(
      await timed(async () => {
        const { stdout } = await run('node', ['bin/run.js', 'pull', profile, '--mirror', mirror, '--store', store, '--json'], { cwd: REPO });
        if (i === 0) totalBytes = JSON.parse(stdout).images.reduce((sum: number, image: { size: number }) => sum + image.size, 0);
      }),
    );
    const sequential = join(work, `skopeo-seq-${i}`);
    skopeoSequential.push(
      await timed(async () => {
        for (const name of names) await skopeoCopy(name, sequential);
      }),
    );
    skopeoParallel.push(
      await timed(() => Promise.all(names.map((name) => skopeoCopy(name, join(work, `skopeo-par-${i}-${name}`))))),
    );
    await rm(store, { recursive: true, force: true });
  }

  // Throughput apart from process start: one image with a 64 MiB uncompressed layer of random bytes.
  const LARGE_MIB = 64;
  await writeOciImageLayout(join(work, 'large-layout'), {
    layers: [{ entries: [{ type: 'file', path: 'large.bin', data: randomBytes(LARGE_MIB * 1024 * 1024) }], compression: 'none' }],
  });
  await pushLayout(registry, `oci:${join(work, 'large-layout')}:latest`, 'stagex/large');
  const largeProfile = join(work, 'large.yaml');
  await writeFile(largeProfile, 'name: large\nregistry: docker.io/stagex\npackages:\n  - large\nkernel:\n  package: large\n');
  const oursLarge: number[] = [];
  const skopeoLarge: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const store = join(work, `large-store-${i}`);
    oursLarge.push(await timed(() => run('node', ['bin/run.js', 'pull', largeProfile, '--mirror', mirror, '--store', store, '--json'], { cwd: REPO })));
    await rm(store, { recursive: true, force: true });
    const layout = join(work, `large-skopeo-${i}`);
    skopeoLarge.push(await timed(() => skopeoCopy('large', layout)));
    await rm(layout, { recursive: true, force: true });
  }

  // The fixed cost of a Node.js + oclif process, which a Go binary does not pay.
  const startup: number[] = [];
  for (let i = 0; i < RUNS; i++) startup.push(await timed(() => run('node', ['bin/run.js', 'version', '--json'], { cwd: REPO })));

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const { stdout: skopeoVersion } = await run('skopeo', ['--version']);
  const { stdout: registryVersion } = await run('docker-registry', ['--version']);
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const row = (label: string, values: number[], base = ours) =>
    `| ${label} | ${ms(median(values))} | ${ms(Math.min(...values))} | ${ms(Math.max(...values))} | ${(median(values) / median(base)).toFixed(2)} |`;
  const report = [
    '# Benchmarks',
    '',
    '## Pull: `stagex-image pull` against `skopeo copy`',
    '',
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpu}, ${cpus().length} cores (shared with other work), Node.js ${process.version}, ` +
      `${skopeoVersion.trim()}, ${registryVersion.trim()}.`,
    '',
    `${names.length} fixture images (${(totalBytes / 1e6).toFixed(1)} MB of configs and layers, the shared base layer counted once per image) ` +
      `from a docker-registry on 127.0.0.1 without auth; a cold store or an empty layout each run; ${RUNS} runs. ` +
      'Both sides are whole processes, from start to exit: `node bin/run.js pull PROFILE --mirror ... --store NEW --json` ' +
      '(one process, 4 parallel downloads) and `skopeo copy docker://... oci:DIR:NAME` for each image, one after the other ' +
      '(as a script would) and all at once.',
    '',
    '| tool | median | min | max | median / stagex-image |',
    '|---|---|---|---|---|',
    row('stagex-image pull', ours),
    row('skopeo copy, one after the other', skopeoSequential),
    row('skopeo copy, all at once', skopeoParallel),
    row('(process start only: `stagex-image version`)', startup),
    '',
    `Without the start of the process (median of \`version\`), stagex-image pulls in ${ms(median(ours) - median(startup))}; ` +
      'the start is Node.js plus oclif, which loads every command module when it has no oclif.manifest.json.',
    `Ratio (skopeo, one after the other / stagex-image): ${(median(skopeoSequential) / median(ours)).toFixed(2)}. ` +
      `Goal: at least 1.0 (at least as fast as skopeo).`,
    '',
    `### One large image (${LARGE_MIB} MiB layer), whole processes`,
    '',
    '| tool | median | min | max | median / stagex-image |',
    '|---|---|---|---|---|',
    row('stagex-image pull', oursLarge, oursLarge),
    row('skopeo copy', skopeoLarge, oursLarge),
    '',
    'Run it again with `npm run bench` (needs `bash scripts/setup.sh` and `npm run build` first).',
    '',
  ].join('\n');
  await writeFile(join(REPO, 'bench', 'RESULTS.md'), report);
  process.stdout.write(report);
} finally {
  await registry.dispose();
  await rm(work, { recursive: true, force: true });
}
