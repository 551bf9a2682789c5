import { Effect } from 'effect'

/**
 * One flusher lane's queue of jobs: FIFO, unbounded, drained by one fiber in batches. A plain
 * array (an Effect `Queue` builds a Chunk node per job it hands out: half of what a run on a
 * shard doing nothing allocated), with at most one fiber waiting for it. @internal
 */
export class Lane<T> {
  #items: T[] = []
  #waiting: ((ready: Effect.Effect<void>) => void) | undefined = undefined

  /** Jobs queued now. */
  get size(): number {
    return this.#items.length
  }

  /** Queues an item, waking the fiber waiting for one. */
  push(item: T): void {
    this.#items.push(item)
    const waiting = this.#waiting
    if (waiting !== undefined) {
      this.#waiting = undefined
      waiting(Effect.void)
    }
  }

  /** Resumes once the lane holds an item (at once if it does). One waiter at a time. */
  readonly ready: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.#items.length > 0) {
      resume(Effect.void)
      return
    }
    this.#waiting = resume
    return Effect.sync(() => {
      if (this.#waiting === resume) this.#waiting = undefined
    })
  })

  /** Takes the oldest `max` items at most, in order (none when it is empty). */
  take(max: number): T[] {
    const items = this.#items
    if (items.length <= max) {
      this.#items = []
      return items
    }
    return items.splice(0, max)
  }
}
