import type { ShardStats } from '@phonon/redis-shard'

/**
 * Why a session ended: `capacity` (the LRU was full, or an entry grew past `maxSize`), `idle`
 * (`idleMs` or the update's soft session), `maxAge` (`maxAgeMs` or the update's hard session),
 * `forced` (`forceExpiry` on the held update), `expire`, `expireAll`, `close`.
 */
export type EndCause = 'capacity' | 'idle' | 'maxAge' | 'forced' | 'expire' | 'expireAll' | 'close'

/** Percentiles of flush latency (ms): from a session's end (or fold) to its fold into the shard. */
export interface LatencyStats {
  /** Latencies recorded so far; the percentiles are of the latest 4,096. */
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/** What an aggregator did so far; see {@link Aggregator.stats}. */
export interface AggregatorStats {
  /** Updates offered and accepted. */
  readonly offers: number
  /** Offers merged into a held entry (hits). */
  readonly merges: number
  /** Offers that started a session where none was held (misses). */
  readonly inserts: number
  /**
   * Offers that found their resource's session past its max age or hard session: it ended and a
   * new session started with the offer. `offers = merges + inserts + renewals`.
   */
  readonly renewals: number
  /** `merges / offers`: the share of events that never touch the shard. */
  readonly hitRatio: number
  /** Sessions ended, by cause. */
  readonly ended: Readonly<Record<EndCause, number>>
  /** Sessions acquired in the shard. */
  readonly acquires: number
  /** Partial aggregates folded while keeping their session (`flushIntervalMs`, `flush()`). */
  readonly folds: number
  /** Sessions released to the shard. */
  readonly releases: number
  /** Global aggregates executed (as last holder). */
  readonly executions: number
  /** Work that exhausted its retries (see `failures()`). */
  readonly failures: number
  /** Failed attempts of shard calls and executions, including last attempts not retried. */
  readonly retries: number
  /** Entries held now. */
  readonly entries: number
  /** Jobs queued or in flight now. */
  readonly queued: number
  /** Calls to the shard (each one pipeline per node). */
  readonly shardCalls: number
  /** The shard's own counters: Redis round trips and script calls. */
  readonly shard: ShardStats
  /** From a fold or release job's queueing to its success: percentiles of the last 4,096. */
  readonly flushLatencyMs: LatencyStats
}

const LATENCY_SAMPLES = 4096

/** Mutable counters behind {@link AggregatorStats}. @internal */
export class Counters {
  offers = 0
  merges = 0
  inserts = 0
  renewals = 0
  acquires = 0
  folds = 0
  releases = 0
  executions = 0
  failures = 0
  retries = 0
  shardCalls = 0
  readonly ended: Record<EndCause, number> = {
    capacity: 0,
    idle: 0,
    maxAge: 0,
    forced: 0,
    expire: 0,
    expireAll: 0,
    close: 0,
  }
  /** The latest latencies, a ring. */
  readonly #latencies = new Float64Array(LATENCY_SAMPLES)
  #latencyCount = 0

  recordLatency(ms: number): void {
    this.#latencies[this.#latencyCount++ % LATENCY_SAMPLES] = ms
  }

  latency(): LatencyStats {
    const n = Math.min(this.#latencyCount, LATENCY_SAMPLES)
    if (n === 0) return { count: 0, p50: 0, p99: 0, max: 0 }
    const sorted = this.#latencies.slice(0, n).sort()
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))] as number
    return { count: this.#latencyCount, p50: at(0.5), p99: at(0.99), max: sorted[n - 1] as number }
  }
}
