// Issue 10: the trust progress line says what is being checked before verification, and the result
// only after it passed; a lookaside with no signature for an image names the folder or URL it read.
// Through the CLI (`rootfs --list` runs resolve and trust first), on the world's OCI layouts and signatures.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CLI, type CliResult, profileVariant} from '../helpers/cli.js'

/** The CLI in a child process, without blocking this one: the HTTP lookaside here must answer it. */
function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? -1, stdout, stderr}))
  })
}

const CHECKING = 'trust: checking 3 images for 2 distinct maintainer signatures each'
const PASSED = /^trust: passed: each of the 3 images has at least 2 distinct maintainer signatures$/m

describe('e2e: trust progress and a lookaside without signatures', function () {
  this.timeout(300_000)
  let dir: string
  let server: Server
  const served: string[] = []
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagex-trust-progress-'))
    // An HTTP lookaside that has no signatures at all: every path is a 404.
    server = createServer((request, response) => {
      served.push(request.url ?? '')
      response.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    await new Promise((resolve) => server.close(resolve))
    await rm(dir, {recursive: true, force: true})
  })

  const variant = (name: string, edit?: (text: string) => string) => profileVariant('minimal', dir, name, edit)

  it('a passing trust stage: "checking" first, the result after every image passed', async () => {
    const result = await runCli(['rootfs', await variant('ok'), '--list'])
    assert.equal(result.code, 0, result.stderr)
    const lines = result.stderr.split('\n')
    const checking = lines.indexOf(CHECKING)
    const passed = lines.findIndex((line) => PASSED.test(line))
    assert.ok(checking >= 0, result.stderr)
    assert.ok(passed > checking, `the result comes after the check:\n${result.stderr}`)
    assert.ok(lines.slice(checking + 1, passed).some((l) => /^trust: core-busybox: 2 distinct signers/.test(l)), result.stderr)
  })

  it('a missing keyring: the "checking" line, no line that reads like success, exit 2', async () => {
    const profile = await variant('no-keyring', (t) => t.replace('.cache/world/keys/maintainers.pgp', '.cache/world/keys/nonexistent.pgp'))
    const result = await runCli(['rootfs', profile, '--list'])
    assert.equal(result.code, 2, result.stderr)
    assert.ok(result.stderr.split('\n').includes(CHECKING), result.stderr)
    assert.doesNotMatch(result.stderr, /trust: passed|distinct signers/)
    assert.match(result.stderr, /cannot read the keyring .*nonexistent\.pgp/)
  })

  it('a file:// lookaside without signatures: exit 3, naming the folder it read', async () => {
    const empty = join(dir, 'empty-sigs')
    await mkdir(empty, {recursive: true})
    const profile = await variant('empty-folder', (t) => t.replace(/lookaside: .*/, `lookaside: file://${empty}`))
    const result = await runCli(['rootfs', profile, '--list'])
    assert.equal(result.code, 3, result.stderr)
    assert.doesNotMatch(result.stderr, /trust: passed/)
    const folder = join(empty, 'stagex/core-filesystem@sha256=').replaceAll('/', '\\/')
    assert.match(result.stderr, new RegExp(`error: image docker\\.io/stagex/core-filesystem@sha256:[0-9a-f]{64} is not trusted: the lookaside file://${empty.replaceAll('/', '\\/')} has no signature for it \\(no signature-1 in ${folder}[0-9a-f]{64}\\/\\)`))
  })

  it('an http lookaside without signatures: exit 3, naming the URL it read, with --json too', async () => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sigs`
    const profile = await variant('empty-http', (t) => t.replace(/lookaside: .*/, `lookaside: ${base}`))
    const result = await runCli(['rootfs', profile, '--list', '--json'])
    assert.equal(result.code, 3, result.stderr)
    const doc = JSON.parse(result.stdout) as {error: {kind: string; message: string; looked: string[]}}
    assert.equal(doc.error.kind, 'trust')
    assert.match(doc.error.message, /has no signature for it \(not found \(HTTP 404\): http:\/\/127\.0\.0\.1:\d+\/sigs\/stagex\/core-filesystem@sha256=[0-9a-f]{64}\/signature-1\)/)
    assert.equal(doc.error.looked.length, 1)
    assert.ok(served.includes(new URL(doc.error.looked[0]!).pathname), 'the URL named is the one the lookaside was asked')
  })
})
