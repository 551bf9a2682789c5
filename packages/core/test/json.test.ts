import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { ArgumentError, assertJson } from '../src/index.js'

/** Values that are not JSON-safe, each at some depth inside otherwise valid JSON. */
const unsafe = fc.oneof(
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, undefined, 1n, () => 1, Symbol('s')),
  fc.constant(new Date(0)),
  fc.constant(new Map()),
  fc.constant(JSON.parse('{"__proto__": 1}')),
)

/** JSON values without `__proto__` keys (which assertJson refuses on purpose). */
const json = fc.jsonValue().filter((value) => !JSON.stringify(value).includes('"__proto__"'))

/** `inner` placed `depth` levels down, alternately in an object and an array. */
const nest = (inner: unknown, depth: number): unknown =>
  depth === 0
    ? inner
    : depth % 2
      ? { a: 1, b: nest(inner, depth - 1) }
      : [0, nest(inner, depth - 1)]

describe('assertJson', () => {
  test('accepts every JSON value, as deep as it goes', () => {
    fc.assert(
      fc.property(json, fc.nat(8), (value, depth) => {
        const nested = nest(value, depth)
        expect(assertJson(nested)).toBe(nested)
      }),
    )
  })

  test('refuses a value that is not JSON-safe at any depth, naming its path', () => {
    fc.assert(
      fc.property(unsafe, fc.nat(8), (inner, depth) => {
        expect(() => assertJson(nest(inner, depth), 'record')).toThrow(ArgumentError)
        expect(() => assertJson(nest(inner, depth), 'record')).toThrow(/^record/)
      }),
    )
  })

  test('refuses a cycle', () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = { back: cyclic }
    expect(() => assertJson(cyclic)).toThrow(/cycle/)
  })

  test('names the offending path', () => {
    expect(() => assertJson({ a: [1, { b: Number.NaN }] }, 'record')).toThrow(
      'record.a[1].b must be a finite number, got NaN',
    )
  })
})
