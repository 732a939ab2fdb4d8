// The typed profile every stage reads. Paths are absolute (resolved against the profile's folder).
import type {Digest} from '../oci/digest.js'
import type {ConsoleStep} from '../qemu/types.js'

/** "profiles/minimal.yaml:12:5" for a field path such as ['packages', 1]. */
export type ProfileLocator = (fieldPath: readonly (string | number)[]) => string

/** One `files:` item: inline `contents`, or `source`, a host file or folder (absolute path), never both. */
export type ProfileFile = {
  path: string
  mode: number
  /** Mode of the folders made below `path` from a source folder. */
  dirMode: number
  uid: number
  gid: number
} & ({contents: string; source?: undefined} | {source: string; contents?: undefined})

export interface ProfileDir {
  path: string
  mode: number
  uid: number
  gid: number
}

export interface ProfileSymlink {
  path: string
  target: string
}

export interface ProfileUser {
  name: string
  uid: number
  gid: number
  home: string
  shell: string
}

export interface ProfileGroup {
  name: string
  gid: number
  members: string[]
}

export interface TrustSettings {
  keyring?: string
  threshold: number
  lookaside?: string
  legacy: boolean
  policy?: string
  registriesD?: string
}

export type LoaderKind = 'syslinux' | 'uki' | 'none'
export type OutputKind = 'kernel' | 'initramfs' | 'disk' | 'esp' | 'uki' | 'qcow2' | 'rootfs-tar' | 'eif' | 'iso'

/** The eif: section with its defaults (memory in bytes). */
export interface EifSettings {
  memoryBytes: number
  cpus: number
  cmdline: string
  ramdisks: 'single' | 'nitro'
  /** ramdisks nitro: paths in the boot packages (root-relative). */
  bootstrap: {init: string; nsm: string}
  cmd: string[]
  env: string[]
}

/**
 * boot.secureBoot, paths absolute. A profile restored from a build record has no key (it never goes
 * into a record): `signature` then carries the recorded PKCS#7, attached again once it is checked
 * to sign the rebuilt UKI.
 */
export interface SecureBootSettings {
  key?: string
  cert: string
  passphraseFile?: string
  passphraseEnv?: string
  /** base64 PKCS#7 from a build record (reproduce). */
  signature?: string
}

export interface Profile {
  path: string
  displayName: string
  dir: string
  sha256: Digest
  name: string
  sourceDateEpoch?: number
  registry: string
  mirror?: string
  /** Folder of OCI layouts (one per package) that short package names resolve to. */
  source?: string
  trust?: TrustSettings
  packages: string[]
  /** Absent: the profile makes a root tree only; outputs that boot need it (kernelNeededBy). */
  kernel?: {package: string; config?: string; cmdline: string}
  boot: {
    loader: LoaderKind
    /** iso output: the BIOS loader's files in the boot packages (root-relative, a leading "/" allowed). */
    isolinuxBin?: string
    ldlinuxC32?: string
    isohdpfxBin?: string
    stub?: string
    packages: string[]
    espSize?: string
    /** Paths inside the boot packages that override the search (root-relative, a leading "/" allowed). */
    syslinuxEfi?: string
    ldlinux?: string
    stubPath?: string
    /** Authenticode signing of the UKI (loader uki only). */
    secureBoot?: SecureBootSettings
  }
  init?: string
  files: ProfileFile[]
  dirs: ProfileDir[]
  symlinks: ProfileSymlink[]
  users: ProfileUser[]
  groups: ProfileGroup[]
  /** Paths (absolute, as written) the pruning must keep. */
  keep: string[]
  /** ELF closure exceptions: libraries allowed to be missing. */
  allowMissing: string[]
  prune: 'default' | 'none'
  initramfs: {compression: 'gzip' | 'none'; capabilities: 'refuse' | 'drop'}
  outputs: OutputKind[]
  /** The iso output: uefi false writes a BIOS-only ISO (no ESP inside), which any boot.loader allows. */
  iso: {uefi: boolean}
  eif: EifSettings
  /** failOn undefined: the harness's defaults (DEFAULT_FAIL_ON). */
  test: {timeout: number; steps: ConsoleStep[]; failOn?: string[]}
  locate: ProfileLocator
  relativePath: (absolute: string) => string
}

/** A test step as written in YAML. */
export type RawTestStep = {expect: string; timeout?: number} | {send: string} | {'expect-exit': number | true}

/** The YAML as the schema admits it, before defaults. */
export interface RawProfile {
  name: string
  sourceDateEpoch?: number
  registry?: string
  mirror?: string
  source?: string
  trust?: {keyring?: string; threshold?: number; lookaside?: string; legacy?: boolean; policy?: string; registriesD?: string}
  packages: string[]
  kernel?: {package: string; config?: string; cmdline?: string}
  boot?: {loader?: LoaderKind; isolinuxBin?: string; ldlinuxC32?: string; isohdpfxBin?: string; stub?: string; packages?: string[]; espSize?: string; syslinuxEfi?: string; ldlinux?: string; stubPath?: string; secureBoot?: {key: string; cert: string; passphraseFile?: string; passphraseEnv?: string}}
  init?: string
  files?: {path: string; contents?: string; source?: string; mode?: string; dirMode?: string; uid?: number; gid?: number}[]
  dirs?: {path: string; mode?: string; uid?: number; gid?: number}[]
  symlinks?: {path: string; target: string}[]
  users?: {name: string; uid: number; gid?: number; home?: string; shell?: string}[]
  groups?: {name: string; gid: number; members?: string[]}[]
  keep?: string[]
  allowMissing?: string[]
  prune?: 'default' | 'none'
  initramfs?: {compression?: 'gzip' | 'none'; capabilities?: 'refuse' | 'drop'}
  outputs?: OutputKind[]
  iso?: {uefi?: boolean}
  eif?: {memory?: string; cpus?: number; cmdline?: string; ramdisks?: 'single' | 'nitro'; bootstrap?: {init?: string; nsm?: string}; cmd?: string[]; env?: string[]}
  test?: {timeout?: number; steps?: RawTestStep[]; 'fail-on'?: string[]}
}
