import { ArgumentError } from '../errors.js'
import { assertPlainObject, assertSafeKey, describe } from '../json.js'

/** @throws {@link ArgumentError} unless `input` is a finite number. */
export function finiteNumber(input: unknown, path: string): number {
  if (typeof input !== 'number' || !Number.isFinite(input)) {
    throw new ArgumentError(`${path} must be a finite number, got ${describe(input)}`)
  }
  // -0 becomes 0: Redis and JSON cannot tell them apart, so neither may phonon.
  return input === 0 ? 0 : input
}

/** @throws {@link ArgumentError} unless `input` is an integer in ±(2^53 − 1). */
export function safeInteger(input: unknown, path: string): number {
  if (typeof input !== 'number' || !Number.isSafeInteger(input)) {
    throw new ArgumentError(`${path} must be a safe integer, got ${describe(input)}`)
  }
  return input
}

/** @throws {@link ArgumentError} unless `input` is a string. */
export function string(input: unknown, path: string): string {
  if (typeof input !== 'string')
    throw new ArgumentError(`${path} must be a string, got ${describe(input)}`)
  return input
}

/** @throws {@link ArgumentError} unless `input` is an array or a Set. */
export function collection(input: unknown, path: string): Iterable<unknown> {
  if (Array.isArray(input) || input instanceof Set) return input
  throw new ArgumentError(`${path} must be an array or a Set, got ${describe(input)}`)
}

/** The [key, value] pairs of a plain object or a Map, keys checked to be safe strings. */
export function entries(input: unknown, path: string): Array<[string, unknown]> {
  let pairs: Array<[unknown, unknown]>
  if (input instanceof Map) pairs = [...input]
  else if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    assertPlainObject(input, path)
    pairs = Object.entries(input)
  } else throw new ArgumentError(`${path} must be an object or a Map, got ${describe(input)}`)
  return pairs.map(([key, value]) => {
    const name = string(key, `${path} key`)
    assertSafeKey(name, path)
    return [name, value]
  })
}

/** Adds `b` to `a`, rejecting a result that is no longer an exact integer. */
export function addSafe(a: number, b: number, path = 'sum'): number {
  const total = a + b
  if (!Number.isSafeInteger(total)) {
    throw new ArgumentError(
      `${path} ${a} + ${b} leaves the exact integer range ±(2^53 − 1); use sum('bigint')`,
    )
  }
  return total
}

/** @throws {@link ArgumentError} at construction for an option that is not a positive integer. */
export function positiveIntegerOption(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ArgumentError(`${name} option must be a positive integer, got ${value}`)
  }
  return value
}

/** The strings of an array reply. @throws {@link ArgumentError} for anything else. */
export function replyStrings(reply: unknown, path: string): string[] {
  if (!Array.isArray(reply) || !reply.every((item) => typeof item === 'string')) {
    throw new ArgumentError(
      `${path} must be read back as an array of strings, got ${describe(reply)}`,
    )
  }
  return reply
}

/** A number read back from a bulk string reply (nil: `fallback`). */
export function replyNumber<T>(reply: unknown, path: string, fallback: T): number | T {
  if (reply === null || reply === undefined) return fallback
  const value = typeof reply === 'string' && reply.trim() !== '' ? Number(reply) : Number.NaN
  return finiteNumber(value, path)
}

/** The pairs of a flat `[a1, b1, a2, b2, …]` array reply. */
export function replyPairs(reply: unknown, path: string): Array<[string, string]> {
  const flat = replyStrings(reply, path)
  if (flat.length % 2 !== 0) throw new ArgumentError(`${path} must be read back as pairs`)
  const pairs: Array<[string, string]> = []
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i] as string, flat[i + 1] as string])
  return pairs
}

/** Parses JSON text read back from Redis. @throws {@link ArgumentError} for malformed text. */
export function parseJson(text: unknown, path: string): unknown {
  try {
    return JSON.parse(string(text, path))
  } catch (error) {
    throw new ArgumentError(`${path} must be read back as JSON text`, { cause: error })
  }
}
