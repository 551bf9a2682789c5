import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonical, fieldCases } from './arbitraries.js'

describe.each(fieldCases)('$name obeys its laws', ({ field, input }) => {
  const value = input.map((x) => field.lift(x, 'input'))
  const same = (a: unknown, b: unknown) => expect(canonical(field, a)).toBe(canonical(field, b))

  /** Asserts `law` holds for all values when declared, and has a counterexample when not. */
  const declared = <Ts extends [unknown, ...unknown[]]>(holds: boolean, law: fc.IProperty<Ts>) => {
    if (holds) fc.assert(law)
    else expect(() => fc.assert(law)).toThrow(/Property failed/)
  }
  const equal = (a: unknown, b: unknown) => canonical(field, a) === canonical(field, b)

  it('is associative', () => {
    fc.assert(
      fc.property(value, value, value, (a, b, c) =>
        equal(field.combine(field.combine(a, b), c), field.combine(a, field.combine(b, c))),
      ),
    )
  })

  it('has empty() as its identity', () => {
    fc.assert(
      fc.property(value, (a) => {
        same(field.combine(field.empty(), a), a)
        same(field.combine(a, field.empty()), a)
        expect(field.isEmpty(field.empty())).toBe(true)
      }),
    )
  })

  it(`is ${field.laws.commutative ? '' : 'not '}commutative, as declared`, () => {
    declared(
      field.laws.commutative,
      fc.property(value, value, (a, b) => equal(field.combine(a, b), field.combine(b, a))),
    )
  })

  it(`is ${field.laws.idempotent ? '' : 'not '}idempotent, as declared`, () => {
    declared(
      field.laws.idempotent,
      fc.property(value, (a) => equal(field.combine(a, a), a)),
    )
  })

  it('folds a random split of a sequence into the same aggregate as the whole', () => {
    const fold = (values: unknown[]) =>
      values.reduce((acc, v) => field.combine(acc, v), field.empty())
    fc.assert(
      fc.property(fc.array(value, { maxLength: 12 }), fc.array(fc.nat()), (values, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (values.length + 1)))].sort((x, y) => x - y)
        const chunks = [0, ...points].map((start, i) =>
          values.slice(start, points[i] ?? values.length),
        )
        same(fold(chunks.map(fold)), fold(values))
      }),
    )
  })

  it('absorbs like combine, without touching its second argument', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        const bBefore = canonical(field, b)
        const expected = field.combine(a, b)
        const owned = field.decode(field.encode(a), 'copy')
        same(field.absorb(owned, b), expected)
        expect(canonical(field, b)).toBe(bBefore)
      }),
    )
  })

  it('combine leaves both arguments unchanged', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        const before = [canonical(field, a), canonical(field, b)]
        field.combine(a, b)
        expect([canonical(field, a), canonical(field, b)]).toEqual(before)
      }),
    )
  })

  it('round-trips through its JSON encoding', () => {
    fc.assert(
      fc.property(value, (a) => {
        const text = JSON.stringify(field.encode(a))
        same(field.decode(JSON.parse(text), 'decoded'), a)
      }),
    )
  })

  it('describes a serialisable Redis fold with string arguments', () => {
    expect(JSON.parse(JSON.stringify(field.redis))).toEqual(field.redis)
    fc.assert(
      fc.property(value, (a) => {
        const args = field.redisArgs(a)
        expect(args.every((arg) => typeof arg === 'string')).toBe(true)
        if (field.isEmpty(a)) expect(args).toEqual(field.redis.op === 'none' ? [] : args)
      }),
    )
  })
})
