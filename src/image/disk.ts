// The ESP and the disk: a FAT32 volume holding the loader's files, inside a GPT disk with one EFI
// System Partition. Every identifier comes from the build seed: disk GUID and partition GUID as
// systemd-repart derives them, the FAT volume serial by HMAC(seed, "fat-volume-id").
// The FAT is built with the partition's start LBA in its hidden-sectors field, so the `esp` output
// and the partition inside the `disk` output are the same bytes. Both are streams: the files are read
// from their sources as the volume is written, and neither output is ever held whole in memory.
import {createHash} from 'node:crypto'
import {badInputError} from '../errors.js'
import {type FatFileInput, FatLayoutError, type Fat32Options, planFat32, writeFat32Stream} from '../formats/fat32.js'
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
  volumeId: number
  layout: GptLayout
  /** Size of the ESP volume in bytes (also its partition's size). */
  espSize: number
  /** The ESP volume as chunks; the same bytes as its partition in disk(). Each call reads the files again. */
  esp: () => AsyncGenerator<Uint8Array>
  /** The whole disk as chunks, the ESP streamed into its partition. */
  disk: () => AsyncGenerator<Uint8Array>
}

const MIB = 1024 * 1024

/** A FAT layout error as the user sees it: bad input (exit 4), naming the ESP and boot.espSize. */
function espLayoutError(error: FatLayoutError) {
  const details = {neededBytes: error.neededBytes, limitBytes: error.limitBytes}
  switch (error.problem) {
    case 'too-small':
      return badInputError(
        `the ESP is too small for its files: ${error.message}. Set boot.espSize to at least ${Math.ceil(error.neededBytes / MIB)}M, or leave it out to size the ESP from its files.`,
        details,
      )
    case 'too-large':
      return badInputError(`the ESP's files do not fit in any FAT32 volume: ${error.message}. No boot.espSize can hold them: the kernel and initramfs must be smaller.`, details)
    case 'file-too-large':
      return badInputError(`the ESP cannot hold one of its files: ${error.message}. No boot.espSize can help: the file must be smaller.`, details)
  }
}

/** Lays out the disk and the ESP for its place in it, from the files' sizes; nothing is read until a stream is. */
export function buildDisk(input: EspInput): DiskImage {
  const volumeId = deriveVolumeId(input.seed)
  const fat: Fat32Options = {files: input.files, volumeId, label: ESP_LABEL, sourceDateEpoch: input.sourceDateEpoch}
  let geometry
  try {
    geometry = planFat32({...fat, sizeBytes: input.sizeBytes})
  } catch (error) {
    if (error instanceof FatLayoutError) throw espLayoutError(error)
    // A size the FAT32 geometry itself refuses (below its minimum cluster count, say).
    if (error instanceof RangeError) throw badInputError(`the ESP cannot be ${input.sizeBytes} bytes: ${error.message}. Leave boot.espSize out to size the ESP from its files.`)
    throw error
  }
  const espBytes = geometry.totalSectors * 512
  const diskGuid = deriveDiskGuid(input.seed)
  const partition = {typeGuid: ESP_TYPE_GUID, uniqueGuid: derivePartitionGuid(input.seed, ESP_TYPE_GUID, 0), name: ESP_PARTITION_NAME}
  const layout = layoutGpt({diskGuid, partitions: [{...partition, sizeBytes: espBytes}]})
  const esp = () => writeFat32Stream({...fat, sizeBytes: espBytes, hiddenSectors: layout.partitions[0]!.firstLba})
  return {
    volumeId,
    layout,
    espSize: espBytes,
    esp,
    disk: () => writeGptDisk({diskGuid, partitions: [{...partition, sizeBytes: espBytes, content: esp()}]}),
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

/** sha256 and size of a stream, one chunk at a time. */
export async function sha256Stream(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<{sha256: string; size: number}> {
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of chunks) {
    hash.update(chunk)
    size += chunk.length
  }
  return {sha256: hash.digest('hex'), size}
}
