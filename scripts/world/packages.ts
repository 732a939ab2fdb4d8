// What each fixture package holds: StageX names and layout, Debian bytes.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TarEntry } from './tar.js';

/** Host files the fixtures are made of (all from Debian packages that scripts/setup.sh installs). */
export interface Sources {
  busybox: string;
  vmlinuz: string;
  kernelConfig: string;
  syslinuxEfi: string;
  ldlinuxE64: string;
  /** syslinux's BIOS files for the iso output: isolinux.bin, the isohybrid MBR code, the BIOS ldlinux.c32. */
  isolinuxBin: string;
  isohdpfxBin: string;
  ldlinuxC32: string;
  efiStub: string;
  /** GCC's driver, its collect2 and a crt object, and GNU ld (gcc-12, libgcc-12-dev, binutils): the toolchain fixture. */
  gccDriver: string;
  collect2: string;
  crtbegin: string;
  ldBfd: string;
  /** A small dynamically linked program and the glibc it needs (coreutils, libc6): the ELF closure fixture. */
  dynamicProgram: string;
  glibcLoader: string;
  glibc: string;
}

export function defaultSources(world: string): Sources {
  return {
    busybox: '/bin/busybox', // busybox-static
    vmlinuz: join(world, 'kernel', 'vmlinuz'), // linux-image-*, unpacked by setup.sh
    kernelConfig: join(world, 'kernel', 'config'),
    syslinuxEfi: '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi', // syslinux-efi
    ldlinuxE64: '/usr/lib/syslinux/modules/efi64/ldlinux.e64', // syslinux-efi
    isolinuxBin: '/usr/lib/ISOLINUX/isolinux.bin', // isolinux
    isohdpfxBin: '/usr/lib/ISOLINUX/isohdpfx.bin', // isolinux
    ldlinuxC32: '/usr/lib/syslinux/modules/bios/ldlinux.c32', // syslinux-common
    efiStub: '/usr/lib/systemd/boot/efi/linuxx64.efi.stub', // systemd-boot-efi
    gccDriver: '/usr/bin/x86_64-linux-gnu-gcc-12', // gcc-12
    collect2: '/usr/lib/gcc/x86_64-linux-gnu/12/collect2', // gcc-12
    crtbegin: '/usr/lib/gcc/x86_64-linux-gnu/12/crtbegin.o', // libgcc-12-dev
    ldBfd: '/usr/bin/x86_64-linux-gnu-ld.bfd', // binutils-x86-64-linux-gnu
    dynamicProgram: '/usr/bin/env', // coreutils: needs only libc.so.6 and the loader
    glibcLoader: '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', // libc6
    glibc: '/lib/x86_64-linux-gnu/libc.so.6', // libc6
  };
}

/** The container config every package carries (StageX's core-filesystem sets it; the others inherit it). */
export const CONTAINER_CONFIG = {
  User: '1000:1000',
  Env: [
    'PS1=[Stageˣ] $ ',
    'TZ=UTC',
    'LANG=C.UTF-8',
    'LC_ALL=C',
    'USER=user',
    'HOME=/home/user',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  ],
  Entrypoint: ['/bin/sh'],
};

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'bin:x:1:1:bin:/bin:/sbin/nologin',
  'daemon:x:2:2:daemon:/sbin:/sbin/nologin',
  'user:x:1000:1000::/home/user:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  '',
].join('\n');

const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'bin:x:2:',
  'sys:x:3:',
  'tty:x:5:',
  'disk:x:6:',
  'wheel:x:10:root',
  'users:x:100:',
  'user:x:1000:',
  'nogroup:x:65534:',
  '',
].join('\n');

const OS_RELEASE = [
  'NAME="[Stageˣ]"',
  'ID=stagex',
  'HOME_URL="https://stagex.tools"',
  'SUPPORT_URL="https://codeberg.org/stagex/stagex/src/branch/main/README.md"',
  'BUG_REPORT_URL="https://codeberg.org/stagex/stagex/issues"',
  '',
].join('\n');

/** core-filesystem: the skeleton every other package is built FROM (its one layer is shared). */
export function coreFilesystemEntries(): TarEntry[] {
  const dir = (path: string, mode = 0o755, id = 0): TarEntry => ({ type: 'dir', path, mode, uid: id, gid: id });
  const link = (path: string, target: string): TarEntry => ({ type: 'symlink', path, target });
  const file = (path: string, data: string): TarEntry => ({ type: 'file', path, data, mode: 0o644 });
  return [
    link('bin', 'usr/bin'),
    dir('dev'),
    dir('etc'),
    file('etc/group', GROUP),
    file('etc/os-release', OS_RELEASE),
    file('etc/passwd', PASSWD),
    dir('home'),
    dir('home/user', 0o755, 1000),
    link('lib', 'usr/lib'),
    link('lib64', 'usr/lib'),
    dir('proc'),
    dir('root', 0o750),
    dir('run'),
    link('sbin', 'usr/bin'),
    dir('sys'),
    dir('tmp', 0o1777),
    dir('usr'),
    dir('usr/bin'),
    dir('usr/lib'),
    link('usr/lib64', 'lib'),
    dir('usr/share'),
    dir('var'),
    link('var/lock', '../run/lock'),
    link('var/run', '../run'),
    dir('var/spool'),
    dir('var/spool/mail', 0o1777),
    dir('var/tmp', 0o1777),
  ];
}

/** The applet names `busybox --list` prints, without "busybox" itself. */
export function busyboxApplets(busybox: string): string[] {
  const out = execFileSync(busybox, ['--list'], { encoding: 'utf8' });
  const names = out.split('\n').filter((n) => n !== '' && n !== 'busybox' && !n.includes('/'));
  return [...new Set(names)].sort();
}

/** The applet stored as a HARDLINK to usr/bin/busybox (it sorts after "busybox", so the target comes first). */
export const BUSYBOX_HARDLINK = 'usr/bin/true';

/** Where user-devtools hides a real compiler driver under a name no prune rule knows. */
export const RENAMED_COMPILER = 'usr/bin/helper';

/**
 * user-devtools: what a build image holds and an appliance must not. Real GCC and binutils bytes where
 * the no-compiler check reads content (the driver, collect2, ld.bfd, and the driver again as
 * RENAMED_COMPILER), stand-ins where only the name matters (lto1, a static archive, apk's database,
 * pip's and npm's packages). Its programs need glibc (core-glibc) to run; no test runs them.
 */
function devtoolsEntries(src: Sources): TarEntry[] {
  const file = (path: string, data: string | Buffer, mode = 0o644): TarEntry => ({ type: 'file', path, data, mode });
  const exe = (path: string, data: string | Buffer) => file(path, data, 0o755);
  const link = (path: string, target: string): TarEntry => ({ type: 'symlink', path, target });
  const gcc = readFileSync(src.gccDriver);
  const libexec = 'usr/libexec/gcc/x86_64-linux-musl/13';
  const site = 'usr/lib/python3.12/site-packages';
  return [
    // GCC as StageX installs it: the driver, target-prefixed links to it, its passes and private trees.
    exe('usr/bin/gcc', gcc),
    link('usr/bin/x86_64-linux-musl-gcc', 'gcc'),
    link('usr/bin/x86_64-linux-musl-g++', 'gcc'),
    link('usr/bin/cc', 'gcc'),
    exe(`${libexec}/collect2`, readFileSync(src.collect2)),
    exe(`${libexec}/lto1`, '#!/bin/sh\n# a stand-in for lto1\n'),
    file('usr/lib/gcc/x86_64-linux-musl/13/crtbegin.o', readFileSync(src.crtbegin)),
    file('usr/lib/gcc/x86_64-linux-musl/13/include/stddef.h', '/* GCC private header */\n'),
    // binutils: GNU ld and its alias.
    exe('usr/bin/ld.bfd', readFileSync(src.ldBfd)),
    link('usr/bin/ld', 'ld.bfd'),
    // Development files: headers, static and libtool archives, pkg-config, manuals.
    file('usr/include/devtools.h', '#define DEVTOOLS 1\n'),
    file('usr/lib/libdevtools.a', '!<arch>\n'),
    file('usr/lib/libdevtools.la', "# libdevtools.la - a libtool library file\ndlname=''\n"),
    file('usr/lib/pkgconfig/devtools.pc', 'Name: devtools\nVersion: 1\nLibs: -ldevtools\n'),
    file('usr/share/man/man1/gcc.1', '.TH GCC 1\n'),
    file('usr/share/doc/devtools/README', 'devtools\n'),
    // apk: the program, its installed database (lib/apk, at usr/lib/apk below lib -> usr/lib), its configuration.
    exe('usr/bin/apk', '#!/bin/sh\necho "apk-tools 2.14 (stand-in)"\n'),
    file('usr/lib/apk/db/installed', 'P:devtools\nV:1\n'),
    file('etc/apk/repositories', 'https://dl-cdn.alpinelinux.org/alpine/edge/main\n'),
    // pip as Python installs it: a console script, the package, its wheel record, ensurepip.
    exe('usr/bin/pip3', '#!/usr/bin/python3\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom pip._internal.cli.main import main\nif __name__ == "__main__":\n    sys.exit(main())\n'),
    file(`${site}/pip/__init__.py`, '__version__ = "24.0"\n'),
    file(`${site}/pip-24.0.dist-info/RECORD`, 'pip/__init__.py,,\n'),
    file('usr/lib/python3.12/ensurepip/__init__.py', '# installs pip\n'),
    // npm as Node installs it: the package, and the program a link into it.
    exe('usr/lib/node_modules/npm/bin/npm-cli.js', "#!/usr/bin/env node\nrequire('../lib/cli.js')(process)\n"),
    link('usr/bin/npm', '../lib/node_modules/npm/bin/npm-cli.js'),
    // A script that runs pip under a harmless name: only its content gives it away.
    exe('usr/bin/update-tools', '#!/bin/sh\nexec python3 -m pip install --upgrade "$@"\n'),
    // The compiler driver again, under a name no rule knows: only its content gives it away.
    exe(RENAMED_COMPILER, gcc),
  ];
}

/** core-env: one dynamically linked program (coreutils' env), without the libraries it needs. */
export const DYNAMIC_PROGRAM = 'usr/bin/env';

/** core-glibc: the loader and libc DYNAMIC_PROGRAM needs, where lib64 -> usr/lib and lib -> usr/lib find them; and the dev files a libc package carries. */
function glibcEntries(src: Sources): TarEntry[] {
  return [
    { type: 'file', path: 'usr/lib/ld-linux-x86-64.so.2', mode: 0o755, data: readFileSync(src.glibcLoader) },
    { type: 'file', path: 'usr/lib/libc.so.6', mode: 0o755, data: readFileSync(src.glibc) },
    { type: 'file', path: 'usr/include/stdio.h', mode: 0o644, data: '/* stdio.h (stand-in) */\n' },
    { type: 'file', path: 'usr/lib/libc.a', mode: 0o644, data: '!<arch>\n' },
    { type: 'file', path: 'usr/share/doc/glibc/README', mode: 0o644, data: 'glibc\n' },
  ];
}

export interface PackageDef {
  name: string;
  /** The package's own layer (after the shared core-filesystem layer); null for core-filesystem itself. */
  entries: TarEntry[] | null;
}

export function packageDefs(src: Sources): PackageDef[] {
  const busybox: TarEntry[] = [{ type: 'file', path: 'usr/bin/busybox', mode: 0o755, data: readFileSync(src.busybox) }];
  for (const applet of busyboxApplets(src.busybox)) {
    const path = `usr/bin/${applet}`;
    if (path === BUSYBOX_HARDLINK) busybox.push({ type: 'hardlink', path, target: 'usr/bin/busybox' });
    else busybox.push({ type: 'symlink', path, target: 'busybox' });
  }
  return [
    { name: 'core-filesystem', entries: null },
    { name: 'core-busybox', entries: busybox },
    {
      name: 'user-linux-generic',
      entries: [
        { type: 'file', path: 'bzImage', mode: 0o644, data: readFileSync(src.vmlinuz) },
        { type: 'file', path: 'linux.config', mode: 0o644, data: readFileSync(src.kernelConfig) },
      ],
    },
    {
      // A stand-in for StageX's user-linux-nitro: Debian's kernel bytes (they boot under QEMU), and a
      // /linux.config claiming what the enclave preflight checks. The bytes have no NSM driver: this
      // package exercises the eif output and its preflight, not the Nitro hypervisor.
      name: 'user-linux-nitro',
      entries: [
        { type: 'file', path: 'bzImage', mode: 0o644, data: readFileSync(src.vmlinuz) },
        { type: 'file', path: 'linux.config', mode: 0o644, data: nitroStandInConfig(readFileSync(src.kernelConfig, 'utf8')) },
      ],
    },
    {
      // As StageX's user-syslinux installs both firmwares: the BIOS files in AUXDIR, the EFI ones below it.
      name: 'user-syslinux',
      entries: [
        { type: 'file', path: 'usr/share/syslinux/isohdpfx.bin', mode: 0o644, data: readFileSync(src.isohdpfxBin) },
        { type: 'file', path: 'usr/share/syslinux/isolinux.bin', mode: 0o644, data: readFileSync(src.isolinuxBin) },
        { type: 'file', path: 'usr/share/syslinux/ldlinux.c32', mode: 0o644, data: readFileSync(src.ldlinuxC32) },
        { type: 'file', path: 'usr/share/syslinux/efi64/ldlinux.e64', mode: 0o644, data: readFileSync(src.ldlinuxE64) },
        { type: 'file', path: 'usr/share/syslinux/efi64/syslinux.efi', mode: 0o644, data: readFileSync(src.syslinuxEfi) },
      ],
    },
    {
      name: 'user-systemd-stub',
      entries: [
        { type: 'file', path: 'usr/lib/systemd/boot/efi/linuxx64.efi.stub', mode: 0o644, data: readFileSync(src.efiStub) },
      ],
    },
    { name: 'user-devtools', entries: devtoolsEntries(src) },
    { name: 'core-env', entries: [{ type: 'file', path: DYNAMIC_PROGRAM, mode: 0o755, data: readFileSync(src.dynamicProgram) }] },
    { name: 'core-glibc', entries: glibcEntries(src) },
  ];
}

/** Options the stand-in's config claims =y (src/kernel/requirements.ts, enclave requirements). */
const NITRO_CLAIMS = ['CONFIG_VIRTIO_MMIO', 'CONFIG_VSOCKETS', 'CONFIG_VIRTIO_VSOCKETS', 'CONFIG_NSM'];

/** Debian's .config with the enclave options set =y in place (its header, line 3 included, unchanged). */
export function nitroStandInConfig(debian: string): string {
  let text = debian;
  for (const option of NITRO_CLAIMS) {
    const line = new RegExp(`^(?:${option}=.*|# ${option} is not set)$`, 'm');
    text = line.test(text) ? text.replace(line, `${option}=y`) : `${text}${option}=y\n`;
  }
  return `${text}# stagex-image fixture: a stand-in for user-linux-nitro (${NITRO_CLAIMS.join(', ')} claimed =y)\n`;
}
