// Tar layers for the fixture world, written with tar-stream. These bytes are test input, not our
// output: they only have to be stable on one machine. Our own deterministic writer is src/formats/.
import tarStream from 'tar-stream';

interface EntryBase {
  /** The name exactly as written to the archive (no normalising: tests may need "./x" or "/x"). */
  path: string;
  /** Permission bits. Note: tar-stream writes its default (0644/0755) for a mode of 0. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch; default FIXTURE_MTIME. */
  mtime?: number;
  /** Extra PAX records (forces a PAX header), e.g. {"SCHILY.xattr.user.test": "x"}. */
  pax?: Record<string, string>;
}

export type TarEntry =
  | (EntryBase & { type: 'dir' })
  | (EntryBase & { type: 'file'; data: Buffer | string })
  | (EntryBase & { type: 'symlink'; target: string })
  | (EntryBase & { type: 'hardlink'; target: string })
  | (EntryBase & { type: 'char' | 'block'; major: number; minor: number })
  | (EntryBase & { type: 'fifo' });

export const FIXTURE_MTIME = 1;

export interface TarOptions {
  /** Sort entries by the UTF-8 bytes of their path (trailing "/" ignored). Default false: as given. */
  sort?: boolean;
  /** Add missing parent directories (mode 0755, root) before their children. Default false. */
  parents?: boolean;
  /** Give directory names a trailing "/" (as tar and StageX layers do). Default true. */
  dirSlash?: boolean;
}

const TYPES = {
  dir: 'directory',
  file: 'file',
  symlink: 'symlink',
  hardlink: 'link',
  char: 'character-device',
  block: 'block-device',
  fifo: 'fifo',
} as const;

function bare(path: string): string {
  return path.replace(/\/+$/, '');
}

export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(bare(a), 'utf8'), Buffer.from(bare(b), 'utf8'));
}

/** Missing parent directories added (root-owned 0755), then sorted by path bytes. */
export function normalizeEntries(entries: TarEntry[], opts: { sort?: boolean; parents?: boolean } = {}): TarEntry[] {
  let out = [...entries];
  if (opts.parents) {
    const have = new Set(out.map((e) => bare(e.path)));
    const added: TarEntry[] = [];
    for (const e of out) {
      const parts = bare(e.path).split('/');
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        if (dir === '' || dir === '.' || have.has(dir)) continue;
        have.add(dir);
        added.push({ type: 'dir', path: dir, mode: 0o755 });
      }
    }
    out = [...added, ...out];
  }
  if (opts.sort) out.sort((a, b) => comparePaths(a.path, b.path));
  return out;
}

/** An uncompressed tar archive of `entries`. */
export async function writeTar(entries: TarEntry[], opts: TarOptions = {}): Promise<Buffer> {
  const list = normalizeEntries(entries, opts);
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const e of list) {
    let name = e.path;
    if (e.type === 'dir' && opts.dirSlash !== false && !name.endsWith('/')) name += '/';
    const header: Partial<tarStream.Header> & { name: string; pax?: Record<string, string> } = {
      name,
      type: TYPES[e.type],
      mode: e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: e.uname ?? '',
      gname: e.gname ?? '',
      mtime: new Date((e.mtime ?? FIXTURE_MTIME) * 1000),
    };
    if (e.pax) header.pax = e.pax;
    if (e.type === 'symlink' || e.type === 'hardlink') header.linkname = e.target;
    if (e.type === 'char' || e.type === 'block') {
      header.devmajor = e.major;
      header.devminor = e.minor;
    }
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type === 'file') pack.entry(header, typeof e.data === 'string' ? Buffer.from(e.data) : e.data, cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Reads a tar archive back (for tests): headers and file bodies, in archive order. */
export async function readTar(tar: Buffer): Promise<{ header: tarStream.Header; data: Buffer }[]> {
  const extract = tarStream.extract();
  const out: { header: tarStream.Header; data: Buffer }[] = [];
  const feeding = new Promise<void>((resolve, reject) => {
    extract.on('error', reject);
    extract.on('finish', () => resolve());
    extract.end(tar);
  });
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    out.push({ header: entry.header, data: Buffer.concat(parts) });
  }
  await feeding;
  return out;
}
