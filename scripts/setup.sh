#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently: Debian packages, a Debian kernel
# (unpacked into the cache, never installed on the host), and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

WORLD="${STAGEX_WORLD:-$PWD/.cache/world}"
PACKAGES=(qemu-system-x86 ovmf docker-registry skopeo gnupg mtools dosfstools fdisk gdisk umoci cpio
  systemd-boot-efi syslinux-efi syslinux-common isolinux busybox-static binutils ca-certificates
  xorriso genisoimage sbsigntool osslsigncode  # ISO and Authenticode checks of our outputs (tests)
  gcc-12)  # gcc-12: real compiler bytes for the no-compiler fixtures (scripts/world/packages.ts)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A real Linux kernel with an EFI stub, from Debian's linux-image package, unpacked into the world cache.
KDIR="$WORLD/kernel"
if [ ! -s "$KDIR/vmlinuz" ] || [ ! -s "$KDIR/config" ]; then
  echo "setup: fetching a Debian linux-image package"
  pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')"
  if [ -z "$pkg" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    pkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')"
  fi
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null)
  dpkg-deb -x "$tmp"/*.deb "$tmp/root"
  mkdir -p "$KDIR"
  cp "$tmp"/root/boot/vmlinuz-* "$KDIR/vmlinuz.tmp" && mv "$KDIR/vmlinuz.tmp" "$KDIR/vmlinuz"
  cp "$tmp"/root/boot/config-* "$KDIR/config.tmp" && mv "$KDIR/config.tmp" "$KDIR/config"
  echo "$pkg" > "$KDIR/package"
  rm -rf "$tmp"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
[ -d dist ] || npm run -s build

# The fixture world: StageX-shaped OCI images built from the Debian packages above (reused when unchanged).
node --import tsx scripts/world/build-fixtures.ts
# The world signs: test maintainer keys (gpg) and a lookaside with two signatures per fixture image (reused when unchanged).
node --import tsx scripts/world/signing.ts
