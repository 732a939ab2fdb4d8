// What `test` boots for an EIF: its own kernel, command line and ramdisks, taken out of the file,
// for QEMU's direct kernel boot. The Nitro hypervisor is not available here, so this proves the
// EIF's contents boot, not the enclave. The ramdisks are concatenated into one initrd: the kernel
// unpacks newc archives one after the other, as the Nitro loader hands them over.
import {createReadStream, createWriteStream} from 'node:fs'
import {open} from 'node:fs/promises'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {badInputError} from '../errors.js'
import {EIF_HEADER_SIZE, EIF_SECTION_HEADER_SIZE, parseEifHeader} from '../formats/eif.js'
import {inspectEif} from './eif-inspect.js'

export const NITRO_NOT_HERE = 'the Nitro hypervisor is not available here: booting the EIF\'s kernel, command line and ramdisks under QEMU direct kernel boot'

export interface EifBootFiles {
  kernel: string
  initrd: string
  append: string
}

/** Writes the EIF's kernel and its ramdisks (joined) into `dir`; the command line comes back as text. */
export async function extractEifForBoot(eifPath: string, dir: string): Promise<EifBootFiles> {
  const inspection = await inspectEif(eifPath)
  if (!inspection.crc.ok) throw badInputError(`${eifPath}: its CRC-32 does not match (${inspection.crc.stored} in the header, ${inspection.crc.computed} computed)`)
  const header = parseEifHeader(await readHead(eifPath))
  const kernel = join(dir, 'eif-kernel')
  const initrd = join(dir, 'eif-ramdisks.cpio')
  const data = (index: number) => {
    const start = header.sectionOffsets[index]! + EIF_SECTION_HEADER_SIZE
    return {start, end: start + header.sectionSizes[index]! - 1}
  }
  const kernelIndex = inspection.sections.find((s) => s.type === 'kernel')?.index
  if (kernelIndex === undefined) throw badInputError(`${eifPath}: no kernel section`)
  await pipeline(createReadStream(eifPath, data(kernelIndex)), createWriteStream(kernel))
  const out = createWriteStream(initrd)
  for (const s of inspection.sections.filter((x) => x.type === 'ramdisk' && x.size > 0))
    await pipeline(createReadStream(eifPath, data(s.index)), out, {end: false})
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
  return {kernel, initrd, append: inspection.cmdline ?? ''}
}

async function readHead(path: string): Promise<Buffer> {
  const handle = await open(path, 'r')
  try {
    const head = Buffer.alloc(EIF_HEADER_SIZE)
    await handle.read(head, 0, EIF_HEADER_SIZE, 0)
    return head
  } finally {
    await handle.close()
  }
}
