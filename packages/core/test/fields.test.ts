import {
  ArgumentError,
  counterMap,
  diff,
  distinctCount,
  id,
  lastWrite,
  listAppend,
  max,
  min,
  setAppend,
  sum,
  windowedList,
} from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fieldCases } from './arbitraries.js'

describe('sum', () => {
  it('adds exact integers and rejects a total past 2^53 − 1 instead of rounding', () => {
    const field = sum()
    expect(field.combine(2, 3)).toBe(5)
    expect(() => field.combine(Number.MAX_SAFE_INTEGER, 1)).toThrow(ArgumentError)
    expect(() => field.combine(Number.MAX_SAFE_INTEGER, 1)).toThrow(/use sum\('bigint'\)/)
    expect(() => field.lift(1.5, 'clicks')).toThrow(ArgumentError)
  })

  it("stays exact past 2^53 with 'bigint', within Redis' signed 64-bit range", () => {
    const field = sum('bigint')
    const big = field.lift(2n ** 60n, 'x')
    expect(field.combine(big, field.lift(1, 'y'))).toBe(2n ** 60n + 1n)
    expect(field.redisArgs(field.combine(big, 1n))).toEqual([(2n ** 60n + 1n).toString()])
    expect(() => field.combine(2n ** 63n - 1n, 1n)).toThrow(ArgumentError)
    expect(() => field.lift(2n ** 63n, 'x')).toThrow(ArgumentError)
    expect(() => field.decode('12.5', 'x')).toThrow(ArgumentError)
    expect(field.decode(field.encode(-(2n ** 62n)), 'x')).toBe(-(2n ** 62n))
  })

  it('adds floats and rejects overflow to Infinity', () => {
    const field = sum('float')
    expect(field.combine(0.5, 0.25)).toBe(0.75)
    expect(() => field.combine(Number.MAX_VALUE, Number.MAX_VALUE)).toThrow(ArgumentError)
    expect(field.redis).toEqual({ op: 'incrbyfloat' })
  })
})

describe('diff', () => {
  it('turns each input into a decrement folded with INCRBY', () => {
    const field = diff()
    const total = field.combine(field.lift(3, 'taken'), field.lift(4, 'taken'))
    expect(total).toBe(-7)
    expect(field.redis).toEqual({ op: 'incrby' })
    expect(field.redisArgs(total)).toEqual(['-7'])
    expect(diff('bigint').lift(5n, 'x')).toBe(-5n)
  })
})

describe('max and min', () => {
  it('keep the extreme and start from null', () => {
    expect(max().combine(max().lift(3, 'x'), 7)).toBe(7)
    expect(min().combine(3, min().empty())).toBe(3)
    expect(max().output(max().empty())).toBeNull()
    expect(max().redisArgs(null)).toEqual([])
  })
})

describe('id', () => {
  it('accepts strings and safe integers and refuses to merge different ids', () => {
    const field = id()
    expect(field.lift(42, 'id')).toBe('42')
    expect(field.combine('', 'w1')).toBe('w1')
    expect(() => field.combine('w1', 'w2')).toThrow(ArgumentError)
    expect(() => field.lift('', 'id')).toThrow(ArgumentError)
    expect(() => field.lift(1.5, 'id')).toThrow(ArgumentError)
  })
})

describe('lastWrite', () => {
  it('keeps the latest write and breaks ties by the larger JSON text', () => {
    const field = lastWrite<string>()
    const early = field.lift({ at: 1, value: 'zzz' }, 'x')
    const late = field.lift({ at: 2, value: 'aaa' }, 'x')
    expect(field.combine(early, late)).toEqual(late)
    expect(field.combine(late, early)).toEqual(late)
    const tieA = field.lift({ at: 5, value: 'a' }, 'x')
    const tieB = field.lift({ at: 5, value: 'b' }, 'x')
    expect(field.combine(tieA, tieB)).toEqual(tieB)
    expect(field.combine(tieB, tieA)).toEqual(tieB)
    expect(field.redisArgs(tieB)).toEqual(['5', '"b"'])
  })

  it('orders ties by code point (UTF-8 byte order), not UTF-16 units', () => {
    const field = lastWrite<string>()
    // U+FFFD sorts before U+1F600 in UTF-8, though its UTF-16 unit is larger than the surrogate.
    const replacement = field.lift({ at: 1, value: '\uFFFD' }, 'x')
    const emoji = field.lift({ at: 1, value: '\u{1F600}' }, 'x')
    expect(field.combine(replacement, emoji)).toEqual(emoji)
  })

  it('rejects a missing or non-finite timestamp and non-JSON values', () => {
    const field = lastWrite()
    expect(() => field.lift({ value: 1 }, 'x')).toThrow(ArgumentError)
    expect(() => field.lift({ at: Number.NaN, value: 1 }, 'x')).toThrow(ArgumentError)
    expect(() => field.lift({ at: 1, value: Number.POSITIVE_INFINITY }, 'x')).toThrow(ArgumentError)
    expect(() => field.lift({ at: 1, value: new Date() }, 'x')).toThrow(ArgumentError)
  })
})

describe('listAppend', () => {
  it('appends in order and keeps only the last cap items, like RPUSH + LTRIM', () => {
    const field = listAppend<number>({ cap: 3 })
    const a = field.lift([1, 2], 'x')
    expect(field.combine(a, field.lift([3, 4], 'x'))).toEqual([2, 3, 4])
    expect(field.lift([1, 2, 3, 4, 5], 'x')).toEqual([3, 4, 5])
    expect(field.redis).toEqual({ op: 'rpush', cap: 3 })
    expect(field.redisArgs([1, 2])).toEqual(['1', '2'])
  })

  it('validates its options and items', () => {
    expect(() => listAppend({ cap: 0 })).toThrow(/cap option must be a positive integer/)
    expect(() => listAppend().lift('a', 'x')).toThrow(ArgumentError)
    expect(() => listAppend().lift([Number.NaN], 'x')).toThrow(ArgumentError)
  })
})

describe('setAppend and distinctCount', () => {
  it('setAppend unions strings and shows them sorted', () => {
    const field = setAppend()
    const value = field.combine(field.lift(['b', 'a'], 'x'), field.lift(new Set(['c', 'a']), 'x'))
    expect(field.output(value)).toEqual(['a', 'b', 'c'])
    expect(() => field.lift([1], 'x')).toThrow(ArgumentError)
  })

  it('distinctCount counts exactly locally, folds with PFADD, and enforces its bound per input', () => {
    const field = distinctCount({ bound: 3 })
    const value = field.combine(field.lift(['a', 'b'], 'x'), field.lift(['b', 'c'], 'x'))
    expect(field.output(value)).toBe(3)
    expect(field.redis).toEqual({ op: 'pfadd' })
    expect(() => field.lift(['a', 'b', 'c', 'd'], 'x')).toThrow(/bound of 3/)
  })
})

describe('windowedList', () => {
  it('keeps each member at its highest score and the top N, best first', () => {
    const field = windowedList({ keep: 2 })
    const value = field.combine(
      field.lift(
        [
          [1, 'a'],
          [5, 'b'],
        ],
        'x',
      ),
      field.lift(
        [
          [7, 'a'],
          [3, 'c'],
        ],
        'x',
      ),
    )
    expect(field.output(value)).toEqual([
      [7, 'a'],
      [5, 'b'],
    ])
    expect(field.redisArgs(value)).toEqual(['7', 'a', '5', 'b'])
  })

  it('drops ties the way ZREMRANGEBYRANK does: the smaller member goes first', () => {
    const field = windowedList({ keep: 1 })
    const value = field.lift(
      [
        [1, 'a'],
        [1, 'b'],
      ],
      'x',
    )
    expect(field.output(value)).toEqual([[1, 'b']])
  })

  it('rejects malformed pairs', () => {
    const field = windowedList()
    expect(() => field.lift([[1]], 'x')).toThrow(ArgumentError)
    expect(() => field.lift([['1', 'a']], 'x')).toThrow(ArgumentError)
    expect(() => field.lift([[Number.POSITIVE_INFINITY, 'a']], 'x')).toThrow(ArgumentError)
  })
})

describe('counterMap', () => {
  it('sums per key and folds with HINCRBY pairs', () => {
    const field = counterMap()
    const value = field.combine(
      field.lift({ fr: 2, us: 1 }, 'x'),
      field.lift(new Map([['fr', 3]]), 'x'),
    )
    expect(field.output(value)).toEqual({ fr: 5, us: 1 })
    expect(field.redisArgs(value)).toEqual(['fr', '5', 'us', '1'])
  })

  it('rejects prototype keys, non-integers and non-objects', () => {
    const field = counterMap()
    expect(() => field.lift(JSON.parse('{"__proto__": 1}'), 'x')).toThrow(ArgumentError)
    expect(() => field.lift({ a: 0.5 }, 'x')).toThrow(ArgumentError)
    expect(() => field.lift([1], 'x')).toThrow(ArgumentError)
    expect(() => field.lift(new Date(), 'x')).toThrow(ArgumentError)
  })
})

describe('every field', () => {
  it.each(fieldCases)(
    '$name rejects values of the wrong type with an ArgumentError',
    ({ field }) => {
      const wrong = fc.oneof(
        fc.constant(undefined),
        fc.constant(Symbol('x')),
        fc.constant(() => 1),
      )
      fc.assert(
        fc.property(wrong, (input) => {
          expect(() => field.lift(input, 'x')).toThrow(ArgumentError)
        }),
      )
      expect(() => field.decode({ not: 'a value' }, 'x')).toThrow(ArgumentError)
    },
  )
})
