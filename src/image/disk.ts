// The ESP and the disk: a FAT32 volume holding the loader's files, inside a GPT disk with one EFI
// System Partition. Every identifier comes from the build seed: disk GUID and partition GUID as
// systemd-repart derives them, the FAT volume serial by HMAC(seed, "fat-volume-id").
// The FAT is built with the partition's start LBA in its hidden-sectors field, so the `esp` output
// and the partition inside the `disk` output are the same bytes.
import {createHash} from 'node:crypto'
import {type FatFileInput, planFat32, writeFat32} from '../formats/fat32.js'
import {ESP_TYPE_GUID, layoutGpt, type GptLayout, writeGptDisk} from '../formats/gpt.js'
import {deriveDiskGuid, derivePartitionGuid, deriveVolumeId, type Seed} from '../formats/seed.js'

export const ESP_LABEL = 'ESP'
export const ESP_PARTITION_NAME = 'esp'

export interface EspInput {
  files: readonly FatFileInput[]
  seed: Seed
  sourceDateEpoch: number
  /** Volume size in bytes; default: content + 1 MiB, at least FAT32's minimum (about 33 MiB). */
  sizeBytes?: number
}

export interface DiskImage {
  esp: Uint8Array
  volumeId: number
  layout: GptLayout
  /** The whole disk, as chunks (the ESP is not copied). */
  chunks: () => AsyncGenerator<Uint8Array>
}

/** Lays out the disk, then writes the ESP for its place in it. */
export function buildDisk(input: EspInput): DiskImage {
  const geometry = planFat32({files: input.files, volumeId: 0, label: ESP_LABEL, sourceDateEpoch: input.sourceDateEpoch, sizeBytes: input.sizeBytes})
  const espBytes = geometry.totalSectors * 512
  const diskGuid = deriveDiskGuid(input.seed)
  const partition = {typeGuid: ESP_TYPE_GUID, uniqueGuid: derivePartitionGuid(input.seed, ESP_TYPE_GUID, 0), name: ESP_PARTITION_NAME}
  const layout = layoutGpt({diskGuid, partitions: [{...partition, sizeBytes: espBytes}]})
  const volumeId = deriveVolumeId(input.seed)
  const esp = writeFat32({
    files: input.files,
    volumeId,
    label: ESP_LABEL,
    sourceDateEpoch: input.sourceDateEpoch,
    sizeBytes: espBytes,
    hiddenSectors: layout.partitions[0]!.firstLba,
  })
  return {
    esp,
    volumeId,
    layout,
    chunks: () => writeGptDisk({diskGuid, partitions: [{...partition, sizeBytes: espBytes, content: esp}]}),
  }
}

/** "64M" -> bytes (K, M, G are powers of 1024; no suffix is bytes). */
export function parseSize(text: string): number {
  const m = /^([0-9]+)(K|M|G)?$/.exec(text)
  if (!m) throw new RangeError(`not a size: ${JSON.stringify(text)}`)
  const unit = m[2] === 'K' ? 1024 : m[2] === 'M' ? 1024 ** 2 : m[2] === 'G' ? 1024 ** 3 : 1
  return Number(m[1]) * unit
}

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
