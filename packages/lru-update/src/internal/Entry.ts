import type { Update } from '@phonon/core'
import type { Hold } from '@phonon/redis-shard'
import type { EndCause } from './Stats.js'
import type { Tracker } from './Tracker.js'

/**
 * One session of one resource in the LRU: a new entry (and a new shard hold) for every session,
 * so a late job of an ended session never touches its successor (invariant 5). @internal
 */
export class Entry {
  /** The pending partial aggregate; undefined when clean (all of it folded). */
  update: Update | undefined
  /** The shard hold, once acquired. */
  hold: Hold | undefined = undefined
  /** Messages waiting for `update` to be durable. */
  acks: Tracker[] | undefined = undefined
  /**
   * The session's deadlines; undefined when it has no finite limit (the common case: then an
   * entry costs no clock reads and no memory for them).
   */
  clock: SessionClock | undefined = undefined
  /** Why the session ends, set just before it leaves the LRU; unset: capacity. */
  endCause: EndCause | undefined = undefined
  /** Set once the session left the LRU. */
  ended = false

  constructor(
    readonly key: string,
    update: Update | undefined,
  ) {
    this.update = update
  }
}

/** The deadlines of a session with some finite limit (all in ms of the aggregator's clock). @internal */
export interface SessionClock {
  /** The idle limit: the aggregator's, or the first update's soft session if shorter. */
  readonly idleMs: number
  /** The session ends when idle past this time. */
  idleDeadline: number
  /** The session ends at this time however busy (max age, hard session). */
  readonly endDeadline: number
  /** When the entry's update became dirty (for `flushIntervalMs`). */
  dirtySince: number
}

/** What a job does to its session in the shard. @internal */
export type JobKind = 'acquire' | 'fold' | 'release'

/** One unit of flush work: a session's acquire, fold or release. @internal */
export interface Job {
  readonly kind: JobKind
  readonly entry: Entry
  /** What to fold (fold, release); the acquire target (acquire). */
  readonly update: Update | undefined
  readonly acks: Tracker[] | undefined
  /** `performance.now()` when queued. */
  readonly queuedAt: number
}
