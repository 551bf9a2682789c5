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

/** How often each rank was drawn. */
function histogram(ranks: Int32Array, n: number): Float64Array {
  const counts = new Float64Array(n + 1)
  for (const k of ranks) counts[k] = (counts[k] as number) + 1
  return counts
}

const sizes = fc.integer({ min: 1, max: 2000 })
const exponents = fc.double({ min: 0.05, max: 5, noNaN: true })
const seeds = fc.integer({ min: 0, max: 2 ** 31 - 1 })

describe('createZipf', () => {
  it('is deterministic for a seed', () => {
    fc.assert(
      fc.property(sizes, exponents, seeds, (n, s, seed) => {
        expect(zipfSample({ n, s, seed, count: 300 })).toEqual(
          zipfSample({ n, s, seed, count: 300 }),
        )
      }),
    )
  })

  it('draws integer ranks in [1, n]', () => {
    fc.assert(
      fc.property(sizes, exponents, seeds, (n, s, seed) => {
        const zipf = createZipf({ n, s, seed })
        for (let i = 0; i < 300; i++) {
          const k = zipf.next()
          expect(Number.isInteger(k) && k >= 1 && k <= n).toBe(true)
        }
      }),
    )
  })

  it('stays in range for extreme parameters (s near 1, tiny and huge s, huge n)', () => {
    for (const [n, s] of [
      [1, 1],
      [2, 1 + 1e-12],
      [3, 1 - 1e-12],
      [50, 1e-6],
      [50, 200],
      [2 ** 31 - 1, 1.1],
      [2 ** 31 - 1, 0.3],
    ] as const) {
      for (const k of zipfSample({ n, s, seed: 3, count: 2000 })) {
        expect(k >= 1 && k <= n).toBe(true)
      }
    }
  })

  it('draws from the random source it is given (the seed picks the default one)', () => {
    fc.assert(
      fc.property(sizes, exponents, seeds, (n, s, seed) => {
        const seeded = createZipf({ n, s, seed })
        const given = createZipf({ n, s, seed: seed + 1, random: seededRandom(seed) })
        for (let i = 0; i < 100; i++) expect(given.next()).toBe(seeded.next())
      }),
    )
  })

  it('has probabilities that decrease with rank and sum to 1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), exponents, (n, s) => {
        const zipf = createZipf({ n, s })
        let total = 0
        for (let k = 1; k <= n; k++) {
          total += zipf.probability(k)
          if (k > 1) expect(zipf.probability(k)).toBeLessThan(zipf.probability(k - 1))
        }
        expect(total).toBeCloseTo(1, 9)
        expect(zipf.probability(0)).toBe(0)
        expect(zipf.probability(n + 1)).toBe(0)
        expect(zipf.probability(1.5)).toBe(0)
      }),
    )
  })

  it('draws rank 1 more often than any other rank', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 1000 }),
        fc.double({ min: 0.8, max: 4, noNaN: true }),
        seeds,
        (n, s, seed) => {
          const counts = histogram(zipfSample({ n, s, seed, count: 20_000 }), n)
          const first = counts[1] as number
          for (let k = 2; k <= n; k++) expect(first).toBeGreaterThan(counts[k] as number)
        },
      ),
      { numRuns: 30 },
    )
  })

  it('matches the Zipf law over 1M keys: top ranks within 5% of theory', () => {
    const options = { n: 1_000_000, s: 1.1, seed: 1 }
    const count = 1_000_000
    const counts = histogram(zipfSample({ ...options, count }), options.n)
    const zipf = createZipf(options)
    for (const k of [1, 2, 3, 10, 100]) {
      const expected = zipf.probability(k) * count
      expect(Math.abs((counts[k] as number) - expected) / expected).toBeLessThan(0.05)
    }
    // The head holds the expected share of all draws (rank 1 alone is ~12% at s = 1.1).
    let head = 0
    let headExpected = 0
    for (let k = 1; k <= 1000; k++) {
      head += counts[k] as number
      headExpected += zipf.probability(k) * count
    }
    expect(Math.abs(head - headExpected) / headExpected).toBeLessThan(0.01)
  })

  it('passes a chi-square goodness-of-fit test on every rank', () => {
    for (const s of [0.5, 1, 1.1, 2]) {
      const n = 50
      const count = 200_000
      const counts = histogram(zipfSample({ n, s, seed: 7, count }), n)
      const zipf = createZipf({ n, s })
      let chi2 = 0
      for (let k = 1; k <= n; k++) {
        const expected = zipf.probability(k) * count
        chi2 += ((counts[k] as number) - expected) ** 2 / expected
      }
      // 49 degrees of freedom: mean 49, P(chi2 > 100) < 1e-5.
      expect(chi2).toBeLessThan(100)
    }
  })

  it('rejects invalid parameters', () => {
    for (const n of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => createZipf({ n, s: 1 })).toThrow(RangeError)
    }
    for (const s of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createZipf({ n: 10, s })).toThrow(RangeError)
    }
    expect(() => zipfSample({ n: 10, s: 1, count: -1 })).toThrow(RangeError)
    expect(() => zipfSample({ n: 2 ** 31, s: 1, count: 1 })).toThrow(RangeError)
  })
})
