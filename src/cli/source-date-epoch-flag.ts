// --source-date-epoch, as `build` and `test` take it: what the clamp changes, said where --help shows it.
import {Flags} from '@oclif/core'

export const SOURCE_DATE_EPOCH_HELP =
  'SOURCE_DATE_EPOCH in seconds since 1970 (default: $SOURCE_DATE_EPOCH, else the profile\'s sourceDateEpoch, else 1). ' +
  'It clamps mtimes: a file, folder or link newer than it gets it as its mtime in the initramfs (cpio) and rootfs.tar, ' +
  'an older one keeps its own (so package files older than the clamp, and the profile\'s files, which have mtime 0, show no change). ' +
  'Every timestamp on the ESP (FAT, within 1980..2107) and the UKI\'s PE TimeDateStamp are set to it. ' +
  'It goes into the build seed (so the disk GUID, partition GUID and FAT volume serial), into build.json ' +
  '(sourceDateEpoch, the flatten stage\'s sha256) and into sbom.spdx.json (created, documentNamespace). ' +
  'The gzip header\'s MTIME is always 0.'

export const sourceDateEpochFlag = Flags.integer({description: SOURCE_DATE_EPOCH_HELP, min: 0})
