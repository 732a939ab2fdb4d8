// Writes OCI image layouts shaped like StageX's published images, for the fixture world and for
// tests that need their own odd images (whiteouts, bad digests, decoy platforms, Docker media types).
//
//   index.json --(ref.name "latest")--> image index --(linux/amd64)--> manifest --> config + layers
//
// Test input only: gzip comes from node:zlib and tar from tar-stream (see tar.ts).
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type TarEntry, type TarOptions, writeTar } from './tar.js';

export const MEDIA = {
  oci: {
    index: 'application/vnd.oci.image.index.v1+json',
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
    layerTar: 'application/vnd.oci.image.layer.v1.tar',
  },
  docker: {
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    layerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  },
} as const;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** `created` of every fixture config: SOURCE_DATE_EPOCH 1. */
export const FIXTURE_CREATED = '1970-01-01T00:00:01Z';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** A layer whose blob is already made: written as is (the same bytes can be shared between images). */
export interface PreparedLayer {
  blob: Buffer;
  mediaType: string;
  /** sha256 of the uncompressed tar, "sha256:<hex>" (goes into rootfs.diff_ids). */
  diffId: string;
}

export type LayerSpec =
  | ({ entries: TarEntry[]; compression?: 'gzip' | 'none'; mediaType?: string } & TarOptions)
  | { tar: Buffer; compression?: 'gzip' | 'none'; mediaType?: string }
  | PreparedLayer;

export interface ImageOptions {
  layers: LayerSpec[];
  /** Default linux/amd64. */
  platform?: Platform;
  /** Media types: OCI (default) or Docker schema 2. */
  format?: 'oci' | 'docker';
  /** "index" (default, as StageX): index.json -> image index -> manifest. "manifest": index.json -> manifest. */
  shape?: 'index' | 'manifest';
  /** Other platforms listed in the image index BEFORE the real one, each with its own small image. */
  decoys?: Platform[];
  /** The ref name annotation on index.json's entry; default "latest". */
  refName?: string;
  /** Keep the entries already in index.json (other ref names); default false (index.json is replaced). */
  append?: boolean;
  /** Merged into the config's "config" object (Env, Entrypoint, User, ...). */
  containerConfig?: Record<string, unknown>;
  created?: string;
  /** Last word on the config JSON, manifest JSON and image index JSON before they are encoded. */
  editConfig?: (config: Record<string, unknown>) => Record<string, unknown>;
  editManifest?: (manifest: Record<string, unknown>) => Record<string, unknown>;
  editIndex?: (index: Record<string, unknown>) => Record<string, unknown>;
  manifestAnnotations?: Record<string, string>;
}

export interface ImageResult {
  dir: string;
  /** What index.json points to (the image index, or the manifest when shape is "manifest"). */
  top: Descriptor;
  /** The image index digest; undefined when shape is "manifest". */
  indexDigest?: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layers: { digest: string; diffId: string; size: number; mediaType: string }[];
  decoyManifestDigests: string[];
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function digestOf(bytes: Buffer | string): string {
  return `sha256:${sha256(bytes)}`;
}

export function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(dir, 'blobs', alg!, hex!);
}

/** Writes `bytes` as a blob under its digest; returns its descriptor. */
export async function writeBlob(dir: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = digestOf(bytes);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(blobPath(dir, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

/** Replaces a blob's bytes but keeps its name: a digest mismatch, for tests. */
export async function rewriteBlob(dir: string, digest: string, bytes: Buffer): Promise<void> {
  await writeFile(blobPath(dir, digest), bytes);
}

export async function readBlob(dir: string, digest: string): Promise<Buffer> {
  return readFile(blobPath(dir, digest));
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Turns a layer spec into blob bytes, media type and diff id. */
export async function prepareLayer(spec: LayerSpec, format: 'oci' | 'docker' = 'oci'): Promise<PreparedLayer> {
  if ('blob' in spec) return spec;
  const tar = 'tar' in spec ? spec.tar : await writeTar(spec.entries, spec);
  const gzip = (spec.compression ?? 'gzip') === 'gzip';
  return {
    blob: gzip ? gzipSync(tar, { level: 9 }) : tar,
    mediaType: spec.mediaType ?? (gzip ? MEDIA[format].layerGzip : MEDIA[format].layerTar),
    diffId: digestOf(tar),
  };
}

async function writeImage(
  dir: string,
  layers: PreparedLayer[],
  platform: Platform,
  opts: ImageOptions,
): Promise<{ manifest: Descriptor; config: Descriptor; layers: Descriptor[] }> {
  const media = MEDIA[opts.format ?? 'oci'];
  const layerDescs: Descriptor[] = [];
  for (const l of layers) layerDescs.push(await writeBlob(dir, l.blob, l.mediaType));
  let config: Record<string, unknown> = {
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { ...(opts.containerConfig ?? {}) },
    created: opts.created ?? FIXTURE_CREATED,
    os: platform.os,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  if (opts.editConfig) config = opts.editConfig(config);
  const configDesc = await writeBlob(dir, json(config), media.config);
  let manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: media.manifest,
    config: configDesc,
    layers: layerDescs,
    ...(opts.manifestAnnotations ? { annotations: opts.manifestAnnotations } : {}),
  };
  if (opts.editManifest) manifest = opts.editManifest(manifest);
  const manifestDesc = await writeBlob(dir, json(manifest), media.manifest);
  return { manifest: manifestDesc, config: configDesc, layers: layerDescs };
}

/**
 * Writes (or adds to, with `append`) an OCI image layout at `dir` holding one image under
 * `refName` (default "latest"). Returns every digest written.
 */
export async function writeOciImageLayout(dir: string, opts: ImageOptions): Promise<ImageResult> {
  const format = opts.format ?? 'oci';
  const media = MEDIA[format];
  const platform = opts.platform ?? { architecture: 'amd64', os: 'linux' };
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const prepared: PreparedLayer[] = [];
  for (const spec of opts.layers) prepared.push(await prepareLayer(spec, format));
  const main = await writeImage(dir, prepared, platform, opts);

  const decoyDescs: Descriptor[] = [];
  for (const p of opts.decoys ?? []) {
    const name = `${p.os}-${p.architecture}${p.variant ? `-${p.variant}` : ''}`;
    const layer = await prepareLayer({ entries: [{ type: 'file', path: `decoy-${name}`, data: `${name}\n` }] }, format);
    const img = await writeImage(dir, [layer], p, { ...opts, editConfig: undefined, editManifest: undefined });
    decoyDescs.push({ ...img.manifest, platform: p });
  }

  let top: Descriptor;
  let indexDigest: string | undefined;
  if ((opts.shape ?? 'index') === 'index') {
    let index: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: media.index,
      manifests: [...decoyDescs, { ...main.manifest, platform }],
    };
    if (opts.editIndex) index = opts.editIndex(index);
    top = await writeBlob(dir, json(index), media.index);
    indexDigest = top.digest;
  } else {
    top = main.manifest;
  }

  const refName = opts.refName ?? 'latest';
  let entries: Descriptor[] = [];
  if (opts.append) {
    try {
      const old = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
      entries = (old.manifests ?? []).filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== refName);
    } catch {
      entries = [];
    }
  }
  entries.push({ ...top, annotations: { [REF_NAME_ANNOTATION]: refName } });
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.oci.index, manifests: entries }),
  );

  return {
    dir,
    top,
    indexDigest,
    manifestDigest: main.manifest.digest,
    manifestSize: main.manifest.size,
    configDigest: main.config.digest,
    layers: main.layers.map((d, i) => ({
      digest: d.digest,
      diffId: prepared[i]!.diffId,
      size: d.size,
      mediaType: d.mediaType,
    })),
    decoyManifestDigests: decoyDescs.map((d) => d.digest),
  };
}
