// The build seed: one 16-byte value every GUID and volume serial of the image is derived from
// (src/formats/seed.ts, the systemd-repart way).
//
// Decision: the seed is a hash of what goes into the bootable image, not of how it was asked for:
//   sha256("stagex-image/build-seed/v1\n" + canonical JSON of {sourceDateEpoch, loader, cmdline,
//   kernel sha256, initramfs sha256, each loader input's sha256 by role, ESP size request}), first 16 bytes.
// So two builds that put the same bytes on the ESP get the same GUIDs (a comment in the profile does
// not move them), and any changed byte in any input that reaches the image (a profile file, a package
// file, the kernel, the loader) changes the seed. The JSON is recorded in build.json beside the seed,
// so anyone can recompute it.
import {createHash} from 'node:crypto'

export const SEED_SCHEME = 'stagex-image/build-seed/v1'

export interface SeedInputs {
  sourceDateEpoch: number
  loader: string
  cmdline: string
  kernelSha256: string
  initramfsSha256: string
  /** sha256 of each loader input by role (syslinux.efi, ldlinux.e64, stub, os-release). */
  loaderFiles: Record<string, string>
  /** The profile's boot.espSize in bytes, or "auto". */
  espSize: number | 'auto'
}

export interface BuildSeed {
  /** 32 hex digits. */
  hex: string
  bytes: Uint8Array
  scheme: typeof SEED_SCHEME
  inputs: SeedInputs
}

/** Canonical JSON: keys in a fixed order, loader files sorted by role. */
export function seedMessage(inputs: SeedInputs): string {
  const loaderFiles = Object.fromEntries(Object.entries(inputs.loaderFiles).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return JSON.stringify({
    sourceDateEpoch: inputs.sourceDateEpoch,
    loader: inputs.loader,
    cmdline: inputs.cmdline,
    kernelSha256: inputs.kernelSha256,
    initramfsSha256: inputs.initramfsSha256,
    loaderFiles,
    espSize: inputs.espSize,
  })
}

export function deriveBuildSeed(inputs: SeedInputs): BuildSeed {
  const digest = createHash('sha256').update(`${SEED_SCHEME}\n${seedMessage(inputs)}`, 'utf8').digest()
  const bytes = Uint8Array.from(digest.subarray(0, 16))
  return {hex: Buffer.from(bytes).toString('hex'), bytes, scheme: SEED_SCHEME, inputs}
}
