// The test world signs: three test maintainer keys (and one outsider) made by gpg in a GNUPGHOME
// under the world cache, their public keyring, and a lookaside holding two signatures (maintainers
// 1 and 2) for every fixture package, made by `skopeo standalone-sign`. Maintainer 2's primary key
// can only certify: gpg signs with its signing subkey, as many real maintainers' keys do.
//
//   .cache/world/gnupg/                           GNUPGHOME (secret keys, no passphrase)
//   .cache/world/keys/maintainers.pgp             public keys of maintainers 1-3 (the profiles' keyring)
//   .cache/world/keys/outsider.pgp                a key that is in no keyring
//   .cache/world/keys/maintainers.json            names and fingerprints (primary and signing key)
//   .cache/world/sigs/stagex/<name>@sha256=<manifest hex>/signature-{1,2}
//
// Everything is made in temp folders beside its place and renamed into it, and reused while its stamp
// (the fixture world's stamp, the keys, this file) is unchanged. gpg always runs with
// --batch --pinentry-mode loopback --passphrase '', and its agent is stopped afterwards.
//
//   node --import tsx scripts/world/signing.ts [--force]
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ensureWorld, PACKAGE_NAMES, type World, worldDir } from './build-fixtures.js';
import { withLock } from './lock.js';

const execFileAsync = promisify(execFile);

/** Bump when what this file makes changes in a way its inputs don't show. */
export const SIGNING_VERSION = 'stagex-image-signing/1';
const HERE = fileURLToPath(import.meta.url);

export interface Maintainer {
  /** "maintainer-1", ... or "outsider". */
  id: string;
  userId: string;
  /** Upper-case hex fingerprint of the primary key: what counts. */
  fingerprint: string;
  /** The key gpg signs with: the primary, or maintainer 2's signing subkey. */
  signingFingerprint: string;
}

export interface SigningWorld {
  gnupgHome: string;
  /** Public keys of the three maintainers. */
  keyring: string;
  /** Public key of the outsider. */
  outsiderKeyring: string;
  maintainers: Maintainer[];
  outsider: Maintainer;
  /** The lookaside's root folder; its file:// URL is `lookasideUrl`. */
  lookaside: string;
  lookasideUrl: string;
  world: World;
}

const KEYS: { id: string; userId: string; primary: string; usage: string; subkey?: string }[] = [
  { id: 'maintainer-1', userId: 'Maintainer One (stagex-image test key) <one@maintainers.test>', primary: 'rsa3072', usage: 'sign,cert' },
  { id: 'maintainer-2', userId: 'Maintainer Two (stagex-image test key) <two@maintainers.test>', primary: 'ed25519', usage: 'cert', subkey: 'ed25519' },
  { id: 'maintainer-3', userId: 'Maintainer Three (stagex-image test key) <three@maintainers.test>', primary: 'ed25519', usage: 'sign,cert' },
  { id: 'outsider', userId: 'Outsider (not a maintainer) <outsider@elsewhere.test>', primary: 'ed25519', usage: 'sign,cert' },
];

const GPG_BATCH = ['--batch', '--pinentry-mode', 'loopback', '--passphrase', ''];

async function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { env, maxBuffer: 16 * 1024 * 1024, encoding: 'latin1' });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

const gpg = (home: string, args: string[]) => run('gpg', ['--homedir', home, ...GPG_BATCH, ...args]);

/** Stops the gpg-agent (and any other daemon) of a GNUPGHOME. */
export async function stopGpgAgent(home: string): Promise<void> {
  await run('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => {});
}

/** The primary and signing-capable (sub)key fingerprints of a key, from gpg's colon listing. */
async function fingerprintsOf(home: string, userId: string): Promise<{ primary: string; signing: string }> {
  const listing = await gpg(home, ['--with-colons', '--fingerprint', '--fingerprint', '--list-keys', `=${userId}`]);
  let primary: string | undefined;
  let signing: string | undefined;
  let current: 'pub' | 'sub' | undefined;
  let capabilities = '';
  for (const line of listing.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === 'pub' || fields[0] === 'sub') {
      current = fields[0];
      capabilities = fields[11] ?? '';
    } else if (fields[0] === 'fpr' && current) {
      const fingerprint = fields[9]!.toUpperCase();
      if (current === 'pub') primary ??= fingerprint;
      if (capabilities.includes('s')) signing ??= fingerprint;
      current = undefined;
    }
  }
  if (!primary || !signing) throw new Error(`gpg lists no signing key for ${userId}`);
  return { primary, signing };
}

const tempBeside = (path: string) => `${dirname(path)}/.${path.split(sep).pop()}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;

/** Replaces `target` by `tmp` in two renames: a reader sees the old folder or the new one, never half of one. */
async function swapIn(tmp: string, target: string): Promise<void> {
  const old = `${target}.old-${process.pid}-${randomBytes(3).toString('hex')}`;
  const had = existsSync(target);
  if (had) await rename(target, old);
  await rename(tmp, target);
  if (had) await rm(old, { recursive: true, force: true });
}

/** Makes the four keys in a new GNUPGHOME and exports the public keyrings; reused when keys/maintainers.json exists. */
async function ensureKeys(world: string): Promise<{ gnupgHome: string; maintainers: Maintainer[]; outsider: Maintainer }> {
  const gnupgHome = join(world, 'gnupg');
  const keysDir = join(world, 'keys');
  const listed = join(keysDir, 'maintainers.json');
  const read = async () => {
    try {
      const all = JSON.parse(await readFile(listed, 'utf8')) as Maintainer[];
      if (existsSync(join(gnupgHome, 'pubring.kbx')) && existsSync(join(keysDir, 'maintainers.pgp'))) return all;
    } catch {}
    return undefined;
  };
  let all = await read();
  if (!all) {
    const home = tempBeside(gnupgHome);
    const keys = tempBeside(keysDir);
    await mkdir(home, { recursive: true, mode: 0o700 });
    await chmod(home, 0o700);
    await mkdir(keys, { recursive: true });
    try {
      all = [];
      for (const key of KEYS) {
        await gpg(home, ['--quick-generate-key', key.userId, key.primary, key.usage, 'never']);
        if (key.subkey) {
          await gpg(home, ['--quick-add-key', await onlyPrimary(home, key.userId), key.subkey, 'sign', 'never']);
        }
        const { primary, signing } = await fingerprintsOf(home, key.userId);
        all.push({ id: key.id, userId: key.userId, fingerprint: primary, signingFingerprint: signing });
      }
      const maintainers = all.filter((m) => m.id !== 'outsider');
      await gpg(home, ['--output', join(keys, 'maintainers.pgp'), '--export', ...maintainers.map((m) => m.fingerprint)]);
      await gpg(home, ['--output', join(keys, 'outsider.pgp'), '--export', all.find((m) => m.id === 'outsider')!.fingerprint]);
      await writeFile(join(keys, 'maintainers.json'), `${JSON.stringify(all, null, 2)}\n`);
    } catch (error) {
      await stopGpgAgent(home);
      await rm(home, { recursive: true, force: true });
      await rm(keys, { recursive: true, force: true });
      throw error;
    }
    await stopGpgAgent(home);
    await swapIn(home, gnupgHome);
    await swapIn(keys, keysDir);
  }
  return { gnupgHome, maintainers: all.filter((m) => m.id !== 'outsider'), outsider: all.find((m) => m.id === 'outsider')! };
}

/** The primary fingerprint of a key that has no signing key yet (maintainer 2 before its subkey). */
async function onlyPrimary(home: string, userId: string): Promise<string> {
  const listing = await gpg(home, ['--with-colons', '--fingerprint', '--list-keys', `=${userId}`]);
  const line = listing.split('\n').find((l) => l.startsWith('fpr:'));
  if (!line) throw new Error(`gpg lists no key for ${userId}`);
  return line.split(':')[9]!.toUpperCase();
}

export interface SignOptions {
  gnupgHome: string;
  /** The manifest file, as pulled. */
  manifest: string;
  /** The identity the signature claims, e.g. docker.io/stagex/core-busybox:latest. */
  reference: string;
  /** The key to sign with: a primary fingerprint (gpg picks its signing subkey) or a subkey's. */
  fingerprint: string;
  output: string;
}

/** One simple-signing signature made by `skopeo standalone-sign`. The caller stops the agent (stopGpgAgent). */
export async function standaloneSign(options: SignOptions): Promise<void> {
  await mkdir(dirname(options.output), { recursive: true });
  await run('skopeo', ['standalone-sign', options.manifest, options.reference, options.fingerprint, '--output', options.output], {
    ...process.env,
    GNUPGHOME: options.gnupgHome,
  });
}

/** `<lookaside root>/stagex/<name>@sha256=<hex>`: where an image's signatures live. */
export const signatureFolder = (lookaside: string, name: string, manifestDigest: string) =>
  join(lookaside, 'stagex', `${name}@sha256=${manifestDigest.replace(/^sha256:/, '')}`);

/** The manifest blob of a fixture package inside its OCI layout. */
export const manifestFile = (world: World, name: string) =>
  join(world.packages[name]!.layout, 'blobs', 'sha256', world.packages[name]!.manifestDigest.replace(/^sha256:/, ''));

async function signingStamp(world: World, maintainers: Maintainer[]): Promise<string> {
  const h = createHash('sha256');
  h.update(`${SIGNING_VERSION}\n${world.stamp}\n`);
  for (const m of maintainers) h.update(`${m.fingerprint} ${m.signingFingerprint}\n`);
  h.update(createHash('sha256').update(await readFile(HERE)).digest('hex'));
  return h.digest('hex');
}

export interface EnsureSigningOptions {
  force?: boolean;
  log?: (line: string) => void;
}

/** Keys, keyring and the signed lookaside of the fixture world, made or reused. */
export async function ensureSigningWorld(options: EnsureSigningOptions = {}): Promise<SigningWorld> {
  const log = options.log ?? (() => {});
  const world = await ensureWorld();
  const root = resolve(worldDir());
  const lookaside = join(root, 'sigs');
  return withLock(join(root, '.signing.lock'), async () => {
    const { gnupgHome, maintainers, outsider } = await ensureKeys(root);
    const stamp = await signingStamp(world, maintainers);
    const current = (await readFile(join(lookaside, '.stamp'), 'utf8').catch(() => '')).trim();
    if (options.force || current !== stamp) {
      const tmp = tempBeside(lookaside);
      try {
        for (const name of PACKAGE_NAMES) {
          const pkg = world.packages[name]!;
          const folder = signatureFolder(tmp, name, pkg.manifestDigest);
          for (const [index, maintainer] of maintainers.slice(0, 2).entries())
            await standaloneSign({
              gnupgHome,
              manifest: manifestFile(world, name),
              reference: `docker.io/stagex/${name}:latest`,
              fingerprint: maintainer.fingerprint,
              output: join(folder, `signature-${index + 1}`),
            });
        }
        await writeFile(join(tmp, '.stamp'), `${stamp}\n`);
        await swapIn(tmp, lookaside);
      } finally {
        await stopGpgAgent(gnupgHome);
        await rm(tmp, { recursive: true, force: true });
      }
      log(`signing: signed ${PACKAGE_NAMES.length} images by ${maintainers.slice(0, 2).map((m) => m.id).join(' and ')} into ${lookaside}`);
    } else log(`signing: up to date ${lookaside} (stamp ${stamp.slice(0, 12)})`);
    return {
      gnupgHome,
      keyring: join(root, 'keys', 'maintainers.pgp'),
      outsiderKeyring: join(root, 'keys', 'outsider.pgp'),
      maintainers,
      outsider,
      lookaside,
      lookasideUrl: pathToFileURL(lookaside).href,
      world,
    };
  });
}

/** A copy of the world's lookaside in a new temp folder, for tests that add, remove or damage signatures. */
export async function copyLookaside(signing: SigningWorld): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stagex-lookaside-'));
  for (const name of PACKAGE_NAMES) {
    const from = signatureFolder(signing.lookaside, name, signing.world.packages[name]!.manifestDigest);
    const to = signatureFolder(dir, name, signing.world.packages[name]!.manifestDigest);
    await mkdir(to, { recursive: true });
    for (let n = 1; existsSync(join(from, `signature-${n}`)); n++) await copyFile(join(from, `signature-${n}`), join(to, `signature-${n}`));
  }
  return dir;
}

/** What pushSigned needs of a test registry (scripts/world/registry.ts's Registry). */
export interface SigningRegistry {
  host: string;
  credentials?: { username: string; password: string };
}

/**
 * Pushes a fixture image's linux/amd64 manifest to `<registry>/stagex/<name>:latest` with
 * `skopeo copy --sign-by`: skopeo signs it for `docker.io/stagex/<name>:latest` (its identity; the
 * registry is a mirror) and writes signature-1 into `lookaside` (a registries.d `lookaside-staging`).
 * Returns the manifest digest pushed.
 */
export async function pushSigned(registry: SigningRegistry, signing: SigningWorld, name: string, fingerprint: string, lookaside: string): Promise<string> {
  const registriesD = await mkdtemp(join(tmpdir(), 'stagex-registries.d-'));
  try {
    await writeFile(
      join(registriesD, 'staging.yaml'),
      `docker:\n  ${registry.host}:\n    lookaside-staging: ${pathToFileURL(lookaside).href}\n`,
    );
    const args = ['copy', '--quiet', '--dest-tls-verify=false', '--preserve-digests', '--registries.d', registriesD];
    if (registry.credentials) args.push('--dest-creds', `${registry.credentials.username}:${registry.credentials.password}`);
    args.push('--sign-by', fingerprint, '--sign-identity', `docker.io/stagex/${name}:latest`);
    args.push(`oci:${signing.world.packages[name]!.layout}:latest`, `docker://${registry.host}/stagex/${name}:latest`);
    await run('skopeo', args, { ...process.env, GNUPGHOME: signing.gnupgHome });
  } finally {
    await stopGpgAgent(signing.gnupgHome);
    await rm(registriesD, { recursive: true, force: true });
  }
  return signing.world.packages[name]!.manifestDigest;
}

export interface LookasideServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Requests seen, as paths. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serves a lookaside folder over HTTP on loopback (port 0): 200 with the file, 404 when missing.
 * `answer` may replace the answer for some paths, e.g. () => 500 to play a broken server.
 */
export async function serveLookaside(dir: string, answer?: (path: string) => number | undefined): Promise<LookasideServer> {
  const requests: string[] = [];
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const status = answer?.(path);
    if (status !== undefined && status !== 200) {
      response.writeHead(status).end();
      return;
    }
    const file = resolve(dir, `.${path}`);
    if (relative(dir, file).startsWith('..')) {
      response.writeHead(403).end();
      return;
    }
    try {
      const bytes = await readFile(file);
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

const invokedDirectly = process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  ensureSigningWorld({ force: process.argv.includes('--force'), log: (line) => console.log(line) }).catch((err: unknown) => {
    console.error(`signing: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
