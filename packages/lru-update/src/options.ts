import { ArgumentError, CacheError, type Update } from '@phonon/core'
import { type Claim, executeClaim, type Shard } from '@phonon/redis-shard'
import type { Failure } from './Failure.js'
import { describe } from './internal/describe.js'

/** How failed shard calls and executions are retried before they become a {@link Failure}. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 5. */
  readonly attempts?: number
  /** Delay before the first retry (ms); it doubles each time, with jitter. Default 50. */
  readonly baseDelayMs?: number
  /** The longest delay between attempts (ms). Default 2,000. */
  readonly maxDelayMs?: number
}

/** A claim of an `executeBatch` call that was not executed, and why. */
export interface BatchClaimFailure {
  /** Its index in the claims of the call. */
  readonly index: number
  /**
   * Why. An `ArgumentError` or `CodecError` (bad input: it would fail the same way again) is
   * not retried; any other error is, on the retry schedule.
   */
  readonly error: unknown
}

/**
 * What `executeBatch` may resolve with: the claims that failed alone. Every claim of the call
 * not listed was executed. Extra properties (`applied`, `skipped`…) are ignored.
 */
export interface BatchOutcome {
  readonly failed: readonly BatchClaimFailure[]
}

/**
 * The failures an `executeBatch` call reported, as `[index, error]` with each index once; a
 * {@link CacheError} when the report is not `undefined` or a `{ failed }` list of claims of the
 * call (the whole call then counts as failed).
 */
export function batchFailures(
  result: unknown,
  claims: number,
): Array<readonly [number, unknown]> | CacheError {
  if (result === undefined || result === null) return []
  const failed = (result as { failed?: unknown }).failed
  if (typeof result !== 'object' || !Array.isArray(failed)) {
    return new CacheError(
      `executeBatch must resolve with nothing or { failed: [{ index, error }] }, got ${describe(result)}`,
    )
  }
  const byIndex = new Map<number, unknown>()
  for (const item of failed as unknown[]) {
    const index = (item as { index?: unknown } | null)?.index
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= claims) {
      return new CacheError(
        `executeBatch reported a failure at ${describe(index)}, not an index of its ${claims} claims`,
      )
    }
    byIndex.set(index, (item as { error?: unknown }).error)
  }
  return [...byIndex]
}

/** Options of {@link createAggregator}. */
export interface AggregatorOptions {
  /** The shared tier sessions are folded into and released to. */
  readonly shard: Shard
  /** The most entries (resources) held at once; the least recently used leaves first. */
  readonly max: number
  /** The largest total size of the entries, as measured by `sizeOf`; needs `sizeOf`. */
  readonly maxSize?: number
  /** The size of an entry's update, for `maxSize`; a positive integer. */
  readonly sizeOf?: (update: Update) => number
  /** A session ends after this long without an offer (ms). Default: never. */
  readonly idleMs?: number
  /** A session ends this long after it started, however busy (ms). Default: never. */
  readonly maxAgeMs?: number
  /**
   * Every entry dirty for longer than this is folded into the shard, keeping its session and its
   * place in the LRU (ms); it bounds staleness and what a crash makes the source redeliver.
   * Default: never.
   */
  readonly flushIntervalMs?: number
  /** Lanes flushing in parallel; a resource always goes through the same lane. Default 4. */
  readonly flushConcurrency?: number
  /** The most jobs one shard call carries. Default 256. */
  readonly flushBatch?: number
  /** Queued jobs past which `offer` asks its caller to wait. Default 4,096. */
  readonly maxQueued?: number
  /** Claims executed at once in one lane. Default 16. */
  readonly executeConcurrency?: number
  /** How retries are spaced. */
  readonly retry?: RetryOptions
  /**
   * Executes one claimed global aggregate. Default: `claim.update.execute(claim)`, so a sink
   * receives the claim's `resourceId` and `epoch` to dedupe on.
   */
  readonly execute?: (claim: Claim) => void | Promise<void>
  /**
   * Executes the claims of one flush at once (one multi-row statement, say); replaces `execute`.
   * Resolving with nothing means every claim was executed; a rejection means none was, and the
   * whole call is retried. To report claims that failed alone, resolve with
   * {@link BatchOutcome} `{ failed: [{ index, error }] }` (a `@phonon/adapters-django-style`
   * `sink.executeMany(claims)` result is one): the others are completed, and only the failed
   * ones are passed to `executeBatch` again, on the retry schedule.
   */
  readonly executeBatch?: (
    claims: readonly Claim[],
    // biome-ignore lint/suspicious/noConfusingVoidType: an async callback returning nothing is Promise<void>
  ) => void | BatchOutcome | Promise<void | BatchOutcome>
  /** Told of every failure that exhausted its retries; it is kept in `failures()` too. */
  readonly onFailed?: (failure: Failure) => void
  /** Close the shard when the aggregator closes. Default true. */
  readonly closeShard?: boolean
  /** The clock (ms) sessions and intervals are measured with. Default `Date.now`. */
  readonly now?: () => number
}

/** The options with every default filled in. */
export interface Settings {
  readonly shard: Shard
  readonly max: number
  readonly maxSize: number | undefined
  readonly sizeOf: ((update: Update) => number) | undefined
  readonly idleMs: number
  readonly maxAgeMs: number
  readonly flushIntervalMs: number
  readonly flushConcurrency: number
  readonly flushBatch: number
  readonly maxQueued: number
  readonly executeConcurrency: number
  readonly retry: Required<RetryOptions>
  readonly execute: (claim: Claim) => void | Promise<void>
  readonly executeBatch: AggregatorOptions['executeBatch']
  readonly onFailed: ((failure: Failure) => void) | undefined
  readonly closeShard: boolean
  readonly now: () => number
  /** How often the sweeper looks for ended sessions and dirty entries (ms). */
  readonly sweepMs: number
}

/**
 * Validates options and fills in defaults.
 * @throws {@link ArgumentError} naming the first invalid option.
 */
export function settings(options: AggregatorOptions): Settings {
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError('options must be an object')
  }
  const { shard } = options
  if (shard === null || typeof shard !== 'object' || typeof shard.releaseMany !== 'function') {
    throw new ArgumentError('shard option must be a Shard (RedisShard or MemoryShard)')
  }
  if ((options.maxSize === undefined) !== (options.sizeOf === undefined)) {
    throw new ArgumentError('maxSize and sizeOf options go together')
  }
  if (options.sizeOf !== undefined && typeof options.sizeOf !== 'function') {
    throw new ArgumentError('sizeOf option must be a function')
  }
  const idleMs = duration(options, 'idleMs')
  const maxAgeMs = duration(options, 'maxAgeMs')
  const flushIntervalMs = duration(options, 'flushIntervalMs')
  const timed = Math.min(idleMs, maxAgeMs, flushIntervalMs)
  const retry = options.retry ?? {}
  return {
    shard,
    max: integer(options, 'max', undefined, 1),
    maxSize: options.maxSize === undefined ? undefined : integer(options, 'maxSize', undefined, 1),
    sizeOf: options.sizeOf,
    idleMs,
    maxAgeMs,
    flushIntervalMs,
    flushConcurrency: integer(options, 'flushConcurrency', 4, 1),
    flushBatch: integer(options, 'flushBatch', 256, 1),
    maxQueued: integer(options, 'maxQueued', 4_096, 1),
    executeConcurrency: integer(options, 'executeConcurrency', 16, 1),
    retry: {
      attempts: integer(retry, 'attempts', 5, 1, 'retry.'),
      baseDelayMs: integer(retry, 'baseDelayMs', 50, 0, 'retry.'),
      maxDelayMs: integer(retry, 'maxDelayMs', 2_000, 0, 'retry.'),
    },
    execute: callback(options, 'execute') ?? executeClaim,
    executeBatch: callback(options, 'executeBatch'),
    onFailed: callback(options, 'onFailed'),
    closeShard: options.closeShard !== false,
    now: callback(options, 'now') ?? Date.now,
    // Often enough that a session ends within a quarter of its limit, at least every second
    // (the sweeper also sees `forceExpiry` set on held updates).
    sweepMs: Math.max(1, Math.min(1_000, Math.floor(timed / 4))),
  }
}

function integer<T extends object>(
  options: T,
  name: keyof T & string,
  fallback: number | undefined,
  min: number,
  prefix = '',
): number {
  const value = options[name] ?? fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ArgumentError(
      `${prefix}${name} option must be an integer ≥ ${min}, got ${String(value)}`,
    )
  }
  return value
}

function duration(options: AggregatorOptions, name: keyof AggregatorOptions & string): number {
  const value = options[name]
  if (value === undefined) return Infinity
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new ArgumentError(
      `${name} option must be a positive number of milliseconds, got ${String(value)}`,
    )
  }
  return value
}

function callback<K extends 'execute' | 'executeBatch' | 'onFailed' | 'now'>(
  options: AggregatorOptions,
  name: K,
): AggregatorOptions[K] {
  const value = options[name]
  if (value !== undefined && typeof value !== 'function') {
    throw new ArgumentError(`${name} option must be a function`)
  }
  return value
}
