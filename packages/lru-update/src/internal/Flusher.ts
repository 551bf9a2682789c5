import { ArgumentError, CacheError, CodecError, ShardError, type Update } from '@phonon/core'
import type { Claim, Hold, ReleaseItem, ReleaseResult } from '@phonon/redis-shard'
import { Cause, Duration, Effect, Either, Fiber, Schedule } from 'effect'
import type { Failure } from '../Failure.js'
import { batchFailures, type Settings } from '../options.js'
import type { Entry, Job } from './Entry.js'
import { Lane } from './Lane.js'
import type { Counters } from './Stats.js'
import { failAll, settleAll } from './Tracker.js'

/** What the flusher tells its owner (the aggregator). @internal */
export interface FlusherOwner {
  /**
   * A fold was not sent (its hold could not be acquired, or was given up to a fold in doubt): its
   * partial aggregate and messages go back into the entry if the session is still held.
   * @returns false when they could not (the session ended meanwhile).
   */
  restore(job: Job): boolean
  /** The shard asked the session's holders to end it (`forceExpiry` from any process). */
  forced(entry: Entry): void
  /** A job left the queue (finished: durable, failed, or put back into its entry). */
  jobDone(job: Job): void
  /** Work exhausted its retries. */
  failed(failure: Failure): void
  /** A failure's `retry()` did its work: it leaves `failures()`. */
  resolved(failure: Failure): void
}

/** The outcome of one item of a shard call: its result, or why it failed. */
type Outcome<R> = Either.Either<R, unknown>

/**
 * Work re-run by a failure's `retry()`: fails when its own part failed again; succeeds with the
 * number of new failures the work it led to recorded (executions, completions).
 */
type Rerun = Effect.Effect<number, unknown>

/**
 * Hands jobs to the shard in batches: one lane (a queue drained by one fiber) per
 * `flushConcurrency`, a resource always in the same lane, so the jobs of a session run in order.
 * A batch acquires the holds it needs, folds, releases (one `*Many` call each, one pipeline per
 * node), then executes what it claimed and completes it.
 *
 * A fold keeps the session's hold: the shard applies the folds of a hold strictly in step order,
 * and a hold's next step is taken only from a definite answer. A fold that failed for good is in
 * doubt (it may have reached the shard): its entry gives that hold up to the fold's failure, whose
 * `retry()` re-sends that very fold and then releases the hold; the entry goes on under a new
 * hold. So nothing is ever sent after an in-doubt fold of the same hold, and no fold is skipped.
 *
 * Exactness by construction: every job is *finished* exactly once (`#finish`), and only there
 * are its messages settled — acked when its update is in the shard, nacked when it failed for
 * good, or handed back to its entry. A batch that dies of a defect finishes its unfinished jobs
 * as failures (kept in `failures()`), so no message is left unsettled. @internal
 */
export class Flusher {
  readonly #settings: Settings
  readonly #counters: Counters
  readonly #owner: FlusherOwner
  readonly #lanes: Array<Lane<Job>>
  readonly #fibers: Array<Fiber.RuntimeFiber<never, never>>
  /** The one retry schedule: exponential from `baseDelayMs`, jittered, capped at `maxDelayMs`. */
  readonly #schedule: Schedule.Schedule<unknown, unknown>

  constructor(settings: Settings, counters: Counters, owner: FlusherOwner) {
    this.#settings = settings
    this.#counters = counters
    this.#owner = owner
    const { attempts, baseDelayMs, maxDelayMs } = settings.retry
    this.#schedule = Schedule.exponential(Duration.millis(baseDelayMs)).pipe(
      Schedule.jittered,
      Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.millis(maxDelayMs))),
      Schedule.intersect(Schedule.recurs(attempts - 1)),
    )
    this.#lanes = Array.from({ length: settings.flushConcurrency }, () => new Lane<Job>())
    this.#fibers = this.#lanes.map((lane) =>
      Effect.runFork(
        Effect.forever(Effect.flatMap(this.#takeBatch(lane), (jobs) => this.#process(jobs))),
      ),
    )
  }

  /** Queues a job in its resource's lane. */
  enqueue(job: Job): void {
    const entry = job.entry
    if (entry.lane < 0) entry.lane = laneOf(entry.key, this.#lanes.length)
    ;(this.#lanes[entry.lane] as Lane<Job>).push(job)
  }

  /** Stops the lanes (after the owner waited for them to drain). */
  async close(): Promise<void> {
    await Effect.runPromise(Fiber.interruptAll(this.#fibers))
  }

  /**
   * The next batch of a lane: its first job, then whatever else arrives until the producer's
   * current macrotask ends (a producer merging in microtasks fills the batch), up to `flushBatch`.
   */
  #takeBatch(lane: Lane<Job>): Effect.Effect<readonly Job[]> {
    return Effect.zipRight(
      Effect.zipRight(lane.ready, nextMacrotask),
      Effect.sync(() => lane.take(this.#settings.flushBatch)),
    )
  }

  /**
   * One batch of one lane, in two waves: first the sessions held already (acquired by an earlier
   * batch), then the others. So a session that ended is released before the next session of its
   * resource is acquired, and a worker alone on a resource executes it when the session ends.
   * A defect finishes the jobs it left unfinished as failures: nothing is swallowed.
   */
  #process(jobs: readonly Job[]): Effect.Effect<void> {
    const held = jobs.filter((job) => job.entry.acquired)
    const unheld = jobs.filter((job) => !job.entry.acquired)
    return Effect.zipRight(this.#wave(held), this.#wave(unheld)).pipe(
      Effect.catchAllCause((cause) => Effect.sync(() => this.#defect(jobs, cause))),
      Effect.ensuring(
        Effect.sync(() => {
          for (const job of jobs) this.#owner.jobDone(job)
        }),
      ),
    )
  }

  #wave(jobs: readonly Job[]): Effect.Effect<void> {
    if (jobs.length === 0) return Effect.void
    return Effect.gen(this, function* () {
      const errors = yield* this.#acquire(jobs)
      const folds: Job[] = []
      const releases: Job[] = []
      for (const job of jobs) {
        if (job.kind === 'acquire')
          this.#finish(job, 'durable') // it carries no message
        else if (!job.entry.acquired) this.#notSent(job, errors.get(job.entry))
        else (job.kind === 'fold' ? folds : releases).push(job)
      }
      const claimed = yield* this.#fold(folds)
      // A fold in doubt gave up its entry's hold: that entry's release needs a hold of its own.
      const again = yield* this.#acquire(releases)
      const held: Job[] = []
      for (const job of releases) {
        if (job.entry.acquired) held.push(job)
        else this.#notSent(job, again.get(job.entry))
      }
      yield* this.#runClaims([...claimed, ...(yield* this.#release(held))])
    })
  }

  /**
   * Acquires the hold of every session of the wave that has none yet and something to hold it
   * for; returns why the others failed. A session's hold is minted once, before its first
   * attempt: acquiring it again (a retry after a lost reply, a later batch) is idempotent.
   */
  #acquire(jobs: readonly Job[]): Effect.Effect<Map<Entry, unknown>> {
    const entries: Entry[] = []
    const holds: Hold[] = []
    const errors = new Map<Entry, unknown>()
    // An entry may have several jobs in a wave (its acquire, then its release): acquired once.
    const seen = new Set<Entry>()
    for (const { entry, update } of jobs) {
      if (entry.acquired || update === undefined || seen.has(entry)) continue
      seen.add(entry)
      try {
        entry.hold ??= this.#settings.shard.newHold(update)
      } catch (error) {
        errors.set(entry, error) // a type the shard's codec does not know: nothing to acquire
        continue
      }
      entries.push(entry)
      holds.push(entry.hold)
    }
    return Effect.map(
      this.#many(holds, (batch) => this.#settings.shard.acquireMany(batch)),
      (outcomes) => {
        outcomes.forEach((outcome, i) => {
          const entry = entries[i] as Entry
          if (Either.isLeft(outcome)) errors.set(entry, outcome.left)
          else {
            entry.acquired = true
            this.#counters.acquires++
          }
        })
        return errors
      },
    )
  }

  /**
   * Folds partial aggregates while keeping their sessions: one `foldMany` per round, a round
   * holding at most one fold per entry (the next one waits for the definite answer that gives
   * its step). A fold whose session was given up meanwhile goes back into its entry. Returns
   * the claims folds won (a fold of a hold recovery evicted, when it left its resource idle).
   */
  #fold(jobs: readonly Job[]): Effect.Effect<readonly Claim[]> {
    if (jobs.length === 0) return Effect.succeed([])
    const round: Job[] = []
    const later: Job[] = []
    for (const job of jobs) {
      if (!job.entry.acquired) this.#notSent(job, undefined)
      else if (round.some((other) => other.entry === job.entry)) later.push(job)
      else round.push(job)
    }
    const items = round.map((job) => {
      job.sentWith = job.entry.hold
      return [job.sentWith as Hold, job.update as Update] as const
    })
    return Effect.gen(this, function* () {
      const outcomes = yield* this.#many(items, (batch) => this.#settings.shard.foldMany(batch))
      const claims: Claim[] = []
      outcomes.forEach((outcome, i) => {
        const job = round[i] as Job
        if (Either.isLeft(outcome)) {
          this.#fail(job, outcome.left)
          return
        }
        const { hold, forcedExpiry, claim } = outcome.right
        if (claim) claims.push(claim)
        job.entry.hold = hold
        this.#counters.folds++
        this.#finish(job, 'durable')
        if (forcedExpiry) this.#owner.forced(job.entry) // forceExpiry from any process
      })
      return [...claims, ...(yield* this.#fold(later))]
    })
  }

  /** Releases the sessions that ended; returns the claims this worker must execute. */
  #release(jobs: readonly Job[]): Effect.Effect<readonly Claim[]> {
    const items = jobs.map((job): ReleaseItem => {
      job.sentWith = job.entry.hold
      return releaseItem(job.entry.hold as Hold, job.update, job.entry.claimEmpty)
    })
    return Effect.map(
      this.#many(items, (batch) => this.#settings.shard.releaseMany(batch)),
      (outcomes) => {
        const claims: Claim[] = []
        outcomes.forEach((outcome, i) => {
          const job = jobs[i] as Job
          if (Either.isLeft(outcome)) {
            this.#fail(job, outcome.left)
            return
          }
          // The answer is read before the job is finished: a release is acked once understood.
          const result: ReleaseResult = outcome.right
          if (result.last) claims.push(result.claim)
          this.#counters.releases++
          this.#finish(job, 'durable')
        })
        return claims
      },
    )
  }

  /** A job whose session holds nothing in the shard: its acquire failed. */
  #notSent(job: Job, error: unknown): void {
    if (job.update === undefined)
      this.#finish(job, 'durable') // nothing to fold
    else if (job.kind === 'fold' && this.#owner.restore(job)) this.#finish(job, 'restored')
    else this.#fail(job, error ?? new ShardError('no hold'))
  }

  /**
   * Executes claims, completes them, and goes on with the claims completing hands back.
   * @returns the number of failures recorded on the way.
   */
  #runClaims(claims: readonly Claim[]): Effect.Effect<number> {
    if (claims.length === 0) return Effect.succeed(0)
    return Effect.gen(this, function* () {
      const { executed, failed } = yield* this.#execute(claims)
      const completed = yield* this.#complete(executed)
      return failed + completed.failed + (yield* this.#runClaims(completed.next))
    })
  }

  /**
   * Executes claims. A first attempt of each runs as a plain promise (no fiber per claim:
   * executions are as many as session ends); only the failed ones go through the retry schedule.
   */
  #execute(claims: readonly Claim[]) {
    const { execute, executeBatch, executeConcurrency } = this.#settings
    const outcomes: Effect.Effect<Array<Outcome<unknown>>> =
      executeBatch === undefined
        ? Effect.flatMap(
            Effect.promise(() => settleEach(claims, execute, executeConcurrency)),
            (first) => this.#retryFailed(first, (i) => execute(claims[i] as Claim)),
          )
        : this.#executeBatch(claims, executeBatch)
    return Effect.map(outcomes, (results) => {
      const executed: Claim[] = []
      let failed = 0
      results.forEach((outcome, i) => {
        const claim = claims[i] as Claim
        if (Either.isRight(outcome)) {
          this.#counters.executions++
          executed.push(claim)
        } else {
          failed++
          this.#failClaim('execute', claim, outcome.left)
        }
      })
      return { executed, failed }
    })
  }

  /**
   * Executes claims with `executeBatch`: a rejection fails every claim of the call; a
   * {@link BatchOutcome} fails only the claims it lists. The claims that failed with a retryable
   * error (and only they) go to `executeBatch` again, on the retry schedule, until each is
   * executed or out of attempts.
   */
  #executeBatch(
    claims: readonly Claim[],
    executeBatch: NonNullable<Settings['executeBatch']>,
  ): Effect.Effect<Array<Outcome<unknown>>> {
    const outcomes: Array<Outcome<unknown>> = claims.map(() => Either.right(undefined))
    let pending = claims.map((_, i) => i)
    const attempt = Effect.tryPromise({
      try: async () => executeBatch(pending.map((i) => claims[i] as Claim)),
      catch: (error) => error,
    }).pipe(
      Effect.flatMap((result): Effect.Effect<void, unknown> => {
        const failures = batchFailures(result, pending.length)
        if (failures instanceof Error) return Effect.fail(failures)
        for (const i of pending) outcomes[i] = Either.right(undefined)
        const retry: number[] = []
        for (const [at, error] of failures) {
          const i = pending[at] as number
          outcomes[i] = Either.left(error)
          if (retryable(error)) retry.push(i)
        }
        pending = retry
        return retry.length === 0 ? Effect.void : Effect.fail(SOME_FAILED)
      }),
      Effect.tapError(() => Effect.sync(() => this.#counters.retries++)),
    )
    return Effect.retry(attempt, {
      schedule: this.#schedule,
      while: (error) => error === SOME_FAILED || retryable(error),
    }).pipe(
      Effect.catchAll((error) => {
        // The last call was rejected as a whole: every claim it carried failed with it.
        if (error !== SOME_FAILED) for (const i of pending) outcomes[i] = Either.left(error)
        return Effect.void
      }),
      Effect.as(outcomes),
    )
  }

  /** Retries, on the schedule, the items whose first attempt failed with a retryable error. */
  #retryFailed<R>(
    first: Array<Outcome<R>>,
    call: (index: number) => R | Promise<R>,
  ): Effect.Effect<Array<Outcome<R>>> {
    const failed = first.flatMap((outcome, i) =>
      Either.isLeft(outcome) && retryable(outcome.left) ? [i] : [],
    )
    if (failed.length === 0) return Effect.succeed(first)
    this.#counters.retries += failed.length
    return Effect.forEach(
      failed,
      (i) =>
        Effect.map(Effect.either(this.#retrying(() => call(i), 1)), (outcome) => {
          first[i] = outcome
        }),
      { concurrency: this.#settings.executeConcurrency, discard: true },
    ).pipe(Effect.as(first))
  }

  /** Completes executed claims; returns the next claims the shard hands back. */
  #complete(claims: readonly Claim[]) {
    return Effect.map(
      this.#many(claims, (batch) => this.#settings.shard.completeMany(batch)),
      (outcomes) => {
        const next: Claim[] = []
        let failed = 0
        outcomes.forEach((outcome, i) => {
          if (Either.isLeft(outcome)) {
            failed++
            this.#failClaim('complete', claims[i] as Claim, outcome.left)
          } else if (outcome.right !== undefined) next.push(outcome.right)
        })
        return { next, failed }
      },
    )
  }

  // ---------------------------------------------------------------------------------------------
  // Outcomes

  /**
   * The one place a job ends and its messages are settled, once: acked when its update is in
   * the shard, nacked when it failed for good, left waiting when they went back into the entry.
   */
  #finish(job: Job, how: 'durable' | 'restored' | { readonly failed: unknown }): void {
    if (job.finished)
      throw new Error(`flusher bug: a ${job.kind} job of ${job.entry.key} finished twice`)
    job.finished = true
    if (how === 'durable') {
      settleAll(job.acks)
      if (job.kind !== 'acquire') this.#counters.recordLatency(performance.now() - job.queuedAt)
    } else if (how !== 'restored') failAll(job.acks, how.failed)
  }

  /**
   * A fold or release failed for good. A release's retry releases the hold it was sent with
   * (idempotent). A fold's is in doubt: its entry gives the hold up (nothing more is sent under
   * it), and the retry re-sends that fold (applied once) and then releases the hold. A job never
   * sent is released as a session of its own.
   */
  #fail(job: Job, error: unknown): void {
    this.#finish(job, { failed: error })
    const { entry, update } = job
    // A release never sent (a defect before it) releases the session's own hold.
    const hold = job.sentWith ?? (job.kind === 'release' && entry.acquired ? entry.hold : undefined)
    let rerun: () => Rerun
    if (hold === undefined) rerun = this.#asNewSession(job)
    else if (job.kind === 'release')
      rerun = () => this.#releaseAndRun(hold, update, entry.claimEmpty)
    else {
      if (entry.hold === hold) {
        entry.hold = undefined
        entry.acquired = false
      }
      rerun = () =>
        Effect.flatMap(
          this.#retrying(() => this.#settings.shard.fold(hold, update as Update)),
          (folded) => this.#releaseAndRun(folded.hold, undefined, entry.claimEmpty),
        )
    }
    const kind = job.kind === 'release' ? 'release' : 'fold'
    this.#report({ kind, resourceId: entry.key, error, update }, rerun)
  }

  #failClaim(kind: 'execute' | 'complete', claim: Claim, error: unknown): void {
    const rerun = () =>
      kind === 'execute'
        ? this.#runClaims([claim])
        : Effect.flatMap(this.#complete([claim]), ({ next, failed }) =>
            Effect.map(this.#runClaims(next), (n) => n + failed),
          )
    this.#report({ kind, resourceId: claim.resourceId, error, claim }, rerun)
  }

  /**
   * Records a failure. Its `retry()` re-runs its work on its own (never judged by what other
   * lanes did meanwhile): it rejects when that work failed again (the failure stays listed), and
   * when the work it led to recorded new failures (then it left the list, the new ones joined).
   */
  #report(base: FailureBase, rerun: () => Rerun): void {
    // Once its work went through, a retry does nothing: a release retried after the claim it
    // made was completed would look like a late release to the shard, and fold again.
    let done = false
    const failure = {
      ...base,
      retry: async () => {
        if (done) return
        const recorded = await Effect.runPromise(rerun())
        done = true
        this.#owner.resolved(failure)
        if (recorded > 0) {
          throw new CacheError(
            `the retry of ${base.kind} ${base.resourceId} led to ${recorded} new failure(s): see failures()`,
          )
        }
      },
    } as Failure
    this.#counters.failures++
    this.#owner.failed(failure)
  }

  /** A batch died of a defect: its unfinished folds and releases fail with it, kept as failures. */
  #defect(jobs: readonly Job[], cause: Cause.Cause<unknown>): void {
    const error = new CacheError(`the flusher failed: ${Cause.pretty(cause)}`, {
      cause: Cause.squash(cause),
    })
    for (const job of jobs) {
      if (job.finished) continue
      // An acquire carries no message, and its target is the delta a later job of its entry
      // carries: that job acquires again.
      if (job.kind === 'acquire') this.#finish(job, 'durable')
      else this.#fail(job, error)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Re-runs of failures

  /**
   * A never-sent job's delta as a session of its own: a hold minted now, once, acquired, released
   * with the delta; then its claims run. (Not the entry's hold: that one may be released by now.)
   * Every run of the retry uses that same hold, and once an acquire went through, later runs only
   * release it (idempotent): acquiring again after a release whose answer was lost would open the
   * released hold anew, and its release would fold the delta a second time.
   */
  #asNewSession(job: Job): () => Rerun {
    const update = job.update
    let hold: Hold | undefined
    let acquired = false
    return () => {
      if (update === undefined) return Effect.succeed(0)
      const shard = this.#settings.shard
      return Effect.suspend(() => {
        hold ??= shard.newHold(update)
        const minted = hold
        const acquire = acquired
          ? Effect.void
          : Effect.map(
              this.#retrying(() => shard.acquire(minted)),
              () => {
                acquired = true
                this.#counters.acquires++
              },
            )
        return Effect.flatMap(acquire, () =>
          this.#releaseAndRun(minted, update, job.entry.claimEmpty),
        )
      })
    }
  }

  /** Releases one hold with a delta (idempotent) and runs the claim it may bring. */
  #releaseAndRun(hold: Hold, update: Update | undefined, claimEmpty: boolean): Rerun {
    return Effect.flatMap(
      this.#retrying(() =>
        this.#settings.shard.release(hold, update, claimEmpty ? { claimEmpty } : undefined),
      ),
      (result) => (result.last ? this.#runClaims([result.claim]) : Effect.succeed(0)),
    )
  }

  // ---------------------------------------------------------------------------------------------
  // The one retry path

  /**
   * A call retried on the schedule while its error is worth retrying; `attemptsMade` attempts
   * were made already and count against `retry.attempts`.
   */
  /** The retry schedule of a call `attemptsMade` attempts were made of already. */
  #scheduleAfter(attemptsMade: number): Schedule.Schedule<unknown, unknown> {
    const remaining = this.#settings.retry.attempts - attemptsMade
    return Schedule.intersect(this.#schedule, Schedule.recurs(Math.max(0, remaining - 1)))
  }

  readonly #countRetry = () => Effect.sync(() => this.#counters.retries++)

  #retrying<A>(call: () => A | Promise<A>, attemptsMade = 0): Effect.Effect<A, unknown> {
    const once = Effect.tryPromise({ try: async () => call(), catch: (error) => error }).pipe(
      Effect.tapError(this.#countRetry),
    )
    return Effect.retry(once, {
      schedule: attemptsMade === 0 ? this.#schedule : this.#scheduleAfter(attemptsMade),
      while: retryable,
    })
  }

  /**
   * One batched shard call, retried as a whole while it fails with a retryable error; the
   * outcome of every item. When it fails for bad input (an `ArgumentError` or `CodecError`: one
   * item sinks the batch, the same way every time), each item is tried once on its own, so the
   * others go through.
   */
  #many<I, R>(
    items: readonly I[],
    call: (items: readonly I[]) => Promise<readonly R[]>,
  ): Effect.Effect<Array<Outcome<Exclude<R, Error>>>> {
    type Ok = Exclude<R, Error>
    if (items.length === 0) return Effect.succeed([])
    const counted = (batch: readonly I[]) => {
      this.#counters.shardCalls++
      return call(batch)
    }
    // A shard reports a resource's own failure (ResourceError) in place: only that item failed.
    const outcome = (result: R): Outcome<Ok> =>
      result instanceof Error ? Either.left(result) : Either.right(result as Ok)
    return this.#retrying(() => counted(items)).pipe(
      Effect.flatMap((results) =>
        Array.isArray(results) && results.length === items.length
          ? Effect.succeed(results.map(outcome))
          : Effect.fail(
              new ShardError(
                `the shard answered ${items.length} items with ${describeReply(results)}`,
              ),
            ),
      ),
      Effect.catchAll((error) =>
        items.length === 1 || retryable(error)
          ? Effect.succeed(items.map((): Outcome<Ok> => Either.left(error)))
          : Effect.forEach(
              items,
              (item) =>
                Effect.map(
                  Effect.either(
                    Effect.tryPromise({
                      try: async () => (await counted([item]))[0] as R,
                      catch: (e) => e,
                    }),
                  ),
                  (either): Outcome<Ok> =>
                    Either.isLeft(either) ? Either.left(either.left) : outcome(either.right),
                ),
              { concurrency: FALLBACK_CONCURRENCY },
            ),
      ),
    )
  }
}

/** A release of a hold with its delta, claiming an empty session's execution when asked. */
function releaseItem(hold: Hold, update: Update | undefined, claimEmpty: boolean): ReleaseItem {
  return claimEmpty ? [hold, update, { claimEmpty }] : [hold, update]
}

/** A failure without its retry. */
type FailureBase =
  | { kind: 'fold' | 'release'; resourceId: string; error: unknown; update: Update | undefined }
  | { kind: 'execute' | 'complete'; resourceId: string; error: unknown; claim: Claim }

/** Items tried at once when a batch failed for bad input. */
const FALLBACK_CONCURRENCY = 8

function describeReply(reply: unknown): string {
  return Array.isArray(reply) ? `${reply.length} results` : typeof reply
}

/** Resumes once the current macrotask (and its microtasks) is over. */
const nextMacrotask = Effect.async<void>((resume) => {
  const timer = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(timer))
})

/** Runs `run` on every item, at most `concurrency` at once; the outcome of each, in order. */
async function settleEach<T>(
  items: readonly T[],
  run: (item: T) => unknown,
  concurrency: number,
): Promise<Array<Outcome<unknown>>> {
  const outcomes: Array<Outcome<unknown>> = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      try {
        outcomes[i] = Either.right(await run(items[i] as T))
      } catch (error) {
        outcomes[i] = Either.left(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return outcomes
}

/** What `#executeBatch` fails an attempt with when some claims failed alone (not the call). */
const SOME_FAILED: unique symbol = Symbol('some claims failed')

/** Bad input fails the same way every time: not worth a retry. */
function retryable(error: unknown): boolean {
  return !(error instanceof ArgumentError || error instanceof CodecError)
}

/** The lane of a resource: FNV-1a of its key. */
function laneOf(key: string, lanes: number): number {
  if (lanes === 1) return 0
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % lanes
}
