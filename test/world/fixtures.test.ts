// The fixture world, checked with real tools (skopeo, umoci) and by reading the blobs ourselves.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import {
  buildFixtures,
  ensureWorld,
  FIXTURES_VERSION,
  PACKAGE_NAMES,
  type World,
} from '../../scripts/world/build-fixtures.js';
import { blobPath, MEDIA, REF_NAME_ANNOTATION, writeOciImageLayout } from '../../scripts/world/oci-layout.js';
import { BUSYBOX_HARDLINK, defaultSources } from '../../scripts/world/packages.js';
import { readTar } from '../../scripts/world/tar.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: 'pipe', cwd: REPO });
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

/** Reads a blob and checks its bytes against the descriptor that named it. */
function blob(layout: string, d: Desc): Buffer {
  const bytes = readFileSync(blobPath(layout, d.digest));
  assert.equal(sha(bytes), d.digest, `${layout}: blob ${d.digest} has other bytes`);
  assert.equal(bytes.length, d.size, `${layout}: blob ${d.digest} size`);
  return bytes;
}

function walk(layout: string) {
  const top = readJson(join(layout, 'index.json'));
  assert.equal(top.manifests.length, 1);
  const topDesc: Desc = top.manifests[0];
  assert.equal(topDesc.annotations?.[REF_NAME_ANNOTATION], 'latest');
  assert.equal(topDesc.mediaType, MEDIA.oci.index);
  const index = JSON.parse(blob(layout, topDesc).toString('utf8'));
  assert.equal(index.mediaType, MEDIA.oci.index);
  const amd64 = (index.manifests as Desc[]).filter((m) => m.platform?.architecture === 'amd64' && m.platform.os === 'linux');
  assert.equal(amd64.length, 1);
  const mDesc = amd64[0]!;
  assert.equal(mDesc.mediaType, MEDIA.oci.manifest);
  const manifest = JSON.parse(blob(layout, mDesc).toString('utf8'));
  assert.equal(manifest.mediaType, MEDIA.oci.manifest);
  assert.equal(manifest.config.mediaType, MEDIA.oci.config);
  const config = JSON.parse(blob(layout, manifest.config).toString('utf8'));
  const layers = (manifest.layers as Desc[]).map((d) => {
    assert.equal(d.mediaType, MEDIA.oci.layerGzip);
    const gz = blob(layout, d);
    return { desc: d, gz, tar: gunzipSync(gz) };
  });
  return { topDesc, index, mDesc, manifest, config, layers };
}

describe('fixture world', function () {
  this.timeout(300_000);
  let world: World;
  const tmps: string[] = [];
  const tmp = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    tmps.push(d);
    return d;
  };
  const unpacked = new Map<string, string>();
  /** umoci's rootless unpack of a package (cached per test run). */
  const unpack = (name: string): string => {
    let root = unpacked.get(name);
    if (!root) {
      const bundle = join(tmp(`fx-${name}-`), 'bundle');
      run('umoci', ['unpack', '--rootless', '--image', `${world.packages[name]!.layout}:latest`, bundle]);
      root = join(bundle, 'rootfs');
      unpacked.set(name, root);
    }
    return root;
  };

  before(async () => {
    world = await ensureWorld();
  });
  after(() => {
    for (const d of tmps) rmSync(d, { recursive: true, force: true });
  });

  it('lists every package in world.json', () => {
    assert.equal(world.version, FIXTURES_VERSION);
    assert.deepEqual(Object.keys(world.packages).sort(), [...PACKAGE_NAMES].sort());
  });

  for (const name of PACKAGE_NAMES) {
    describe(name, () => {
      it('is accepted by umoci and skopeo', () => {
        const p = world.packages[name]!;
        assert.equal(run('umoci', ['ls', '--layout', p.layout]).trim(), 'latest');
        const info = JSON.parse(run('skopeo', ['inspect', `oci:${p.layout}:latest`]));
        assert.equal(info.Architecture, 'amd64');
        assert.equal(info.Os, 'linux');
        assert.deepEqual(info.Layers, p.layers);
        const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${p.layout}:latest`]));
        assert.equal(raw.mediaType, MEDIA.oci.index);
        assert.equal(raw.manifests[0].digest, p.manifestDigest);
        assert.deepEqual(raw.manifests[0].platform, { architecture: 'amd64', os: 'linux' });
        const cfg = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${p.layout}:latest`]));
        assert.deepEqual(cfg.rootfs.diff_ids, p.diffIds);
      });

      it('has digests that match the bytes, and diff_ids of the uncompressed layers', () => {
        const p = world.packages[name]!;
        const w = walk(p.layout);
        assert.equal(w.topDesc.digest, p.indexDigest);
        assert.equal(w.mDesc.digest, p.manifestDigest);
        assert.equal(w.manifest.config.digest, p.configDigest);
        assert.deepEqual(
          w.layers.map((l) => l.desc.digest),
          p.layers,
        );
        assert.deepEqual(w.config.rootfs, { type: 'layers', diff_ids: w.layers.map((l) => sha(l.tar)) });
        assert.equal(w.config.architecture, 'amd64');
        assert.equal(w.config.os, 'linux');
        assert.equal(w.config.created, '1970-01-01T00:00:01Z');
      });

      it('has the shared core-filesystem layer first', () => {
        const p = world.packages[name]!;
        const core = world.packages['core-filesystem']!;
        assert.equal(p.layers.length, name === 'core-filesystem' ? 1 : 2);
        assert.equal(p.layers[0], core.layers[0]);
      });

      it('has StageX-style tar entries: sorted, relative, parents first, numeric ids, mtime 1', async () => {
        for (const l of walk(world.packages[name]!.layout).layers) {
          const entries = await readTar(l.tar);
          const names = entries.map((e) => e.header.name.replace(/\/$/, ''));
          const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
          assert.deepEqual(names, sorted);
          const seen = new Set<string>();
          for (const e of entries) {
            const n = e.header.name;
            assert.ok(!n.startsWith('/') && !n.startsWith('./'), n);
            assert.equal(e.header.type === 'directory', n.endsWith('/'), n);
            assert.equal(e.header.mtime.getTime(), 1000, n);
            assert.equal(e.header.uname, '', n);
            const parent = n.replace(/\/$/, '').split('/').slice(0, -1).join('/');
            if (parent) assert.ok(seen.has(parent), `${n}: parent first`);
            seen.add(n.replace(/\/$/, ''));
          }
        }
      });
    });
  }

  it('core-filesystem has the skeleton, links, modes and owners', async () => {
    const [layer] = walk(world.packages['core-filesystem']!.layout).layers;
    const byName = new Map((await readTar(layer!.tar)).map((e) => [e.header.name, e.header]));
    for (const [link, target] of [
      ['bin', 'usr/bin'],
      ['sbin', 'usr/bin'],
      ['lib', 'usr/lib'],
      ['lib64', 'usr/lib'],
    ]) {
      assert.equal(byName.get(link!)?.type, 'symlink', link);
      assert.equal(byName.get(link!)?.linkname, target);
    }
    assert.equal(byName.get('tmp/')?.mode, 0o1777);
    assert.equal(byName.get('home/user/')?.uid, 1000);
    assert.equal(byName.get('home/user/')?.gid, 1000);
    for (const d of ['etc/', 'usr/', 'usr/bin/', 'usr/lib/', 'dev/', 'proc/', 'sys/', 'run/', 'var/tmp/', 'root/']) {
      assert.equal(byName.get(d)?.type, 'directory', d);
    }
    const root = unpack('core-filesystem');
    assert.match(readFileSync(join(root, 'etc/os-release'), 'utf8'), /^ID=stagex$/m);
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^root:x:0:0:/m);
    assert.match(readFileSync(join(root, 'etc/passwd'), 'utf8'), /^user:x:1000:1000:/m);
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^user:x:1000:/m);
  });

  it('core-busybox holds Debian static busybox, applet symlinks and one hardlink', () => {
    const src = defaultSources('/nonexistent');
    const root = unpack('core-busybox');
    assert.ok(readFileSync(join(root, 'usr/bin/busybox')).equals(readFileSync(src.busybox)));
    for (const applet of ['sh', 'mount', 'poweroff', 'echo', 'cat', 'ls', 'uname', 'sleep', 'dmesg']) {
      const p = join(root, 'usr/bin', applet);
      assert.ok(lstatSync(p).isSymbolicLink(), applet);
      assert.equal(readlinkSync(p), 'busybox');
    }
    const a = statSync(join(root, 'usr/bin/busybox'));
    const b = lstatSync(join(root, BUSYBOX_HARDLINK));
    assert.ok(b.isFile());
    assert.equal(a.ino, b.ino);
    assert.equal(a.nlink, 2);
    assert.ok(lstatSync(join(root, 'bin')).isSymbolicLink());
  });

  it('user-linux-generic holds the Debian kernel at /bzImage and its config at /linux.config', () => {
    const root = unpack('user-linux-generic');
    const kernel = join(world.oci, '..', 'kernel');
    assert.ok(readFileSync(join(root, 'bzImage')).equals(readFileSync(join(kernel, 'vmlinuz'))));
    assert.equal(statSync(join(root, 'bzImage')).mode & 0o7777, 0o644);
    assert.ok(readFileSync(join(root, 'linux.config')).equals(readFileSync(join(kernel, 'config'))));
  });

  it('user-syslinux holds the EFI and the BIOS files (for the iso output), user-systemd-stub the EFI stub', () => {
    const src = defaultSources('/nonexistent');
    const sys = unpack('user-syslinux');
    const efi64 = join(sys, 'usr/share/syslinux/efi64');
    assert.ok(readFileSync(join(efi64, 'syslinux.efi')).equals(readFileSync(src.syslinuxEfi)));
    assert.ok(readFileSync(join(efi64, 'ldlinux.e64')).equals(readFileSync(src.ldlinuxE64)));
    const bios = join(sys, 'usr/share/syslinux');
    assert.ok(readFileSync(join(bios, 'isolinux.bin')).equals(readFileSync(src.isolinuxBin)));
    assert.ok(readFileSync(join(bios, 'isohdpfx.bin')).equals(readFileSync(src.isohdpfxBin)));
    assert.ok(readFileSync(join(bios, 'ldlinux.c32')).equals(readFileSync(src.ldlinuxC32)));
    const stub = unpack('user-systemd-stub');
    const file = join(stub, 'usr/lib/systemd/boot/efi/linuxx64.efi.stub');
    assert.ok(readFileSync(file).equals(readFileSync(src.efiStub)));
  });

  it('a second run is a no-op, and fast', () => {
    const stampPath = join(world.oci, '.stamp');
    const before = { stamp: readFileSync(stampPath, 'utf8'), mtime: statSync(join(world.oci, 'world.json')).mtimeMs };
    const t0 = Date.now();
    const out = run('node', ['--import', 'tsx', 'scripts/world/build-fixtures.ts']);
    const ms = Date.now() - t0;
    assert.match(out, /up to date/);
    assert.match(out, new RegExp(`core-busybox +${world.packages['core-busybox']!.manifestDigest}`));
    assert.ok(ms < 10_000, `took ${ms} ms`);
    assert.equal(readFileSync(stampPath, 'utf8'), before.stamp);
    assert.equal(statSync(join(world.oci, 'world.json')).mtimeMs, before.mtime);
  });

  it('builds the same digests again into a fresh world', async () => {
    const fresh = tmp('fx-world-');
    const sources = defaultSources(join(world.oci, '..'));
    const lines: string[] = [];
    const r = await buildFixtures({ world: fresh, sources, log: (l) => lines.push(l) });
    assert.equal(r.built, true);
    assert.match(lines[0]!, /built/);
    for (const name of PACKAGE_NAMES) {
      assert.equal(r.world.packages[name]!.manifestDigest, world.packages[name]!.manifestDigest, name);
      assert.equal(r.world.packages[name]!.layout, join(fresh, 'oci', name));
    }
    const again = await buildFixtures({ world: fresh, sources, log: () => {} });
    assert.equal(again.built, false);
  });

  describe('writeOciImageLayout (for tests that need odd images)', () => {
    it('writes a multi-platform index with an arm64 decoy that skopeo resolves to amd64', async () => {
      const dir = join(tmp('fx-decoy-'), 'layout');
      const r = await writeOciImageLayout(dir, {
        layers: [{ entries: [{ type: 'file', path: 'etc/hello', data: 'hi\n' }], parents: true }],
        decoys: [{ architecture: 'arm64', os: 'linux', variant: 'v8' }],
      });
      const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${dir}:latest`]));
      assert.equal(raw.manifests.length, 2);
      assert.equal(raw.manifests[0].platform.architecture, 'arm64');
      const info = JSON.parse(run('skopeo', ['inspect', `oci:${dir}:latest`]));
      assert.equal(info.Architecture, 'amd64');
      assert.deepEqual(info.Layers, [r.layers[0]!.digest]);
      assert.equal(r.decoyManifestDigests.length, 1);
    });

    it('writes Docker schema 2 media types, a direct manifest, whiteouts, and uncompressed layers', async () => {
      const dir = join(tmp('fx-docker-'), 'layout');
      await writeOciImageLayout(dir, {
        format: 'docker',
        shape: 'manifest',
        layers: [
          { entries: [{ type: 'file', path: 'a/b', data: 'b' }], parents: true, sort: true },
          { entries: [{ type: 'file', path: 'a/.wh.b', data: '' }], compression: 'none' },
        ],
      });
      // skopeo's oci: transport only follows OCI media types in index.json, so read it ourselves.
      const top: Desc = readJson(join(dir, 'index.json')).manifests[0];
      assert.equal(top.mediaType, MEDIA.docker.manifest);
      const raw = JSON.parse(blob(dir, top).toString('utf8'));
      assert.equal(raw.mediaType, MEDIA.docker.manifest);
      assert.equal(raw.config.mediaType, MEDIA.docker.config);
      for (const l of raw.layers as Desc[]) blob(dir, l);
      assert.deepEqual(
        raw.layers.map((l: Desc) => l.mediaType),
        [MEDIA.docker.layerGzip, MEDIA.docker.layerTar],
      );
      assert.equal(run('umoci', ['ls', '--layout', dir]).trim(), 'latest');
    });
  });
});
