// The one reference parser, and digest parsing against go-digest's cases.
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {isStagexError} from '../../src/errors.js'
import {digestProblem} from '../../src/oci/digest.js'
import {canonicalRepository, formatReference, parseImageReference} from '../../src/oci/reference.js'

const hex = 'a'.repeat(64)

describe('oci: references', () => {
  const cases: [string, object][] = [
    ['stagex/core-busybox', {transport: 'docker', registry: 'docker.io', repository: 'stagex/core-busybox'}],
    ['docker.io/stagex/core-busybox:latest', {transport: 'docker', registry: 'docker.io', repository: 'stagex/core-busybox', tag: 'latest'}],
    ['index.docker.io/stagex/x', {transport: 'docker', registry: 'docker.io', repository: 'stagex/x'}],
    ['busybox:1.36', {transport: 'docker', registry: 'docker.io', repository: 'library/busybox', tag: '1.36'}],
    [`127.0.0.1:5000/stagex/x:v1@sha256:${hex}`, {transport: 'docker', registry: '127.0.0.1:5000', repository: 'stagex/x', tag: 'v1', digest: `sha256:${hex}`}],
    ['localhost:5000/x', {transport: 'docker', registry: 'localhost:5000', repository: 'x'}],
    ['quay.io/stagex/core-busybox', {transport: 'docker', registry: 'quay.io', repository: 'stagex/core-busybox'}],
    ['docker://stagex/x', {transport: 'docker', registry: 'docker.io', repository: 'stagex/x'}],
    ['oci:/a/b:c', {transport: 'oci', path: '/a/b', tag: 'c'}],
    ['oci:/a:b/c', {transport: 'oci', path: '/a:b/c'}],
    [`oci:layout@sha256:${hex}`, {transport: 'oci', path: 'layout', digest: `sha256:${hex}`}],
  ]
  for (const [text, expected] of cases)
    it(`parses ${text}`, () => {
      const parsed = parseImageReference(text)
      assert.deepEqual(JSON.parse(JSON.stringify(parsed)), expected)
    })

  it('names the canonical repository signatures use, and formats back', () => {
    const ref = parseImageReference('stagex/core-busybox:latest')
    assert.equal(ref.transport === 'docker' && canonicalRepository(ref), 'docker.io/stagex/core-busybox')
    assert.equal(formatReference(ref), 'docker.io/stagex/core-busybox:latest')
  })

  for (const bad of ['stagex/Core', 'stagex/x:bad tag', 'stagex//x', 'stagex/x@sha256:abc', 'stagex/x@md5:' + hex, 'oci:'])
    it(`refuses ${JSON.stringify(bad)} with a message naming it`, () => {
      assert.throws(
        () => parseImageReference(bad),
        (error: unknown) => isStagexError(error) && error.exitCode >= 2 && error.message.includes(JSON.stringify(bad)),
      )
    })
})

describe('oci: digests (go-digest TestParseDigest)', () => {
  const vectors = JSON.parse(readFileSync(new URL('../../../shared/vectors/oci-image-spec/go-digest/parse-vectors.json', import.meta.url), 'utf8')) as {
    cases: {input: string; expectError: string | null; algorithm: string | null}[]
  }
  const ours: Record<string, string | null> = {
    ErrDigestInvalidFormat: 'invalid-format',
    ErrDigestInvalidLength: 'invalid-length',
    ErrDigestUnsupported: 'unsupported',
  }
  for (const c of vectors.cases)
    it(`${JSON.stringify(c.input).slice(0, 40)} -> ${c.expectError ?? 'valid'}`, () => {
      const problem = digestProblem(c.input)
      // We check sha256 only; other registered algorithms are grammar-valid but unsupported here.
      const expected = c.expectError ? ours[c.expectError] : c.algorithm === 'sha256' ? null : 'unsupported'
      assert.equal(problem, expected)
    })
})
