// Benchmark: pulling the fixture images into a cold store with `stagex-image pull`, side by side
// with `skopeo copy` of the same images from the same registry into an OCI layout (one process
// per image, one after the other, as a script would; and all at once). Repeated runs, medians,
// written to bench/RESULTS.md with the machine and the date.
//
//   npm run bench [-- --runs 9]
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ensureWorld, PACKAGE_NAMES, worldDir } from '../scripts/world/build-fixtures.js';
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
  // The same images, verified: 2 maintainer signatures per image from the test world's lookaside
  // (skopeo copy verifies nothing, so the rows to compare are the ones without trust:).
  const trustProfile = join(work, 'bench-trust.yaml');
  await writeFile(
    trustProfile,
    (await readFile(profile, 'utf8')) +
      ['trust:', `  keyring: ${join(worldDir(), 'keys', 'maintainers.pgp')}`, '  threshold: 2', `  lookaside: file://${join(worldDir(), 'sigs')}`, ''].join('\n'),
  );
  const mirror = `${registry.host}/stagex`;
  let totalBytes = 0;

  const ours: number[] = [];
  const oursTrusted: number[] = [];
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
    await rm(store, { recursive: true, force: true });
    oursTrusted.push(await timed(() => run('node', ['bin/run.js', 'pull', trustProfile, '--mirror', mirror, '--store', store, '--json'], { cwd: REPO })));
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
  const nodeOnly: number[] = [];
  for (let i = 0; i < RUNS; i++) nodeOnly.push(await timed(() => run('node', ['-e', '0'], { cwd: REPO })));

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const { stdout: skopeoVersion } = await run('skopeo', ['--version']);
  const { stdout: registryVersion } = await run('docker-registry', ['--version']);
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const row = (label: string, values: number[], base = ours) =>
    `| ${label} | ${ms(median(values))} | ${ms(Math.min(...values))} | ${ms(Math.max(...values))} | ${(median(values) / median(base)).toFixed(2)} |`;
  const ratio = median(skopeoSequential) / median(ours);
  const pullWork = median(ours) - median(startup);
  const verdict =
    ratio >= 1
      ? 'Goal met.'
      : `Goal not met: the start of the process alone (\`version\`, ${ms(median(startup))}: Node.js ${ms(median(nodeOnly))}, the rest oclif) ` +
        `is ${((median(startup) / median(skopeoSequential)) * 100).toFixed(0)}% of skopeo's whole time for the ${names.length} images; the pull itself ` +
        `(${ms(pullWork)} after the start: profile, resolve of ${names.length} images, layers, tag records) is ` +
        `${pullWork <= median(skopeoSequential) ? 'less than' : 'more than'} skopeo's ${ms(median(skopeoSequential))}. ` +
        'On the 2-core machine the registry (Go) and our process also compete for the CPU while several images are resolved and fetched at once.';
  const section = [
    '## Pull: `stagex-image pull` against `skopeo copy`',
    '',
    `Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${cpu}, ${cpus().length} cores, Node.js ${process.version}, ` +
      `${skopeoVersion.trim()}, ${registryVersion.trim()}.`,
    '',
    `${names.length} fixture images (${(totalBytes / 1e6).toFixed(1)} MB of configs and layers, the shared base layer counted once per image) ` +
      `from a docker-registry on 127.0.0.1 without auth; a cold store or an empty layout each run; ${RUNS} runs. ` +
      'Both sides are whole processes, from start to exit: `node bin/run.js pull PROFILE --mirror ... --store NEW --json` ' +
      '(one process, 4 parallel downloads) and `skopeo copy docker://... oci:DIR:NAME` for each image, one after the other ' +
      '(as a script would) and all at once.',
    '',
    'The bench profile has no `trust:` section, as `skopeo copy` verifies no signature either: the first row is the fair ' +
      'comparison. The row with `trust:` pulls the same images and verifies 2 maintainer signatures per image ' +
      '(OpenPGP, from a file:// lookaside), which loads openpgp.js and checks 10 signatures.',
    '',
    '| tool | median | min | max | median / stagex-image |',
    '|---|---|---|---|---|',
    row('stagex-image pull', ours),
    row('stagex-image pull, profile with `trust:` (2 signatures per image)', oursTrusted),
    row('skopeo copy, one after the other', skopeoSequential),
    row('skopeo copy, all at once', skopeoParallel),
    row('(process start only: `stagex-image version`)', startup),
    row('(Node.js alone: `node -e 0`)', nodeOnly),
    '',
    `Without the start of the process (median of \`version\`), stagex-image pulls in ${ms(pullWork)}. ` +
      `Signature verification adds ${ms(median(oursTrusted) - median(ours))}.`,
    `Ratio (skopeo, one after the other / stagex-image): ${ratio.toFixed(2)}. ` +
      `Goal: at least 1.0 (at least as fast as skopeo). ${verdict}`,
    '',
    `### One large image (${LARGE_MIB} MiB layer), whole processes`,
    '',
    '| tool | median | min | max | median / stagex-image |',
    '|---|---|---|---|---|',
    row('stagex-image pull', oursLarge, oursLarge),
    row('skopeo copy', skopeoLarge, oursLarge),
    '',
    `Ratio (skopeo / stagex-image): ${(median(skopeoLarge) / median(oursLarge)).toFixed(2)}. Without the start of the process, ` +
      `stagex-image pulls the large image in ${ms(median(oursLarge) - median(startup))} (skopeo, start included: ${ms(median(skopeoLarge))}): ` +
      (median(oursLarge) - median(startup) <= median(skopeoLarge)
        ? 'the difference is the start of the process.'
        : 'the data path is slower than skopeo as well as the start.'),
    '',
    'Run it again with `npm run bench` (needs `bash scripts/setup.sh` and `npm run build` first).',
    '',
  ].join('\n');
  // Only this section is rewritten: the other benchmarks' sections (ESP, ...) stay as they are.
  const resultsPath = join(REPO, 'bench', 'RESULTS.md');
  const existing = await readFile(resultsPath, 'utf8').catch(() => '# Benchmarks\n\n');
  const start = existing.indexOf('\n## Pull: ');
  const next = start < 0 ? -1 : existing.indexOf('\n## ', start + 1);
  const report =
    start < 0
      ? `${existing.trimEnd()}\n\n${section}`
      : `${existing.slice(0, start + 1)}${section}${next < 0 ? '' : `\n${existing.slice(next + 1)}`}`;
  await writeFile(resultsPath, report);
  process.stdout.write(section);
} finally {
  await registry.dispose();
  await rm(work, { recursive: true, force: true });
}
