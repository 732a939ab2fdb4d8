// ESP and disk assembly: seeded identifiers, the ESP placed in the disk as written alone, host tools agree.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {ESP_TYPE_GUID} from '../../src/formats/gpt.js'
import {derivePartitionGuid, deriveVolumeId, parseSeed} from '../../src/formats/seed.js'
import {buildDisk, parseSize} from '../../src/image/disk.js'
import {syslinuxEspFiles} from '../../src/image/loader.js'

const repart = JSON.parse(readFileSync(new URL('../../../shared/vectors/disk/systemd-repart/vectors.json', import.meta.url), 'utf8'))
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const env = {...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C.UTF-8'}
const bytes = (n: number, k: number) => new Uint8Array(n).map((_, i) => (i * k + 3) & 0xff)

function sampleFiles() {
  return syslinuxEspFiles({syslinuxEfi: bytes(171_456, 7), ldlinux: bytes(136_880, 11), kernel: bytes(3_000_000, 13), initrd: bytes(1_000_001, 17), cmdline: 'console=ttyS0 quiet'})
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

describe('image: ESP and disk', function () {
  this.timeout(60_000)
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'stagex-disk-'))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('derives systemd-repart\'s disk GUID and the ESP GUID from the same seed, and the FAT serial', async () => {
    const seed = parseSeed(repart.seed)
    const disk = buildDisk({files: sampleFiles(), seed, sourceDateEpoch: 1})
    assert.equal(disk.layout.diskGuid, repart.expectedFromSystemdTest.emptyDisk['label-id'])
    assert.equal(disk.layout.partitions[0]!.uniqueGuid, derivePartitionGuid(seed, ESP_TYPE_GUID, 0))
    assert.equal(disk.volumeId, deriveVolumeId(seed))
    assert.equal(new DataView(disk.esp.buffer).getUint32(67, true), disk.volumeId, 'BPB volume id')

    const path = join(dir, 'repart.raw')
    writeFileSync(path, await collect(disk.chunks()))
    const table = JSON.parse(execFileSync('sfdisk', ['--json', path], {encoding: 'utf8'})).partitiontable
    assert.equal(table.id, '1D2CE291-7CCE-4F7D-BC83-FDB49AD74EBD')
    assert.equal(table.partitions[0].uuid, disk.layout.partitions[0]!.uniqueGuid)
    assert.equal(table.partitions[0].type, ESP_TYPE_GUID)
    assert.match(execFileSync('sfdisk', ['--verify', path], {encoding: 'utf8'}), /No errors detected/)
  })

  it('puts the ESP at LBA 2048 byte for byte, with the hidden-sectors field pointing there', async () => {
    const disk = buildDisk({files: sampleFiles(), seed: parseSeed('00112233445566778899aabbccddeeff'), sourceDateEpoch: 1})
    const whole = await collect(disk.chunks())
    const p = disk.layout.partitions[0]!
    assert.equal(p.firstLba, 2048)
    assert.equal(sha256(whole.subarray(p.offsetBytes, p.offsetBytes + disk.esp.length)), sha256(disk.esp))
    assert.equal(new DataView(disk.esp.buffer).getUint32(28, true), 2048)
    assert.equal(whole.length, disk.layout.sizeBytes)
  })

  it('fsck.fat finds nothing to fix; mtools lists every file and reads it back byte for byte', () => {
    const files = sampleFiles()
    const disk = buildDisk({files, seed: parseSeed('0f'.repeat(16)), sourceDateEpoch: 1_700_000_000})
    const path = join(dir, 'esp.img')
    writeFileSync(path, disk.esp)
    execFileSync('fsck.fat', ['-n', path])
    const listed = execFileSync('mdir', ['-/', '-b', '-i', path, '::'], {env, encoding: 'utf8'}).trim().split('\n').filter((l) => !l.endsWith('/'))
    assert.deepEqual(listed.sort(), files.map((f) => `::/${f.path}`).sort())
    for (const f of files) assert.equal(sha256(execFileSync('mtype', ['-i', path, `::/${f.path}`], {env, maxBuffer: 1 << 26})), sha256((f as {data: Uint8Array}).data), f.path)
  })

  it('honours an ESP size, and refuses one too small for the files or for FAT32', () => {
    const disk = buildDisk({files: sampleFiles(), seed: parseSeed('01'.repeat(16)), sourceDateEpoch: 1, sizeBytes: parseSize('64M')})
    assert.equal(disk.esp.length, 64 * 1024 * 1024)
    assert.throws(() => buildDisk({files: sampleFiles(), seed: parseSeed('01'.repeat(16)), sourceDateEpoch: 1, sizeBytes: parseSize('8M')}), /FAT32 needs at least/)
    assert.equal(parseSize('512K'), 524_288)
    assert.equal(parseSize('1G'), 1024 ** 3)
    assert.throws(() => parseSize('10MB'), /not a size/)
  })
})
