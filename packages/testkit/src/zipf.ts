/**
 * A seeded Zipf sampler for benchmark workloads: O(1) memory and set-up, a handful of `log`/`exp`
 * per draw, the same ranks for the same seed on every run and machine.
 *
 * @module
 */
import { type Random, seededRandom } from './random.js'

/** Options of {@link createZipf} and {@link zipfSample}. */
export interface ZipfOptions {
  /** How many distinct ranks (keys): ranks are drawn from 1..n. A positive safe integer. */
  readonly n: number
  /** The skew exponent `s > 0`: rank `k` is drawn with probability ∝ `1 / k^s`. */
  readonly s: number
  /** Seed of the default PRNG (mulberry32); ignored when `random` is given. Default 1. */
  readonly seed?: number
  /** A source of uniform numbers in [0, 1) to draw from instead of the seeded default. */
  readonly random?: Random
}

/** A seeded Zipf(s) sampler over ranks 1..n. */
export interface Zipf {
  /** How many ranks there are. */
  readonly n: number
  /** The skew exponent. */
  readonly s: number
  /** The next rank: an integer in [1, n]; rank 1 is the most frequent. */
  next(): number
  /**
   * The exact probability of rank `k`, `k^-s / H(n, s)`; 0 outside [1, n]. The first call sums
   * the generalised harmonic number `H(n, s)` (O(n)); sampling never needs it.
   */
  probability(k: number): number
}

/**
 * A Zipf(s) sampler over ranks 1..n by rejection-inversion (W. Hörmann and G. Derflinger,
 * "Rejection-inversion to generate variates from monotone discrete distributions", ACM TOMACS
 * 6(3), 1996; the variant of Apache Commons RNG's `RejectionInversionZipfSampler`). Unlike
 * inverting a precomputed CDF it needs no O(n) table, so it suits any number of keys; the
 * expected number of uniforms per draw is below 1.1 for every `s` and `n`.
 *
 * @param options - the number of ranks `n`, the exponent `s`, and a `seed` (or a `random`).
 * @returns a sampler whose `next()` draws ranks in [1, n], deterministic for a seed.
 * @throws RangeError when `n` is not a positive safe integer or `s` not a finite positive number.
 * @example
 * const zipf = createZipf({ n: 1_000_000, s: 1.1, seed: 42 })
 * const rank = zipf.next() // 1 about 9% of the time
 */
export function createZipf({ n, s, seed = 1, random = seededRandom(seed) }: ZipfOptions): Zipf {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`n must be a positive safe integer, got ${n}`)
  }
  if (!(s > 0) || !Number.isFinite(s)) {
    throw new RangeError(`s must be a finite positive number, got ${s}`)
  }
  /** The hat function's integral H(x) = ((x^(1−s)) − 1) / (1 − s), or log(x) when s = 1. */
  const hIntegral = (x: number): number => {
    const logX = Math.log(x)
    return helper2((1 - s) * logX) * logX
  }
  /** h(x) = x^−s, the (unnormalised) density the ranks follow. */
  const h = (x: number): number => Math.exp(-s * Math.log(x))
  /** The inverse of {@link hIntegral}. */
  const hIntegralInverse = (x: number): number => {
    // Clamp rounding errors that would take the argument of log1p below −1.
    const t = Math.max(x * (1 - s), -1)
    return Math.exp(helper1(t) * x)
  }
  const hIntegralX1 = hIntegral(1.5) - 1
  const hIntegralN = hIntegral(n + 0.5)
  // Accept k without evaluating h when x is this close to it (the squeeze of the paper).
  const squeeze = 2 - hIntegralInverse(hIntegral(2.5) - h(2))
  let harmonic: number | undefined

  return {
    n,
    s,
    next() {
      for (;;) {
        // u is uniform in (H(1.5) − 1, H(n + 0.5)]: the area under the hat, inverted to x.
        const u = hIntegralN + random() * (hIntegralX1 - hIntegralN)
        const x = hIntegralInverse(u)
        const k = Math.min(Math.max(Math.round(x), 1), n)
        if (k - x <= squeeze || u >= hIntegral(k + 0.5) - h(k)) return k
      }
    },
    probability(k) {
      if (!Number.isInteger(k) || k < 1 || k > n) return 0
      if (harmonic === undefined) {
        // Smallest terms first, for accuracy.
        harmonic = 0
        for (let i = n; i >= 1; i--) harmonic += i ** -s
      }
      return k ** -s / harmonic
    },
  }
}

/**
 * `count` Zipf ranks (1..n) drawn into a typed array: a workload generated once, before timing.
 *
 * @param options - as for {@link createZipf}, plus how many ranks to draw.
 * @returns the ranks, in draw order.
 * @throws RangeError as {@link createZipf} does, or when `count` is not a non-negative integer.
 * @example
 * const keys = zipfSample({ n: 1_000_000, s: 1.1, seed: 1, count: 10_000_000 })
 */
export function zipfSample(options: ZipfOptions & { readonly count: number }): Int32Array {
  if (!Number.isSafeInteger(options.count) || options.count < 0) {
    throw new RangeError(`count must be a non-negative integer, got ${options.count}`)
  }
  if (options.n > 2 ** 31 - 1) throw new RangeError(`n must fit an Int32Array, got ${options.n}`)
  const zipf = createZipf(options)
  const ranks = new Int32Array(options.count)
  for (let i = 0; i < ranks.length; i++) ranks[i] = zipf.next()
  return ranks
}

/** log1p(x) / x, accurate near 0 (where it tends to 1). */
function helper1(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (0.5 - x * (1 / 3 - 0.25 * x))
}

/** expm1(x) / x, accurate near 0 (where it tends to 1). */
function helper2(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x))
}
