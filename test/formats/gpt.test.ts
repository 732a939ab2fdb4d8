import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {crc32} from '../../src/formats/crc32.js'
import {
  ESP_TYPE_GUID,
  LINUX_DATA_TYPE_GUID,
  type GptDiskInput,
  gptEntry,
  gptHead,
  gptTail,
  layoutGpt,
  writeGptDisk,
} from '../../src/formats/gpt.js'
import {deriveDiskGuid, derivePartitionGuid, parseSeed} from '../../src/formats/seed.js'

const vectors = new URL('../../../shared/vectors/disk/', import.meta.url)
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, vectors)))
const seed = parseSeed('750b6cd5c4ae4012a15e7be3c29e6a47')

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

function sampleDisk(espByte = 0x41): GptDiskInput {
  const esp = new Uint8Array(3 * 1024 * 1024 + 512).fill(espByte)
  return {
    diskGuid: deriveDiskGuid(seed),
    partitions: [
      {typeGuid: ESP_TYPE_GUID, uniqueGuid: derivePartitionGuid(seed, ESP_TYPE_GUID), name: 'ESP', content: esp},
      {
        typeGuid: LINUX_DATA_TYPE_GUID,
        uniqueGuid: derivePartitionGuid(seed, LINUX_DATA_TYPE_GUID),
        name: 'data-é',
        sizeBytes: 2 * 1024 * 1024,
        content: [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])],
        attributes: 1n << 59n,
      },
    ],
  }
}

describe('formats: gpt', () => {
  it('reproduces systemd-repart\'s empty 1 GiB disk (head: 34 sectors) byte for byte', () => {
    const layout = layoutGpt({diskGuid: deriveDiskGuid(seed), partitions: [], sizeBytes: 1 << 30})
    assert.equal(layout.firstUsableLba, 2048)
    assert.equal(layout.lastUsableLba, 2097118)
    const head = gptHead(layout)
    const expected = read('systemd-repart/gpt-1G-seed750b-head-34sectors.bin')
    assert.equal(head.length, expected.length)
    assert.equal(Buffer.compare(head, expected), 0)
    assert.equal(Buffer.from(head).readUInt32LE(512 + 16), 0x9f9670a9)
    assert.equal(Buffer.from(head).readUInt32LE(512 + 88), 0xab54d286)
  })

  it('reproduces the backup table (tail: 33 sectors) byte for byte', () => {
    const layout = layoutGpt({diskGuid: deriveDiskGuid(seed), partitions: [], sizeBytes: 1 << 30})
    const tail = gptTail(layout)
    const expected = read('systemd-repart/gpt-1G-seed750b-tail-33sectors.bin')
    assert.equal(Buffer.compare(tail, expected), 0)
    assert.equal(Buffer.from(tail).readUInt32LE(32 * 512 + 16), 0x076c0175)
  })

  it('writes the go-diskfs EFI System entry byte for byte', () => {
    const entry = gptEntry({
      typeGuid: ESP_TYPE_GUID,
      uniqueGuid: '5CA3360B-5DE6-4FCF-B4CE-419CEE433B51',
      name: 'EFI System',
      firstLba: 2048,
      lastLba: 3048,
    })
    assert.equal(Buffer.compare(entry, read('go-diskfs/gpt_partition.dat')), 0)
  })

  it('lays partitions out on 1 MiB boundaries and sizes the disk to fit', () => {
    const layout = layoutGpt({
      diskGuid: deriveDiskGuid(seed),
      partitions: [
        {typeGuid: ESP_TYPE_GUID, uniqueGuid: derivePartitionGuid(seed, ESP_TYPE_GUID), name: 'a', sizeBytes: 1000},
        {typeGuid: ESP_TYPE_GUID, uniqueGuid: derivePartitionGuid(seed, ESP_TYPE_GUID, 1), name: 'b', sizeBytes: 1 << 20},
      ],
    })
    assert.deepEqual(
      layout.partitions.map((p) => [p.firstLba, p.lastLba, p.sizeBytes]),
      [
        [2048, 2049, 1024],
        [4096, 6143, 1 << 20],
      ],
    )
    assert.equal(layout.totalSectors, 8192) // 6144 + 33 sectors of backup, rounded up to 1 MiB
    assert.equal(layout.lastUsableLba, 8192 - 34)
    assert.throws(() => layoutGpt({diskGuid: deriveDiskGuid(seed), partitions: layout.partitions, sizeBytes: 6144 * 512}))
    assert.throws(() => layoutGpt({diskGuid: deriveDiskGuid(seed), partitions: [{...layout.partitions[0]!, name: 'x'.repeat(37)}]}))
  })

  it('yields a disk that sfdisk and sgdisk verify, with our GUIDs, names and content', async function () {
    const input = sampleDisk()
    const disk = await collect(writeGptDisk(input))
    const dir = mkdtempSync(join(tmpdir(), 'gpt-test-'))
    try {
      const img = join(dir, 'disk.img')
      writeFileSync(img, disk)
      assert.equal(disk.length, 8 * 1024 * 1024)
      const verify = execFileSync('sfdisk', ['--verify', img], {encoding: 'utf8'})
      assert.match(verify, /No errors detected/)
      const sg = execFileSync('sgdisk', ['-v', img], {encoding: 'utf8'})
      assert.match(sg, /No problems found/)
      const json = JSON.parse(execFileSync('sfdisk', ['--json', img], {encoding: 'utf8'})).partitiontable
      assert.equal(json.label, 'gpt')
      assert.equal(json.id, input.diskGuid)
      assert.equal(json.firstlba, 2048)
      assert.equal(json.lastlba, 16384 - 34)
      assert.equal(json.partitions.length, 2)
      const [esp, data] = json.partitions
      assert.equal(esp.type, ESP_TYPE_GUID)
      assert.equal(esp.uuid, input.partitions[0]!.uniqueGuid)
      assert.equal(esp.name, 'ESP')
      assert.equal(esp.start, 2048)
      assert.equal(esp.size, 6145)
      assert.equal(data.type, LINUX_DATA_TYPE_GUID)
      assert.equal(data.uuid, input.partitions[1]!.uniqueGuid)
      assert.equal(data.name, 'data-é')
      assert.equal(data.start, 10240)
      assert.equal(data.size, 4096)
      assert.match(data.attrs, /GUID:59/)
      // content in place, padding zero
      const espBytes = disk.subarray(2048 * 512, 2048 * 512 + 6145 * 512)
      assert.equal(sha256(espBytes), sha256(input.partitions[0]!.content as Uint8Array))
      assert.deepEqual([...disk.subarray(10240 * 512, 10240 * 512 + 6)], [1, 2, 3, 4, 5, 0])
      // the backup header points back at LBA 1 and both headers' CRCs hold
      const last = disk.length - 512
      assert.equal(disk.subarray(last, last + 8).toString('latin1'), 'EFI PART')
      for (const at of [512, last]) {
        const h = Buffer.from(disk.subarray(at, at + 92))
        const stored = h.readUInt32LE(16)
        h.writeUInt32LE(0, 16)
        assert.equal(crc32(h), stored)
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('is deterministic, and one changed content byte changes the image', async () => {
    const a = sha256(await collect(writeGptDisk(sampleDisk())))
    const b = sha256(await collect(writeGptDisk(sampleDisk())))
    assert.equal(a, b)
    const changed = sampleDisk()
    ;(changed.partitions[0]!.content as Uint8Array)[12345] = 0x42
    assert.notEqual(sha256(await collect(writeGptDisk(changed))), a)
  })

  it('refuses content larger than its partition and streams without a size', async () => {
    const input = sampleDisk()
    const big: GptDiskInput = {...input, partitions: [{...input.partitions[1]!, sizeBytes: 4, content: [new Uint8Array(512), new Uint8Array(1)]}]}
    await assert.rejects(collect(writeGptDisk(big)), /larger than its size/)
    const unsized: GptDiskInput = {...input, partitions: [{...input.partitions[1]!, sizeBytes: undefined}]}
    await assert.rejects(collect(writeGptDisk(unsized)), /sizeBytes is required/)
  })

  it('streams a disk far larger than memory: content passed through lazily, gaps and padding in chunks of at most 1 MiB', async () => {
    const MiB = 1024 * 1024
    let pulled = 0
    async function* lazy() {
      for (let i = 0; i < 2048; i++) {
        pulled++
        yield new Uint8Array(MiB) // 2 GiB in all, one chunk at a time
      }
    }
    const input: GptDiskInput = {
      diskGuid: deriveDiskGuid(seed),
      partitions: [
        {typeGuid: ESP_TYPE_GUID, uniqueGuid: derivePartitionGuid(seed, ESP_TYPE_GUID), name: 'big', sizeBytes: 2048 * MiB + 3 * MiB, content: lazy()},
        {typeGuid: LINUX_DATA_TYPE_GUID, uniqueGuid: derivePartitionGuid(seed, LINUX_DATA_TYPE_GUID), name: 'empty', sizeBytes: 5 * MiB},
      ],
    }
    const layout = layoutGpt({diskGuid: input.diskGuid, partitions: input.partitions.map((p) => ({...p, sizeBytes: p.sizeBytes!}))})
    let size = 0
    let largest = 0
    let tail: Uint8Array = new Uint8Array()
    const start = layout.partitions[0]!.offsetBytes
    for await (const chunk of writeGptDisk(input)) {
      size += chunk.length
      largest = Math.max(largest, chunk.length)
      if (size === layout.sizeBytes) tail = chunk
      assert.ok(pulled * MiB <= Math.max(0, size - start), 'content is pulled as it is written, not read ahead')
    }
    assert.equal(size, layout.sizeBytes)
    assert.ok(largest <= MiB, `largest chunk ${largest}`)
    assert.equal(Buffer.compare(tail, gptTail(layout)), 0)
  })
})
