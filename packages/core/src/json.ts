import { ArgumentError } from './errors.js'

/** A value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type Json =
  | null
  | boolean
  | number
  | string
  | readonly Json[]
  | { readonly [key: string]: Json }

/** Keys that would change an object's prototype instead of adding a property. */
const FORBIDDEN_KEYS = new Set(['__proto__'])

/**
 * Checks that `value` is JSON-safe: finite numbers, strings, booleans, null, arrays and plain
 * objects of those, without cycles or `__proto__` keys.
 *
 * @param value - the value to check.
 * @param path - where the value sits, for the error message.
 * @returns `value`, typed as {@link Json}.
 * @throws {@link ArgumentError} naming the path of the first offending value.
 */
export function assertJson(value: unknown, path = 'value'): Json {
  // The common case (shallow, valid) is checked without building paths or a set; anything else
  // goes through the walk that names the offending path.
  if (!isShallowJson(value, 4)) checkJson(value, path, new Set())
  return value as Json
}

/** Whether `value` is JSON-safe within `depth` levels (false: deeper, or not JSON-safe). */
function isShallowJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(value)
    case 'object': {
      if (value === null) return true
      if (depth === 0) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isShallowJson(value[i], depth - 1)) return false
        return true
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const key in value) {
        if (!Object.hasOwn(value, key)) return false
        if (FORBIDDEN_KEYS.has(key)) return false
        if (!isShallowJson((value as Record<string, unknown>)[key], depth - 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

function checkJson(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return
    case 'number':
      if (!Number.isFinite(value))
        throw new ArgumentError(`${path} must be a finite number, got ${value}`)
      return
    case 'object':
      if (value === null) return
      if (seen.has(value)) throw new ArgumentError(`${path} contains a cycle`)
      seen.add(value)
      if (Array.isArray(value)) {
        for (const [i, item] of value.entries()) checkJson(item, `${path}[${i}]`, seen)
      } else {
        assertPlainObject(value, path)
        for (const [key, item] of Object.entries(value)) {
          assertSafeKey(key, path)
          checkJson(item, `${path}.${key}`, seen)
        }
      }
      seen.delete(value)
      return
    default:
      throw new ArgumentError(`${path} must be JSON-safe, got ${typeof value}`)
  }
}

/**
 * @throws {@link ArgumentError} unless `value` is an object whose prototype is `Object.prototype`
 * or `null` (no class instances, Maps, Dates…).
 */
export function assertPlainObject(value: unknown, path: string): asserts value is object {
  const proto =
    typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined
  if (proto !== Object.prototype && proto !== null) {
    throw new ArgumentError(`${path} must be a plain object, got ${describe(value)}`)
  }
}

/** @throws {@link ArgumentError} for a key that would rewrite an object's prototype. */
export function assertSafeKey(key: string, path: string): void {
  if (FORBIDDEN_KEYS.has(key)) throw new ArgumentError(`${path} must not have a ${key} key`)
}

/** A short description of a value's type for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return value.constructor?.name ?? 'an object'
  if (typeof value === 'number' || typeof value === 'bigint') return `${typeof value} ${value}`
  return typeof value
}

/** Compares strings by Unicode code point, which is the byte order of their UTF-8 (Redis' order). */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // UTF-16 order differs from code point order only when one side is a surrogate (≥ 0xD800
    // and < 0xE000) and the other lies above the surrogates.
    if (isSurrogate(x) !== isSurrogate(y) && Math.max(x, y) >= 0xe000)
      return isSurrogate(x) ? 1 : -1
    return x - y
  }
  return a.length - b.length
}

function isSurrogate(code: number): boolean {
  return code >= 0xd800 && code < 0xe000
}
