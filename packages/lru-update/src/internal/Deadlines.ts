import type { Entry } from './Entry.js'

/**
 * The deadlines of a session with some finite limit, in ms of the aggregator's clock. Only such
 * sessions carry one. @internal
 */
export interface Timer {
  readonly entry: Entry
  /** The idle limit: the aggregator's, or the first update's soft session if shorter. */
  readonly idleMs: number
  /** The session ends when idle past this time (moved on by every offer). */
  idleDeadline: number
  /** The session ends at this time however busy (max age, hard session). */
  readonly endDeadline: number
  /** The entry is folded at this time (`flushIntervalMs` after it became dirty); Infinity when clean. */
  flushDeadline: number
  /** The bucket it is filed in (NaN: not filed), and its neighbours there. */
  bucket: number
  prev: Timer | undefined
  next: Timer | undefined
}

/** The earliest deadline a timer has now. */
export function nextDeadline(timer: Timer): number {
  return Math.min(timer.idleDeadline, timer.endDeadline, timer.flushDeadline)
}

/**
 * Timers filed by deadline in buckets `width` ms wide (a hashed timing wheel without a fixed
 * size). Filing and unfiling are O(1). A timer is filed at a time no later than its next
 * deadline and only moved when that bucket comes due (an offer only pushes its idle deadline
 * later, and writes a number), so a sweep costs O(timers due), and nothing when none is filed.
 * @internal
 */
export class Deadlines {
  readonly #width: number
  readonly #buckets = new Map<number, Timer>()
  /** No filed timer is in a bucket below this one. */
  #cursor = 0
  /** The last bucket swept for good: a timer filed now goes in a later one. */
  #swept = Number.NEGATIVE_INFINITY
  #filed = 0

  constructor(width: number) {
    this.#width = width
  }

  /** Timers filed now. */
  get size(): number {
    return this.#filed
  }

  /** Files a timer (unfiled) at its next deadline; one already due goes in the next bucket swept. */
  file(timer: Timer): void {
    const at = Math.floor(nextDeadline(timer) / this.#width)
    if (!Number.isSafeInteger(at)) {
      timer.bucket = Number.NaN // no finite deadline left: nothing to wait for
      return
    }
    const bucket = Math.max(at, this.#swept + 1)
    if (this.#filed === 0 || bucket < this.#cursor) this.#cursor = bucket
    const head = this.#buckets.get(bucket)
    timer.bucket = bucket
    timer.prev = undefined
    timer.next = head
    if (head !== undefined) head.prev = timer
    this.#buckets.set(bucket, timer)
    this.#filed++
  }

  /** Takes a timer out (a no-op when it is not filed). */
  unfile(timer: Timer): void {
    if (Number.isNaN(timer.bucket)) return
    if (timer.prev !== undefined) timer.prev.next = timer.next
    else if (timer.next !== undefined) this.#buckets.set(timer.bucket, timer.next)
    else this.#buckets.delete(timer.bucket)
    if (timer.next !== undefined) timer.next.prev = timer.prev
    timer.prev = timer.next = undefined
    timer.bucket = Number.NaN
    this.#filed--
  }

  /** Files a timer again when its next deadline moved before the bucket it is in. */
  advance(timer: Timer): void {
    if (Math.floor(nextDeadline(timer) / this.#width) >= timer.bucket) return
    this.unfile(timer)
    this.file(timer)
  }

  /**
   * Hands every timer of the buckets due by `now` to `visit`, unfiled; `visit` ends its session
   * or files it again (into a later bucket, or the current one, visited again next time). So
   * every timer whose deadline is at or before `now` is visited: none is late.
   */
  due(now: number, visit: (timer: Timer) => void): void {
    const last = Math.floor(now / this.#width)
    if (this.#filed === 0 || last < this.#cursor) {
      this.#swept = Math.max(this.#swept, last - 1)
      return
    }
    // Walk the bucket numbers, or the buckets themselves when there are fewer of them.
    const buckets =
      last - this.#cursor + 1 <= this.#buckets.size
        ? Array.from({ length: last - this.#cursor + 1 }, (_, i) => this.#cursor + i)
        : [...this.#buckets.keys()].filter((b) => b <= last).sort((a, b) => a - b)
    // The current bucket stays open: what is filed again into it is visited by the next sweep.
    this.#cursor = last
    this.#swept = Math.max(this.#swept, last - 1)
    for (const bucket of buckets) {
      let timer = this.#buckets.get(bucket)
      if (timer === undefined) continue
      this.#buckets.delete(bucket)
      while (timer !== undefined) {
        const next: Timer | undefined = timer.next
        timer.prev = timer.next = undefined
        timer.bucket = Number.NaN
        this.#filed--
        visit(timer)
        timer = next
      }
    }
  }
}
