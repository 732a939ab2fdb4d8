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
  efiStub: string;
}

export function defaultSources(world: string): Sources {
  return {
    busybox: '/bin/busybox', // busybox-static
    vmlinuz: join(world, 'kernel', 'vmlinuz'), // linux-image-*, unpacked by setup.sh
    kernelConfig: join(world, 'kernel', 'config'),
    syslinuxEfi: '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi', // syslinux-efi
    ldlinuxE64: '/usr/lib/syslinux/modules/efi64/ldlinux.e64', // syslinux-efi
    efiStub: '/usr/lib/systemd/boot/efi/linuxx64.efi.stub', // systemd-boot-efi
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
      name: 'user-syslinux',
      entries: [
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
  ];
}
