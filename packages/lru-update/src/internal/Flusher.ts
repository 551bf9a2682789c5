import { ArgumentError, CodecError, type Update } from '@phonon/core'
import type { Claim, Hold, ReleaseResult } from '@phonon/redis-shard'
import { Duration, Effect, Either, Fiber, type ManagedRuntime, Queue, Schedule } from 'effect'
import type { Failure } from '../Failure.js'
import type { Settings } from '../options.js'
import { Entry, type Job } from './Entry.js'
import type { Counters } from './Stats.js'
import { failAll, settleAll } from './Tracker.js'

/** What the flusher tells its owner. @internal */
export interface FlusherOwner {
  /**
   * A fold was not sent (its hold could not be acquired): its partial aggregate goes back into
   * the entry if the session is still held; false otherwise.
   */
  foldFailed(job: Job): boolean
  /** A job left the queue (folded, released, or failed). */
  jobDone(job: Job): void
  /** Work exhausted its retries. */
  failed(failure: Failure): void
}

/** What a wave's acquire produced: the next hold of each fold, and the errors of the others. */
interface Acquired {
  readonly next: Map<Job, Hold>
  readonly errors: Map<Job | Entry, unknown>
}

/** The outcome of one item of a batched shard call. */
type Outcome<R> = Either.Either<R, unknown>

/** Attempts of a single item after its batch failed: the batch already retried. */
const FALLBACK_CONCURRENCY = 8

/**
 * Hands jobs to the shard in batches: one lane (an Effect queue drained by one fiber) per
 * `flushConcurrency`, a resource always in the same lane, so the jobs of a session run in order.
 * A batch acquires the holds it needs, then releases (one `*Many` call each, one pipeline per
 * node), then executes what it claimed and completes it. Failed calls are retried with
 * exponential backoff; a batch that still fails is retried item by item, so one bad item cannot
 * sink the others.
 *
 * A fold (`flushIntervalMs`, `flush()`, `initCache`) rotates the session's hold: a new hold is
 * acquired, then the old one released with the delta — never the last, as the new hold keeps the
 * resource. Unlike the shard's `fold`, a release is idempotent, so retrying one whose reply was
 * lost (or whose batch failed on another node) never folds a delta twice. @internal
 */
export class Flusher {
  readonly #settings: Settings
  readonly #counters: Counters
  readonly #owner: FlusherOwner
  readonly #runtime: ManagedRuntime.ManagedRuntime<never, never>
  readonly #lanes: Array<Queue.Queue<Job>>
  readonly #fibers: Array<Fiber.RuntimeFiber<never, never>>
  readonly #schedule: Schedule.Schedule<unknown, unknown>

  constructor(
    settings: Settings,
    counters: Counters,
    owner: FlusherOwner,
    runtime: ManagedRuntime.ManagedRuntime<never, never>,
  ) {
    this.#settings = settings
    this.#counters = counters
    this.#owner = owner
    this.#runtime = runtime
    const { attempts, baseDelayMs, maxDelayMs } = settings.retry
    this.#schedule = Schedule.exponential(Duration.millis(baseDelayMs)).pipe(
      Schedule.jittered,
      Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.millis(maxDelayMs))),
      Schedule.intersect(Schedule.recurs(attempts - 1)),
    )
    this.#lanes = Array.from({ length: settings.flushConcurrency }, () =>
      runtime.runSync(Queue.unbounded<Job>()),
    )
    this.#fibers = this.#lanes.map((lane) =>
      runtime.runFork(
        Effect.forever(Effect.flatMap(this.#takeBatch(lane), (jobs) => this.#process(jobs))),
      ),
    )
  }

  /**
   * The next batch of a lane: its first job, then whatever else arrives until the producer's
   * current macrotask ends (a producer merging in microtasks fills the batch), up to `flushBatch`.
   */
  #takeBatch(lane: Queue.Queue<Job>): Effect.Effect<readonly Job[]> {
    return Effect.gen(this, function* () {
      const first = yield* Queue.take(lane)
      yield* nextMacrotask
      const rest = yield* Queue.takeUpTo(lane, this.#settings.flushBatch - 1)
      return [first, ...rest]
    })
  }

  /** Queues a job in its resource's lane. */
  enqueue(job: Job): void {
    const lane = this.#lanes[laneOf(job.entry.key, this.#lanes.length)] as Queue.Queue<Job>
    lane.unsafeOffer(job)
  }

  /** Stops the lanes (after the owner waited for them to drain). */
  async close(): Promise<void> {
    await this.#runtime.runPromise(Fiber.interruptAll(this.#fibers))
  }

  /**
   * One batch of one lane, in two waves: first the sessions held already (acquired by an earlier
   * batch), then the others. Each wave acquires the holds it lacks, folds, releases and runs its
   * claims. So a session that ended is released before the next session of its resource is
   * acquired, and a worker alone on a resource executes it when the session ends; sessions that
   * start and end within one batch coalesce with the next session of their resource (its hold is
   * taken first, so their release is not the last): fewer executions, a bounded number of round
   * trips per batch.
   */
  #process(jobs: readonly Job[]): Effect.Effect<void> {
    const held = jobs.filter((job) => job.entry.hold !== undefined)
    const unheld = jobs.filter((job) => job.entry.hold === undefined)
    return Effect.zipRight(this.#wave(held), this.#wave(unheld)).pipe(
      Effect.catchAllCause(Effect.logError),
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
      const acquired = yield* this.#acquire(jobs)
      yield* this.#runClaims(yield* this.#release(jobs, acquired))
    })
  }

  /**
   * Acquires a hold for every session of the wave that has none yet (it becomes the entry's),
   * and a next hold for every fold; returns the folds' next holds and why others failed.
   */
  #acquire(jobs: readonly Job[]): Effect.Effect<Acquired> {
    const targets: Array<{ entry: Entry; fold?: Job; update: Update }> = []
    const entries = new Set<Entry>()
    for (const job of jobs) {
      const { entry, update } = job
      if (update === undefined) continue
      if (entry.hold === undefined && !entries.has(entry)) {
        entries.add(entry)
        targets.push({ entry, update })
      }
      if (job.kind === 'fold') targets.push({ entry, fold: job, update })
    }
    const updates = targets.map((target) => target.update)
    return this.#many(updates, (batch) => this.#settings.shard.acquireMany(batch)).pipe(
      Effect.map((outcomes) => {
        const acquired: Acquired = { next: new Map(), errors: new Map() }
        outcomes.forEach((outcome, i) => {
          const { entry, fold } = targets[i] as (typeof targets)[number]
          if (Either.isLeft(outcome)) acquired.errors.set(fold ?? entry, outcome.left)
          else if (fold !== undefined) acquired.next.set(fold, outcome.right)
          else entry.hold = outcome.right
          if (Either.isRight(outcome)) this.#counters.acquires++
        })
        return acquired
      }),
    )
  }

  /**
   * Releases, in job order, the sessions that ended and the holds that folds rotate out; returns
   * the claims this worker must execute.
   */
  #release(jobs: readonly Job[], acquired: Acquired): Effect.Effect<readonly Claim[]> {
    const sent: Array<{ job: Job; hold: Hold }> = []
    for (const job of jobs) {
      const { entry } = job
      if (job.kind === 'acquire') continue
      const next = job.kind === 'fold' ? acquired.next.get(job) : undefined
      if (entry.hold === undefined || (job.kind === 'fold' && next === undefined)) {
        this.#notSent(job, acquired.errors.get(job) ?? acquired.errors.get(entry))
        continue
      }
      sent.push({ job, hold: entry.hold })
      if (next !== undefined) entry.hold = next
    }
    const items = sent.map(({ job, hold }) => [hold, job.update] as const)
    return this.#many(items, (batch) => this.#settings.shard.releaseMany(batch)).pipe(
      Effect.map((outcomes) => {
        const claims: Claim[] = []
        for (const [i, outcome] of outcomes.entries()) {
          const { job, hold } = sent[i] as (typeof sent)[number]
          if (Either.isLeft(outcome)) {
            this.#fail(job, outcome.left, () => this.#retry(this.#releaseAndRun(hold, job.update)))
            continue
          }
          this.#durable(job)
          if (job.kind === 'fold') this.#counters.folds++
          else this.#counters.releases++
          const result: ReleaseResult = outcome.right
          if (result.last) claims.push(result.claim)
        }
        return claims
      }),
    )
  }

  /** A job whose hold could not be acquired: nothing of it reached the shard. */
  #notSent(job: Job, error: unknown): void {
    if (job.update === undefined)
      this.#durable(job) // never held, nothing to release
    else if (job.kind === 'release' || !this.#owner.foldFailed(job)) {
      this.#fail(job, error, () => this.#retryAsNewSession(job))
    }
  }

  /** Executes claims, completes them, and goes on with the claims completing hands back. */
  #runClaims(claims: readonly Claim[]): Effect.Effect<void> {
    if (claims.length === 0) return Effect.void
    return this.#execute(claims).pipe(
      Effect.flatMap((executed) => this.#complete(executed)),
      Effect.flatMap((next) => this.#runClaims(next)),
    )
  }

  /**
   * Executes claims; returns those that succeeded. A first attempt of each runs as a plain
   * promise (no fiber per claim: executions are as many as session ends); only failures go
   * through the retry schedule.
   */
  #execute(claims: readonly Claim[]): Effect.Effect<readonly Claim[]> {
    const { execute, executeBatch, executeConcurrency } = this.#settings
    const outcomes: Effect.Effect<Array<Outcome<unknown>>> =
      executeBatch === undefined
        ? Effect.flatMap(
            Effect.promise(() => settleEach(claims, execute, executeConcurrency)),
            (first) => this.#retryFailed(first, (i) => execute(claims[i] as Claim)),
          )
        : Effect.map(Effect.either(this.#attempt(() => executeBatch(claims))), (outcome) =>
            claims.map(() => outcome),
          )
    return Effect.map(outcomes, (results) =>
      claims.filter((claim, i) => {
        const outcome = results[i] as Outcome<unknown>
        if (Either.isRight(outcome)) {
          this.#counters.executions++
          return true
        }
        this.#failClaim('execute', claim, outcome.left)
        return false
      }),
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
        Effect.map(Effect.either(this.#attempt(() => call(i), 1)), (outcome) => {
          first[i] = outcome
        }),
      { concurrency: this.#settings.executeConcurrency, discard: true },
    ).pipe(Effect.as(first))
  }

  /** Completes executed claims; returns the next claims the shard hands back. */
  #complete(claims: readonly Claim[]): Effect.Effect<readonly Claim[]> {
    return this.#many(claims, (batch) => this.#settings.shard.completeMany(batch)).pipe(
      Effect.map((outcomes) =>
        outcomes.flatMap((outcome, i) => {
          if (Either.isRight(outcome)) return outcome.right === undefined ? [] : [outcome.right]
          this.#failClaim('complete', claims[i] as Claim, outcome.left)
          return []
        }),
      ),
    )
  }

  /** A job's update is in the shard: its messages may be acknowledged. */
  #durable(job: Job): void {
    settleAll(job.acks)
    this.#counters.recordLatency(performance.now() - job.queuedAt)
  }

  #fail(job: Job, error: unknown, retry: () => Promise<void>): void {
    failAll(job.acks, error)
    const kind = job.kind === 'release' ? 'release' : 'fold'
    this.#report({ kind, resourceId: job.entry.key, error, update: job.update, retry })
  }

  #failClaim(kind: 'execute' | 'complete', claim: Claim, error: unknown): void {
    const rerun = kind === 'execute' ? this.#runClaims([claim]) : this.#finish(claim)
    const retry = () => this.#retry(rerun)
    this.#report({ kind, resourceId: claim.resourceId, error, claim, retry })
  }

  #finish(claim: Claim): Effect.Effect<void> {
    return Effect.flatMap(this.#complete([claim]), (next) => this.#runClaims(next))
  }

  #report(failure: Failure): void {
    this.#counters.failures++
    this.#owner.failed(failure)
  }

  /** A failed job's delta as a session of its own: acquire, release with it, run its claims. */
  #retryAsNewSession(job: Job): Promise<void> {
    const entry = new Entry(job.entry.key, job.update)
    entry.ended = true
    const release: Job = { ...job, kind: 'release', entry, acks: undefined }
    return this.#retry(
      Effect.flatMap(this.#acquire([release]), ({ errors }) =>
        errors.size > 0
          ? Effect.fail(errors.get(entry))
          : this.#releaseAndRun(entry.hold as Hold, job.update),
      ),
    )
  }

  /** Releases one hold with a delta (idempotent) and runs the claim it may bring. */
  #releaseAndRun(hold: Hold, update: Update | undefined): Effect.Effect<void, unknown> {
    return this.#attempt(() => this.#settings.shard.release(hold, update)).pipe(
      Effect.flatMap((result) => (result.last ? this.#runClaims([result.claim]) : Effect.void)),
    )
  }

  /** Runs a failure's retry; rejects if it failed again (a new failure is recorded then). */
  #retry(effect: Effect.Effect<void, unknown>): Promise<void> {
    const before = this.#counters.failures
    return this.#runtime.runPromise(effect).then(() => {
      if (this.#counters.failures > before)
        throw new Error('the retry failed again: see failures()')
    })
  }

  /**
   * A call retried on the schedule while its error is worth retrying; `attemptsMade` attempts
   * were made already, and count against `retry.attempts`.
   */
  #attempt<A>(call: () => A | Promise<A>, attemptsMade = 0): Effect.Effect<A, unknown> {
    const remaining = this.#settings.retry.attempts - attemptsMade
    const once = Effect.tryPromise({ try: async () => call(), catch: (error) => error }).pipe(
      Effect.tapError(() => Effect.sync(() => this.#counters.retries++)),
    )
    return Effect.retry(once, {
      schedule: Schedule.intersect(this.#schedule, Schedule.recurs(Math.max(0, remaining - 1))),
      while: retryable,
    })
  }

  /**
   * One batched shard call with retries; when it still fails, each item once more on its own, so
   * the outcome of every item is known.
   */
  #many<I, R>(
    items: readonly I[],
    call: (items: readonly I[]) => Promise<R[]>,
  ): Effect.Effect<Array<Outcome<R>>> {
    if (items.length === 0) return Effect.succeed([])
    const counted = (batch: readonly I[]) => {
      this.#counters.shardCalls++
      return call(batch)
    }
    return this.#attempt(() => counted(items)).pipe(
      Effect.map((results): Array<Outcome<R>> => results.map((r) => Either.right(r))),
      Effect.catchAll((error) =>
        items.length === 1
          ? Effect.succeed([Either.left(error)])
          : Effect.forEach(
              items,
              (item) =>
                Effect.either(
                  Effect.tryPromise({
                    try: async () => (await counted([item]))[0] as R,
                    catch: (e) => e,
                  }),
                ),
              { concurrency: FALLBACK_CONCURRENCY },
            ),
      ),
    )
  }
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
