import { seededRandom } from './random.js'

/** Options of {@link createZipf}. */
export interface ZipfOptions {
  /** How many distinct ranks (keys): 1..n. */
  readonly n: number
  /** The skew exponent s > 0: rank k is drawn with probability ∝ 1 / k^s. */
  readonly s: number
  /** Seed of the underlying PRNG. */
  readonly seed: number
}

/** A seeded Zipf sampler. */
export interface Zipf {
  /** The next rank, an integer in [1, n]; rank 1 is the most frequent. */
  next(): number
  /** The probability of rank `k`. */
  probability(k: number): number
}

/**
 * A Zipf(s) sampler over ranks 1..n by inversion of the precomputed CDF (binary search, so
 * O(log n) per draw after O(n) set-up), deterministic for a seed.
 *
 * @throws RangeError when `n` is not a positive integer or `s` is not a positive number.
 */
export function createZipf({ n, s, seed }: ZipfOptions): Zipf {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`n must be a positive integer, got ${n}`)
  if (!(s > 0) || !Number.isFinite(s)) throw new RangeError(`s must be a positive number, got ${s}`)
  const cdf = new Float64Array(n)
  let total = 0
  for (let k = 1; k <= n; k++) {
    total += k ** -s
    cdf[k - 1] = total
  }
  const random = seededRandom(seed)
  return {
    next() {
      const u = random() * total
      let lo = 0
      let hi = n - 1
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if ((cdf[mid] as number) < u) lo = mid + 1
        else hi = mid
      }
      return lo + 1
    },
    probability: (k) => (Number.isInteger(k) && k >= 1 && k <= n ? k ** -s / total : 0),
  }
}

/**
 * `count` Zipf ranks (1..n) drawn into a typed array, for workloads generated before timing.
 */
export function zipfSample(options: ZipfOptions & { readonly count: number }): Int32Array {
  const zipf = createZipf(options)
  const ranks = new Int32Array(options.count)
  for (let i = 0; i < ranks.length; i++) ranks[i] = zipf.next()
  return ranks
}
