// A real registry for the test world: Debian's docker-registry (distribution 2.8) on 127.0.0.1 at a
// free port, storage in a temp folder, optionally behind token auth with a small token issuer on
// loopback (key and certificate made here by openssl). Tests and the demo start it, push the
// fixture images with `skopeo copy`, and always stop it.
//
//   const registry = await startRegistry({ auth: 'token' });
//   await pushFixtures(registry);
//   ...
//   await registry.stop();
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ociDir, PACKAGE_NAMES } from './build-fixtures.js';

const execFileAsync = promisify(execFile);

export const TEST_USER = 'maintainer';
export const TEST_PASSWORD = 'correct horse battery staple';
const SERVICE = 'stagex-test-registry';
const ISSUER = 'stagex-test-token-issuer';

export interface RegistryOptions {
  auth?: 'none' | 'token';
  /** Reuse a storage folder (e.g. after a stop); default a new temp folder, removed by stop(). */
  storageDir?: string;
  /** Listen on 127.0.0.1:port (e.g. 5000 for `npm run registry`); default a free port. */
  port?: number;
  /** Run as a pull-through cache of this registry URL (distribution's `proxy: remoteurl:`); it then refuses pushes. */
  proxy?: string;
}

export interface Registry {
  /** `127.0.0.1:PORT`: the registry host as references name it. */
  host: string;
  url: string;
  port: number;
  auth: 'none' | 'token';
  /** Where the registry keeps blobs: docker/registry/v2/blobs/sha256/<2>/<hex>/data. */
  storageDir: string;
  /** The token issuer's URL, when auth is token. */
  tokenUrl?: string;
  /** Username and password the token issuer accepts. */
  credentials?: { username: string; password: string };
  /** Token requests seen (for tests): user, scope, and whether they were granted. */
  tokenRequests: { user?: string; scope: string[]; granted: boolean }[];
  running(): boolean;
  /** Stops the registry process (the storage stays until dispose()). */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage. */
  start(): Promise<void>;
  /** Stops everything and removes the temp folders. */
  dispose(): Promise<void>;
  /** Path of a blob's data file inside the storage folder. */
  blobDataPath(digest: string): string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** libtrust's key id, which distribution matches a token's `kid` against: base32 of sha256(SPKI)[:30], in groups of 4. */
export function libtrustKeyId(certificatePem: string): string {
  const spki = createPublicKey(certificatePem).export({ type: 'spki', format: 'der' });
  const hash = createHash('sha256').update(spki).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out.match(/.{1,4}/g)!.join(':');
}

interface TokenIssuer {
  url: string;
  server: Server;
}

async function startTokenIssuer(
  keyPem: string,
  certPem: string,
  log: Registry['tokenRequests'],
): Promise<TokenIssuer> {
  const key = createPrivateKey(keyPem);
  const kid = libtrustKeyId(certPem);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scopes = url.searchParams.getAll('scope');
    const header = req.headers.authorization ?? '';
    let user: string | undefined;
    let granted = false;
    if (header.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      user = decoded.slice(0, colon);
      granted = user === TEST_USER && decoded.slice(colon + 1) === TEST_PASSWORD;
    }
    log.push({ user, scope: scopes, granted });
    if (url.pathname !== '/token' || url.searchParams.get('service') !== SERVICE || !granted) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const access = scopes.map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: (actions ?? '').split(',').filter(Boolean) };
    });
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: ISSUER,
      sub: user,
      aud: SERVICE,
      exp: now + 600,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const signingInput = `${base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid }))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), key);
    const token = `${signingInput}.${base64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 600, issued_at: new Date(now * 1000).toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/token`, server };
}

function registryConfig(port: number, storageDir: string, token?: { realm: string; certPath: string }, proxy?: string): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (proxy) lines.push('proxy:', `  remoteurl: ${JSON.stringify(proxy)}`);
  if (token)
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(token.realm)}`,
      `    service: ${SERVICE}`,
      `    issuer: ${ISSUER}`,
      `    rootcertbundle: ${JSON.stringify(token.certPath)}`,
    );
  return `${lines.join('\n')}\n`;
}

/** Every registry started here and not yet stopped: killed if the test process exits early. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const auth = options.auth ?? 'none';
  const work = await mkdtemp(join(tmpdir(), 'stagex-registry-'));
  const storageDir = options.storageDir ?? join(work, 'storage');
  const ownsStorage = options.storageDir === undefined;
  const port = options.port ?? (await freePort());
  const tokenRequests: Registry['tokenRequests'] = [];

  let issuer: TokenIssuer | undefined;
  let tokenSettings: { realm: string; certPath: string } | undefined;
  if (auth === 'token') {
    const keyPath = join(work, 'token.key');
    const certPath = join(work, 'token.crt');
    await execFileAsync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-subj', '/CN=stagex-test-token-issuer', '-keyout', keyPath, '-out', certPath,
    ]);
    issuer = await startTokenIssuer(await readFile(keyPath, 'utf8'), await readFile(certPath, 'utf8'), tokenRequests);
    tokenSettings = { realm: issuer.url, certPath };
  }
  const configPath = join(work, 'config.yml');
  await writeFile(configPath, registryConfig(port, storageDir, tokenSettings, options.proxy));

  let child: ChildProcess | undefined;
  let stderr = '';

  async function start(): Promise<void> {
    if (child) return;
    stderr = '';
    const started = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    live.add(started);
    started.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    started.once('exit', () => {
      live.delete(started);
      if (child === started) child = undefined;
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!child) throw new Error(`docker-registry exited at start: ${stderr.trim()}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/v2/`);
        await response.body?.cancel();
        if (response.status === 200 || response.status === 401) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`docker-registry did not answer on 127.0.0.1:${port} within 20 s: ${stderr.trim()}`);
      }
      await sleep(50);
    }
  }

  async function stop(): Promise<void> {
    const running = child;
    if (!running) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  await start();
  const host = `127.0.0.1:${port}`;
  return {
    host,
    url: `http://${host}`,
    port,
    auth,
    storageDir,
    tokenUrl: issuer?.url,
    credentials: auth === 'token' ? { username: TEST_USER, password: TEST_PASSWORD } : undefined,
    tokenRequests,
    running: () => child !== undefined,
    stop,
    start,
    async dispose() {
      await stop();
      if (issuer) await new Promise<void>((resolve) => issuer!.server.close(() => resolve()));
      if (ownsStorage) await rm(storageDir, { recursive: true, force: true });
      await rm(work, { recursive: true, force: true });
    },
    blobDataPath(digest: string) {
      const hex = digest.replace(/^sha256:/, '');
      return join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
  };
}

export interface PushOptions {
  /** Packages of the fixture world to push; default all of them. */
  names?: readonly string[];
  /** Repository path inside the registry; default "stagex". */
  namespace?: string;
  tag?: string;
  /** `v2s2` pushes Docker schema 2 (one manifest, not the index). Default: the OCI index as is. */
  format?: 'oci' | 'v2s2';
}

/** `skopeo copy` of an OCI layout image into the registry; returns the reference pushed to. */
export async function pushLayout(registry: Registry, layoutRef: string, repository: string, options: { format?: 'oci' | 'v2s2'; tag?: string } = {}): Promise<string> {
  const destination = `${registry.host}/${repository}:${options.tag ?? 'latest'}`;
  const args = ['copy', '--quiet', '--dest-tls-verify=false', '--retry-times', '2'];
  if (registry.credentials) args.push('--dest-creds', `${registry.credentials.username}:${registry.credentials.password}`);
  if (options.format === 'v2s2') args.push('--format', 'v2s2');
  else args.push('--all', '--preserve-digests');
  args.push(layoutRef, `docker://${destination}`);
  try {
    await execFileAsync('skopeo', args);
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`skopeo copy ${layoutRef} -> ${destination} failed: ${(e.stderr ?? e.message).trim()}`);
  }
  return destination;
}

/** Pushes the fixture images (`.cache/world/oci/<name>:latest`) to `<registry>/stagex/<name>:latest`. */
export async function pushFixtures(registry: Registry, options: PushOptions = {}): Promise<string[]> {
  const names = options.names ?? PACKAGE_NAMES;
  const pushed: string[] = [];
  for (const name of names)
    pushed.push(
      await pushLayout(registry, `oci:${join(ociDir(), name)}:latest`, `${options.namespace ?? 'stagex'}/${name}`, {
        format: options.format,
        tag: options.tag,
      }),
    );
  return pushed;
}
