import { createZipf, seededRandom, zipfSample } from '@phonon/testkit'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

describe('seededRandom', () => {
  it('is deterministic for a seed and stays in [0, 1)', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const a = seededRandom(seed)
        const b = seededRandom(seed)
        for (let i = 0; i < 50; i++) {
          const x = a()
          expect(x).toBe(b())
          expect(x >= 0 && x < 1).toBe(true)
        }
      }),
    )
  })
})

describe('createZipf', () => {
  it('draws ranks in [1, n], the same ones for the same seed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.double({ min: 0.1, max: 3, noNaN: true }),
        fc.integer(),
        (n, s, seed) => {
          const draws = zipfSample({ n, s, seed, count: 200 })
          expect(draws).toEqual(zipfSample({ n, s, seed, count: 200 }))
          expect(draws.every((k) => k >= 1 && k <= n && Number.isInteger(k))).toBe(true)
        },
      ),
    )
  })

  it('matches the Zipf law: observed frequencies of the top ranks are within 5% of theory', () => {
    const options = { n: 10_000, s: 1.1, seed: 1 }
    const count = 400_000
    const counts = new Map<number, number>()
    for (const k of zipfSample({ ...options, count })) counts.set(k, (counts.get(k) ?? 0) + 1)
    const zipf = createZipf(options)
    for (const k of [1, 2, 3, 10]) {
      const expected = zipf.probability(k) * count
      expect(Math.abs((counts.get(k) ?? 0) - expected) / expected).toBeLessThan(0.05)
    }
    expect(counts.get(1)).toBeGreaterThan(counts.get(2) ?? 0)
  })

  it('rejects invalid parameters', () => {
    expect(() => createZipf({ n: 0, s: 1, seed: 1 })).toThrow(RangeError)
    expect(() => createZipf({ n: 10, s: 0, seed: 1 })).toThrow(RangeError)
  })
})
