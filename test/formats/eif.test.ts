import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {bytesSource, concatBytes} from '../../src/formats/bytes.js'
import {crc32} from '../../src/formats/crc32.js'
import {
  eifBuildTime,
  eifChunks,
  eifMetadata,
  kernelIdentity,
  measureEif,
  NITRO_CMDLINE,
  parseEifHeader,
  planEif,
} from '../../src/formats/eif.js'
import {ieeeCrc32, pcrOf, readEifFile} from '../helpers/eif-reader.js'

const text = (s: string) => new TextEncoder().encode(s)

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.from(concatBytes(parts))
}

/** A fixed tiny EIF: 16-byte "kernel", a short cmdline, fixed metadata, two ramdisks. */
function tinyInput(ramdisks: Uint8Array[] = [text('ramdisk-one'), text('ramdisk-two!')]) {
  return {
    kernel: bytesSource(text('KERNEL-0123456789')),
    cmdline: 'console=ttyS0',
    metadata: eifMetadata({
      imageName: 'tiny',
      imageVersion: '1.0',
      build: {buildTime: eifBuildTime(1), buildTool: 'stagex-image', buildToolVersion: '0.1.0', operatingSystem: 'Linux', kernelVersion: '6.19.3'},
    }),
    ramdisks: ramdisks.map(bytesSource),
    memoryBytes: 512 * 1024 * 1024,
    cpus: 2,
  }
}

async function tinyEif(ramdisks?: Uint8Array[]) {
  const plan = planEif(tinyInput(ramdisks))
  const measured = await measureEif(plan)
  return {measured, file: await collect(eifChunks(plan, measured.crc32))}
}

describe('formats/eif', () => {
  it('known answer: the reference\'s CRC (CRC_32_ISO_HDLC) is standard CRC-32: crc32("123456789") = 0xCBF43926', () => {
    assert.equal(crc32(text('123456789')), 0xcbf43926)
    assert.equal(ieeeCrc32(Buffer.from('123456789')), 0xcbf43926)
  })

  it('known answer: the PCR of an empty and of a one-byte section, by hand', () => {
    const zero48 = Buffer.alloc(48)
    const emptyInner = createHash('sha384').update(Buffer.alloc(0)).digest()
    const empty = createHash('sha384').update(Buffer.concat([zero48, emptyInner])).digest('hex')
    const oneInner = createHash('sha384').update(Buffer.from([0x61])).digest()
    const one = createHash('sha384').update(Buffer.concat([zero48, oneInner])).digest('hex')
    // sha384("") and sha384("a") are the FIPS 180-2 values; the extend is sha384(0^48 || those).
    // The pinned values were computed outside node: (head -c48 /dev/zero; printf a | openssl dgst -sha384 -binary) | openssl dgst -sha384
    assert.equal(emptyInner.toString('hex').slice(0, 16), '38b060a751ac9638')
    assert.equal(oneInner.toString('hex').slice(0, 16), '54a59b9f22b0b808')
    assert.equal(pcrOf([]), empty)
    assert.equal(pcrOf([Buffer.from('a')]), one)
    assert.equal(empty, '21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a')
    assert.equal(one, '9ded56f026a8f4c054cc49090fcb1f317b3af23891cdf9bf4bfe3117ca14b0d247815a01aaa6febde7129a4fbac5e01a')
  })

  it('our own reader parses the EIF: magic, version, section order and sizes, CRC, and the PCRs by plain SHA-384', async () => {
    const {measured, file} = await tinyEif()
    const eif = readEifFile(file)
    assert.equal(eif.magic, '.eif')
    assert.equal(eif.version, 4)
    assert.equal(eif.flags, 0)
    assert.equal(eif.defaultMem, 512n * 1024n * 1024n)
    assert.equal(eif.defaultCpus, 2n)
    assert.equal(eif.numSections, 5)
    assert.deepEqual(eif.sections.map((s) => s.name), ['kernel', 'cmdline', 'metadata', 'ramdisk', 'ramdisk'])
    assert.deepEqual(eif.sections.map((s) => BigInt(s.offset)), eif.offsets.slice(0, 5))
    assert.deepEqual(eif.sections.map((s) => BigInt(s.size)), eif.sizes.slice(0, 5))
    assert.deepEqual(eif.offsets.slice(5), Array(27).fill(0n))
    assert.equal(eif.sections[1]!.data.toString('latin1'), 'console=ttyS0', 'no trailing NUL')
    assert.equal(eif.crc32, eif.computedCrc32)
    assert.equal(eif.crc32, measured.crc32)
    assert.deepEqual(eif.pcrs, measured.pcrs)
    assert.equal(parseEifHeader(file).crc32, measured.crc32)
    const meta = JSON.parse(eif.sections[2]!.data.toString('utf8'))
    assert.deepEqual(Object.keys(meta), ['ImageName', 'ImageVersion', 'BuildMetadata', 'DockerInfo', 'CustomMetadata'])
    assert.deepEqual(meta.BuildMetadata, {BuildTime: '1970-01-01T00:00:01+00:00', BuildTool: 'stagex-image', BuildToolVersion: '0.1.0', OperatingSystem: 'Linux', KernelVersion: '6.19.3'})
  })

  it('known answer: the PCRs, CRC and bytes of a fixed tiny kernel, cmdline and ramdisks are pinned', async () => {
    const {measured, file} = await tinyEif()
    assert.deepEqual(measured.pcrs, {
      PCR0: 'ade03be025cd6acbc184b1f550b1fb65ccd1c7e971565b0231e2ce4009d417fc50125f72be1dff1125c2266443adc77f',
      // Also by openssl: (head -c48 /dev/zero; printf KERNEL-0123456789console=ttyS0ramdisk-one | openssl dgst -sha384 -binary) | openssl dgst -sha384
      PCR1: 'a5dfa6c4a9ed8410d8b82d91785151f361d89ec86eb35136e4037ef2dcdfe0f0427933462a4512af1a6959cef3f8613c',
      PCR2: '4b1f209ccb4bfc2e2b4339e58dfdb703a2b11d3e0cde5e61725e85faa5e15057d7123a6eaa3402a28c2e6435d1cc8c39',
    })
    assert.equal(measured.crc32.toString(16), '146118c5')
    assert.equal(createHash('sha256').update(file).digest('hex'), 'd542813f0c766510bd20899a3e12522c31806a4d295852c690d565f53303d99f')
  })

  it('PCR2 of a single ramdisk is the PCR of nothing; a changed first ramdisk moves PCR0 and PCR1 only', async () => {
    const single = await tinyEif([text('ramdisk-one')])
    assert.equal(single.measured.pcrs.PCR2, pcrOf([]))
    const a = await tinyEif()
    const b = await tinyEif([text('ramdisk-onE'), text('ramdisk-two!')])
    assert.notEqual(a.measured.pcrs.PCR0, b.measured.pcrs.PCR0)
    assert.notEqual(a.measured.pcrs.PCR1, b.measured.pcrs.PCR1)
    assert.equal(a.measured.pcrs.PCR2, b.measured.pcrs.PCR2)
  })

  it('reads OS and kernel version from the config\'s third line as the reference does; Unknown otherwise', () => {
    assert.deepEqual(kernelIdentity('#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1.192 Kernel Configuration\n#\n'), {operatingSystem: 'Linux', kernelVersion: '6.1.192'})
    assert.deepEqual(kernelIdentity('#\n#\n# Linux/x86_64 4.14.177-104.253.amzn2.x86_64 Kernel Configuration\n'), {operatingSystem: 'Linux', kernelVersion: '4.14.177'})
    assert.deepEqual(kernelIdentity('CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=y\n'), {operatingSystem: 'Unknown', kernelVersion: 'Unknown'})
    assert.deepEqual(kernelIdentity(''), {operatingSystem: 'Unknown', kernelVersion: 'Unknown'})
  })

  it('refuses what is not an EIF, and a command line with a NUL', () => {
    assert.throws(() => parseEifHeader(new Uint8Array(548)), /not an EIF: magic/)
    assert.throws(() => parseEifHeader(new Uint8Array(10)), /not an EIF/)
    assert.throws(() => planEif({...tinyInput(), cmdline: 'a\0b'}), /NUL/)
    assert.ok(NITRO_CMDLINE.startsWith('reboot=k panic=30 pci=off nomodules console=ttyS0'))
  })
})
