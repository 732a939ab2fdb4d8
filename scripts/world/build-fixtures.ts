// Builds the fixture world: one StageX-shaped OCI image layout per package under $STAGEX_WORLD/oci
// (default <repo>/.cache/world/oci), plus world.json. Reused when nothing it is made of changed.
//
//   node --import tsx scripts/world/build-fixtures.ts [--force]
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { prepareLayer, writeOciImageLayout } from './oci-layout.js';
import { CONTAINER_CONFIG, coreFilesystemEntries, defaultSources, packageDefs, type Sources } from './packages.js';
import { withLock } from './lock.js';
import { normalizeEntries } from './tar.js';

/** Bump when the fixtures change in a way the inputs' hashes don't show. */
export const FIXTURES_VERSION = 'stagex-image-fixtures/1';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
/** The builder's own sources: a change to them rebuilds the world. */
const BUILDER_FILES = ['build-fixtures.ts', 'packages.ts', 'oci-layout.ts', 'tar.ts'].map((f) => join(HERE, f));

export const PACKAGE_NAMES = [
  'core-filesystem',
  'core-busybox',
  'user-linux-generic',
  'user-linux-nitro',
  'user-syslinux',
  'user-systemd-stub',
  // For the checks: a build image's tools (pruned, or refused), and a dynamic program apart from its libc.
  'user-devtools',
  'core-env',
  'core-glibc',
] as const;
export type PackageName = (typeof PACKAGE_NAMES)[number];

export interface WorldPackage {
  name: string;
  /** Absolute path of the package's OCI image layout; the image is `oci:<layout>:latest`. */
  layout: string;
  ref: string;
  indexDigest: string;
  manifestDigest: string;
  configDigest: string;
  /** Compressed layer digests, in order: [core-filesystem layer, package layer]. */
  layers: string[];
  diffIds: string[];
}

export interface World {
  version: string;
  stamp: string;
  oci: string;
  kernelPackage: string | null;
  sources: Record<string, { path: string; sha256: string }>;
  packages: Record<string, WorldPackage>;
}

export function worldDir(): string {
  return resolve(process.env.STAGEX_WORLD || join(REPO, '.cache', 'world'));
}

export function ociDir(world = worldDir()): string {
  return join(world, 'oci');
}

async function fileSha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

async function computeStamp(
  oci: string,
  sources: Sources,
): Promise<{ stamp: string; hashes: World['sources'] }> {
  const hashes: World['sources'] = {};
  for (const [key, path] of Object.entries(sources)) {
    if (!existsSync(path)) {
      throw new Error(`fixture input ${key} is missing: ${path} (run: bash scripts/setup.sh)`);
    }
    hashes[key] = { path, sha256: await fileSha256(path) };
  }
  const h = createHash('sha256');
  h.update(`${FIXTURES_VERSION}\n${oci}\n`);
  for (const [key, v] of Object.entries(hashes)) h.update(`${key} ${v.sha256}\n`);
  for (const f of BUILDER_FILES) h.update(`${f.slice(HERE.length + 1)} ${await fileSha256(f)}\n`);
  return { stamp: h.digest('hex'), hashes };
}

async function readStamp(oci: string): Promise<string | null> {
  try {
    return (await readFile(join(oci, '.stamp'), 'utf8')).trim();
  } catch {
    return null;
  }
}

export interface BuildOptions {
  world?: string;
  force?: boolean;
  sources?: Sources;
  log?: (line: string) => void;
}

function printWorld(world: World, log: (line: string) => void, status: string): void {
  log(`fixtures: ${status} ${world.oci} (stamp ${world.stamp.slice(0, 12)})`);
  for (const p of Object.values(world.packages)) log(`  ${p.name.padEnd(20)} ${p.manifestDigest}`);
}

/** Builds the world unless its stamp is current. */
export async function buildFixtures(opts: BuildOptions = {}): Promise<{ built: boolean; world: World }> {
  const world = resolve(opts.world ?? worldDir());
  const oci = ociDir(world);
  const log = opts.log ?? ((line: string) => console.log(line));
  const sources = opts.sources ?? defaultSources(world);
  const { stamp, hashes } = await computeStamp(oci, sources);

  const current = async (): Promise<World | null> => {
    if (opts.force || (await readStamp(oci)) !== stamp) return null;
    try {
      return JSON.parse(await readFile(join(oci, 'world.json'), 'utf8')) as World;
    } catch {
      return null;
    }
  };
  const early = await current();
  if (early) {
    printWorld(early, log, 'up to date');
    return { built: false, world: early };
  }

  await mkdir(world, { recursive: true });
  return withLock(join(world, '.oci.lock'), async () => {
    const again = await current();
    if (again) {
      printWorld(again, log, 'up to date');
      return { built: false, world: again };
    }
    // Leftovers of interrupted builds (we hold the lock, so nobody else is building).
    for (const name of await readdir(world)) {
      if (name.startsWith('.oci.tmp-') || name.startsWith('.oci.old-')) {
        await rm(join(world, name), { recursive: true, force: true });
      }
    }
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const tmp = join(world, `.oci.tmp-${tag}`);
    const old = join(world, `.oci.old-${tag}`);
    try {
      const built = await buildInto(tmp, oci, sources);
      const result: World = {
        version: FIXTURES_VERSION,
        stamp,
        oci,
        kernelPackage: await readFile(join(world, 'kernel', 'package'), 'utf8')
          .then((s) => s.trim())
          .catch(() => null),
        sources: hashes,
        packages: built,
      };
      await writeFile(join(tmp, 'world.json'), `${JSON.stringify(result, null, 2)}\n`);
      await writeFile(join(tmp, '.stamp'), `${stamp}\n`);
      const hadOld = existsSync(oci);
      if (hadOld) await rename(oci, old);
      await rename(tmp, oci);
      if (hadOld) await rm(old, { recursive: true, force: true });
      printWorld(result, log, 'built');
      return { built: true, world: result };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
}

/** Writes every package layout into `tmp`; the paths recorded are the final ones under `oci`. */
async function buildInto(tmp: string, oci: string, sources: Sources): Promise<Record<string, WorldPackage>> {
  await mkdir(tmp, { recursive: true });
  const base = await prepareLayer({ entries: coreFilesystemEntries(), sort: true, parents: true });
  const out: Record<string, WorldPackage> = {};
  for (const def of packageDefs(sources)) {
    const layers = [base];
    if (def.entries) {
      const entries = normalizeEntries(def.entries, { sort: true, parents: true });
      layers.push(await prepareLayer({ entries }));
    }
    const img = await writeOciImageLayout(join(tmp, def.name), { layers, containerConfig: CONTAINER_CONFIG });
    out[def.name] = {
      name: def.name,
      layout: join(oci, def.name),
      ref: 'latest',
      indexDigest: img.indexDigest!,
      manifestDigest: img.manifestDigest,
      configDigest: img.configDigest,
      layers: img.layers.map((l) => l.digest),
      diffIds: img.layers.map((l) => l.diffId),
    };
  }
  return out;
}

/** For tests: the world, built first if it is missing or stale (quietly). */
export async function ensureWorld(): Promise<World> {
  return (await buildFixtures({ log: () => {} })).world;
}

const invokedDirectly = process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  buildFixtures({ force: process.argv.includes('--force') }).catch((err: unknown) => {
    console.error(`fixtures: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
