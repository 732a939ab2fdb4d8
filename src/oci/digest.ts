// Digests: one parser and one digest-checking reader for every byte that enters the tool.
import {createHash} from 'node:crypto'
import {type Readable, Transform, type TransformCallback} from 'node:stream'
import {badInputError} from '../errors.js'

export type Digest = `sha256:${string}`

const digestGrammar = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/
const sha256Hex = /^[a-f0-9]{64}$/

export type DigestProblem = 'invalid-format' | 'invalid-length' | 'unsupported'

/** Classifies a digest string the way go-digest does; null when it is a valid sha256 digest. */
export function digestProblem(value: string): DigestProblem | null {
  if (!digestGrammar.test(value)) return 'invalid-format'
  const [algorithm, encoded] = value.split(':', 2) as [string, string]
  if (algorithm === 'sha256') {
    if (/[^a-f0-9]/.test(encoded)) return encoded.length === 64 ? 'invalid-format' : 'invalid-length'
    return sha256Hex.test(encoded) ? null : 'invalid-length'
  }
  if (algorithm === 'sha384') return /^[a-f0-9]{96}$/.test(encoded) ? 'unsupported' : 'invalid-length'
  if (algorithm === 'sha512') return /^[a-f0-9]{128}$/.test(encoded) ? 'unsupported' : 'invalid-length'
  return 'unsupported'
}

export function isSha256Digest(value: unknown): value is Digest {
  return typeof value === 'string' && value.startsWith('sha256:') && sha256Hex.test(value.slice(7))
}

/** Parses a digest we can check (sha256 only); anything else is bad input. */
export function parseDigest(value: string, where: string): Digest {
  if (isSha256Digest(value)) return value
  const problem = digestProblem(value)
  throw badInputError(
    problem === 'unsupported'
      ? `${where}: digest algorithm of "${value}" is not supported (only sha256)`
      : `${where}: "${value}" is not a valid sha256 digest`,
  )
}

export const digestHex = (digest: Digest): string => digest.slice(7)

export function sha256Of(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

/**
 * A pass-through stream that counts and hashes what flows through it and fails the stream when
 * the bytes exceed the expected size or their digest differs. Everything read from a source goes
 * through one of these before anyone looks at it.
 */
export function digestCheckingStream(expected: Digest, expectedSize: number | undefined, what: string): Transform {
  const hash = createHash('sha256')
  let seen = 0
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length
      if (expectedSize !== undefined && seen > expectedSize) {
        callback(badInputError(`${what}: ${expected} is larger than the ${expectedSize} bytes its descriptor declares`))
        return
      }
      hash.update(chunk)
      callback(null, chunk)
    },
    flush(callback: TransformCallback) {
      if (expectedSize !== undefined && seen !== expectedSize) {
        callback(badInputError(`${what}: ${expected} has ${seen} bytes, its descriptor declares ${expectedSize}`))
        return
      }
      const actual = `sha256:${hash.digest('hex')}`
      if (actual !== expected) {
        callback(badInputError(`${what}: digest mismatch: expected ${expected}, content hashes to ${actual}`))
        return
      }
      callback()
    },
  })
  checking.set(stream, {digest: expected, size: expectedSize})
  return stream
}

/** A pass-through stream that fails when the bytes are more or fewer than `expectedSize`. */
export function sizeCheckingStream(expectedSize: number, what: string): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length
      if (seen > expectedSize) callback(badInputError(`${what}: larger than the ${expectedSize} bytes its descriptor declares`))
      else callback(null, chunk)
    },
    flush(callback: TransformCallback) {
      callback(seen === expectedSize ? undefined : badInputError(`${what}: ${seen} bytes, its descriptor declares ${expectedSize}`))
    },
  })
}

/** Every stream digestCheckingStream made, with what it checks. Only this module can add to it. */
const checking = new WeakMap<Readable, {digest: Digest; size: number | undefined}>()

/**
 * True when `stream` is one of ours that checks exactly this digest and size: it ends only when
 * they matched and fails otherwise, so a consumer need not hash its bytes a second time.
 */
export function isCheckedAs(stream: Readable, digest: Digest, size: number): boolean {
  const checks = checking.get(stream)
  return checks !== undefined && checks.digest === digest && checks.size === size
}

/** Checks small in-memory content (manifests, configs) against its descriptor. */
export function checkBytes(bytes: Uint8Array, expected: Digest, expectedSize: number | undefined, what: string): void {
  if (expectedSize !== undefined && bytes.length !== expectedSize)
    throw badInputError(`${what}: ${expected} has ${bytes.length} bytes, its descriptor declares ${expectedSize}`)
  const actual = sha256Of(bytes)
  if (actual !== expected) throw badInputError(`${what}: digest mismatch: expected ${expected}, content hashes to ${actual}`)
}
