/**
 * What one message waits for: a count of the jobs its updates rode on. Settled once every job
 * was folded into the shard, failed at the first job that could not be. Either happens once.
 * @internal
 */
export class Tracker {
  #pending: number
  #done = false
  readonly #onDurable: () => void
  readonly #onFailed: (error: unknown) => void

  constructor(pending: number, onDurable: () => void, onFailed: (error: unknown) => void) {
    this.#pending = pending
    this.#onDurable = onDurable
    this.#onFailed = onFailed
    if (pending === 0) this.#finish(undefined, false)
  }

  /** One of its jobs is durable. */
  settle(): void {
    if (--this.#pending === 0) this.#finish(undefined, false)
  }

  /** One of its jobs failed: the message fails (once). */
  fail(error: unknown): void {
    this.#finish(error, true)
  }

  #finish(error: unknown, failed: boolean): void {
    if (this.#done) return
    this.#done = true
    if (failed) this.#onFailed(error)
    else this.#onDurable()
  }
}

/** Settles every tracker of a durable job. @internal */
export function settleAll(trackers: readonly Tracker[] | undefined): void {
  if (trackers !== undefined) for (const tracker of trackers) tracker.settle()
}

/** Fails every tracker of a failed job. @internal */
export function failAll(trackers: readonly Tracker[] | undefined, error: unknown): void {
  if (trackers !== undefined) for (const tracker of trackers) tracker.fail(error)
}
