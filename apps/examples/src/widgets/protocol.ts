import type { Aggregator } from '@phonon/lru-update'

/** What a worker process is started with (as JSON in its first argument). */
export interface WorkerConfig {
  readonly name: string
  readonly redisUrl: string
  /** phonon's key namespace, unique per run. */
  readonly namespace: string
  readonly stream: string
  readonly group: string
  /** LRU entries. */
  readonly capacity: number
  /** Entries dirty this long are folded into Redis and their messages acked (ms). */
  readonly flushIntervalMs: number
  /** Write to this PostgreSQL directly; otherwise executions go to the parent (PGlite). */
  readonly databaseUrl?: string
  readonly schema?: string
}

/** A worker's counters, as its progress bar shows them. */
export function progressOf(aggregator: Aggregator): WorkerProgress {
  const stats = aggregator.stats()
  return {
    events: stats.offers,
    merges: stats.merges,
    flushes: stats.releases + stats.folds,
    executions: stats.executions,
  }
}

/** What {@link progressOf} reports. */
export interface WorkerProgress {
  readonly events: number
  readonly merges: number
  readonly flushes: number
  readonly executions: number
}

/** An execution sent to the parent, which owns the embedded database. */
export interface ExecutionMessage {
  readonly resourceId: string
  readonly epoch: number
  readonly aggregate: { readonly id: string; readonly clicks: number; readonly impressions: number }
}

export type ToParent =
  | ({ readonly type: 'progress'; readonly name: string } & WorkerProgress)
  | {
      readonly type: 'execute'
      readonly id: number
      readonly executions: readonly ExecutionMessage[]
    }
  | {
      readonly type: 'done'
      readonly name: string
      readonly progress: WorkerProgress
      readonly redisRoundTrips: number
      readonly sqlStatements: number
    }

export type ToWorker =
  | { readonly type: 'stop' }
  | { readonly type: 'executed'; readonly id: number; readonly error?: string }
