import type { Update } from '@phonon/core'
import type { Hold } from '@phonon/redis-shard'
import type { Timer } from './Deadlines.js'
import type { EndCause } from './Stats.js'
import type { Tracker } from './Tracker.js'

/**
 * One session of one resource in the LRU: a new entry (and a new shard hold) for every session,
 * so a late job of an ended session never touches its successor (invariant 5). It is its own
 * node of the recency list (`newer` / `older`), so a hit moves it without allocating. @internal
 */
export class Entry {
  /** The pending partial aggregate; undefined when clean (all of it folded). */
  update: Update | undefined
  /**
   * The session's shard hold, minted before its first acquire (so a retried acquire is the same
   * hold, never a stray one), then by the hold each fold answers (its next step). Given up
   * (undefined, not acquired) when a fold of it is in doubt: that fold's failure owns it then.
   */
  hold: Hold | undefined = undefined
  /** Whether `hold` is acquired in the shard. */
  acquired = false
  /**
   * Whether its release claims an execution even with nothing folded in the whole session (its
   * model declares `onComplete`: every ended session is executed).
   */
  claimEmpty = false
  /** Messages waiting for `update` to be durable. */
  acks: Tracker[] | undefined = undefined
  /** The neighbours in the recency list (undefined at the ends, and once out of it). */
  newer: Entry | undefined = undefined
  older: Entry | undefined = undefined
  /**
   * The session's deadlines; undefined when it has no finite limit (the common case: then an
   * entry costs no clock reads and no memory for them).
   */
  timer: Timer | undefined = undefined
  /** Its size as `sizeOf` measured it (with `maxSize`), else 0. */
  size = 0
  /** Set once the session left the LRU. */
  ended = false
  /** The flusher's lane of its resource (-1 until the flusher picks it, once per session). */
  lane = -1

  constructor(
    /** The resource id, `collection.id`. */
    readonly key: string,
    /** The entity id: the key of `index`. */
    readonly id: string,
    /** The map of its collection that finds it by id. */
    readonly index: Map<string, Entry>,
    update: Update | undefined,
  ) {
    this.update = update
  }
}

/** What a job does to its session in the shard. @internal */
export type JobKind = 'acquire' | 'fold' | 'release'

/** One unit of flush work: a session's acquire, fold or release. @internal */
export interface Job {
  readonly kind: JobKind
  readonly entry: Entry
  /** What to fold (fold, release); the acquire target (acquire). */
  readonly update: Update | undefined
  /** The messages waiting on `update`; settled once, when the job is finished. */
  readonly acks: Tracker[] | undefined
  /** Why the session ended (release). */
  readonly cause: EndCause | undefined
  /** `performance.now()` when queued (a fold or release; 0 for an acquire). */
  readonly queuedAt: number
  /** The hold it was sent to the shard with (fold, release): a retry releases that one again. */
  sentWith: Hold | undefined
  /** Set when the job reached its outcome (durable or failed): its messages are settled then. */
  finished: boolean
}
