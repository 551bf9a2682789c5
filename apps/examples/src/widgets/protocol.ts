import type { Aggregator } from '@phonon/lru-update'

/** What a worker process is started with (as JSON in its first argument). */
export interface WorkerConfig {
  readonly name: string
  readonly redisUrl: string
  /** The stream's physical name (`widgets-<run>`) and shard count. */
  readonly stream: string
  readonly shards: number
  /** phonon's key namespace, unique per run. */
  readonly namespace: string
  readonly tuning: WorkerTuning
}

/** A worker's counters, as its progress bar shows them. */
export interface WorkerProgress {
  /** Records the worker handled (a refused round's records count again when re-read). */
  readonly events: number
  readonly merges: number
  /** Folds and releases sent to the shard. */
  readonly flushes: number
  readonly executions: number
  /** Shards leased now. */
  readonly owned: number
}

/** The counters of an aggregator (`events` and `owned` are the worker's). */
export function progressOf(aggregator: Aggregator, events: number, owned: number): WorkerProgress {
  const stats = aggregator.stats()
  return {
    events,
    merges: stats.merges,
    flushes: stats.releases + stats.folds,
    executions: stats.executions,
    owned,
  }
}

/** Process CPU time (user + system, ms) and the records handled, when the parent asked. */
export interface Sample {
  readonly cpuMs: number
  readonly events: number
}

export type ToParent =
  | ({ readonly type: 'progress'; readonly name: string } & WorkerProgress)
  | { readonly type: 'sample'; readonly name: string; readonly id: number; readonly sample: Sample }
  | {
      readonly type: 'done'
      readonly name: string
      readonly progress: WorkerProgress
      readonly redisRoundTrips: number
      readonly sqlStatements: number
      readonly cpuMs: number
    }
  | { readonly type: 'failed'; readonly name: string; readonly message: string }

export type ToWorker =
  | { readonly type: 'stop' }
  | { readonly type: 'sample'; readonly id: number }
  /** The PostgreSQL the worker writes to (DATABASE_URL, or the parent's PGlite over its socket). */
  | { readonly type: 'database'; readonly url: string; readonly schema?: string }

/** CPU time of this process so far (ms). */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

/** How a worker aggregates and commits. */
export interface WorkerTuning {
  /** LRU entries: a session lasts while its widget stays among the most recent `capacity`. */
  readonly capacity: number
  /** A round (checkpoints + the source's log entry, one fenced script) commits this often (ms)… */
  readonly roundMs: number
  /** …or after this many records. */
  readonly roundRecords: number
  /** Lease time to live (ms); leases are renewed and rebalanced every quarter of it. */
  readonly leaseMs: number
}

/**
 * Default tuning: an LRU larger than the default widget count (a session spans the run), rounds
 * of up to 3 s (a round folds every entry dirty in it into Redis: longer rounds, fewer folds).
 */
export const TUNING: WorkerTuning = {
  capacity: 50_000,
  roundMs: 3_000,
  roundRecords: 500_000,
  leaseMs: 4_000,
}
