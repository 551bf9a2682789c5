import type { Aggregator } from '@phonon/lru-update'
import type { WorkerTuning } from './stream.js'

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
  /** The PostgreSQL the worker writes to (DATABASE_URL, or the parent's PGlite over its socket). */
  readonly databaseUrl: string
  readonly schema?: string
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

export type ToWorker = { readonly type: 'stop' } | { readonly type: 'sample'; readonly id: number }

/** CPU time of this process so far (ms). */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}
