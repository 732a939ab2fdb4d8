// A strict JSON reader for signed payloads: RFC 8259 JSON, except that a duplicated member in an
// object is an error (containers-signature(5): a payload that can be read two ways is refused).
// JSON.parse silently keeps the last duplicate, so we read the text ourselves.

export type JsonValue = null | boolean | number | string | JsonValue[] | {[key: string]: JsonValue}

export class StrictJsonError extends Error {}

const MAX_DEPTH = 64

/** Parses UTF-8 JSON text; throws StrictJsonError on bad UTF-8, bad JSON, or duplicated members. */
export function parseStrictJson(input: Uint8Array | string): JsonValue {
  let text: string
  if (typeof input === 'string') text = input
  else {
    try {
      text = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true}).decode(input)
    } catch {
      throw new StrictJsonError('not valid UTF-8')
    }
  }
  let pos = 0

  const fail = (what: string): never => {
    throw new StrictJsonError(`${what} at offset ${pos}`)
  }
  const skipSpace = () => {
    while (pos < text.length && ' \t\n\r'.includes(text[pos]!)) pos++
  }

  const readString = (): string => {
    // Find the closing quote, then let JSON.parse decode escapes of this one token.
    const start = pos
    pos++
    while (pos < text.length) {
      const c = text.charCodeAt(pos)
      if (c === 0x22) break
      if (c === 0x5c) pos += 2
      else if (c < 0x20) fail('control character in string')
      else pos++
    }
    if (pos >= text.length) fail('unterminated string')
    pos++
    try {
      return JSON.parse(text.slice(start, pos)) as string
    } catch {
      return fail('invalid string escape')
    }
  }

  const readNumber = (): number => {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(pos))
    if (!match) return fail('invalid number')
    pos += match[0].length
    return Number(match[0])
  }

  const readValue = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail('nesting too deep')
    skipSpace()
    const c = text[pos]
    if (c === '{') {
      pos++
      const object: {[key: string]: JsonValue} = Object.create(null) as {[key: string]: JsonValue}
      const seen = new Set<string>()
      skipSpace()
      if (text[pos] === '}') {
        pos++
        return object
      }
      for (;;) {
        skipSpace()
        if (text[pos] !== '"') fail('expected a member name')
        const key = readString()
        if (seen.has(key)) fail(`duplicated member "${key}"`)
        seen.add(key)
        skipSpace()
        if (text[pos] !== ':') fail('expected ":"')
        pos++
        object[key] = readValue(depth + 1)
        skipSpace()
        if (text[pos] === ',') {
          pos++
          continue
        }
        if (text[pos] === '}') {
          pos++
          return object
        }
        fail('expected "," or "}"')
      }
    }
    if (c === '[') {
      pos++
      const array: JsonValue[] = []
      skipSpace()
      if (text[pos] === ']') {
        pos++
        return array
      }
      for (;;) {
        array.push(readValue(depth + 1))
        skipSpace()
        if (text[pos] === ',') {
          pos++
          continue
        }
        if (text[pos] === ']') {
          pos++
          return array
        }
        fail('expected "," or "]"')
      }
    }
    if (c === '"') return readString()
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return readNumber()
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length
        return value
      }
    }
    return fail('unexpected input')
  }

  const value = readValue(0)
  skipSpace()
  if (pos !== text.length) fail('trailing data after the JSON value')
  return value
}

export const isJsonObject = (value: JsonValue | undefined): value is {[key: string]: JsonValue} =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
