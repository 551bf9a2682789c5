import { ArgumentError, CodecError, type Update } from '@phonon/core'
import type { Claim, FoldResult, Hold, ReleaseResult } from '@phonon/redis-shard'
import {
  Chunk,
  Duration,
  Effect,
  Either,
  Fiber,
  type ManagedRuntime,
  Queue,
  Schedule,
} from 'effect'
import type { Failure } from '../Failure.js'
import type { Settings } from '../options.js'
import { Entry, type Job } from './Entry.js'
import type { Counters, EndCause } from './Stats.js'
import { failAll, settleAll } from './Tracker.js'

/** What the flusher tells its owner. @internal */
export interface FlusherOwner {
  /** A fold learnt the session is over (forced expiry, or recovery evicted the hold). */
  sessionOver(entry: Entry, cause: EndCause): void
  /** A fold failed for good: its partial aggregate goes back into the entry if it is still held. */
  foldFailed(job: Job, error: unknown): boolean
  /** A job left the queue (folded, released, or failed). */
  jobDone(job: Job): void
  /** Work exhausted its retries. */
  failed(failure: Failure): void
}

/** The outcome of one item of a batched shard call. */
type Outcome<R> = Either.Either<R, unknown>

/** Attempts of a single item after its batch failed: the batch already retried. */
const FALLBACK_CONCURRENCY = 8

/**
 * Hands jobs to the shard in batches: one lane (an Effect queue drained by one fiber) per
 * `flushConcurrency`, a resource always in the same lane, so the jobs of a session run in order.
 * A batch acquires the holds it needs, then folds, then releases (each one `*Many` call, one
 * pipeline per node), then executes what it claimed and completes it. Failed calls are retried
 * with exponential backoff; a batch that still fails is retried item by item, so one bad item
 * cannot sink the others. @internal
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
      Effect.ensuring(Effect.sync(() => jobs.forEach((job) => this.#owner.jobDone(job)))),
    )
  }

  #wave(jobs: readonly Job[]): Effect.Effect<void> {
    if (jobs.length === 0) return Effect.void
    return Effect.gen(this, function* () {
      const unheld = yield* this.#acquire(jobs)
      yield* this.#fold(
        jobs.filter((job) => job.kind === 'fold'),
        unheld,
      )
      const releases = jobs.filter((job) => job.kind === 'release')
      yield* this.#runClaims(yield* this.#release(releases, unheld))
    })
  }

  /**
   * Acquires a hold for every session of the batch that has none yet; returns why the others
   * could not be held.
   */
  #acquire(jobs: readonly Job[]): Effect.Effect<Map<Entry, unknown>> {
    const targets = new Map<Entry, Update>()
    for (const job of jobs) {
      const { entry, update } = job
      if (entry.hold === undefined && update !== undefined && !targets.has(entry)) {
        targets.set(entry, update)
      }
    }
    const entries = [...targets.keys()]
    return this.#many([...targets.values()], (updates) =>
      this.#settings.shard.acquireMany(updates),
    ).pipe(
      Effect.map((outcomes) => {
        const unheld = new Map<Entry, unknown>()
        outcomes.forEach((outcome, i) => {
          const entry = entries[i] as Entry
          if (Either.isRight(outcome)) {
            entry.hold = outcome.right
            this.#counters.acquires++
          } else unheld.set(entry, outcome.left)
        })
        return unheld
      }),
    )
  }

  #fold(jobs: readonly Job[], unheld: ReadonlyMap<Entry, unknown>): Effect.Effect<void> {
    const [held, failed] = partition(jobs, unheld)
    for (const [job, error] of failed) this.#foldFailed(job, error)
    const items = held.map((job) => [job.entry.hold as Hold, job.update as Update] as const)
    return this.#many(items, (batch) => this.#settings.shard.foldMany(batch)).pipe(
      Effect.map((outcomes) =>
        outcomes.forEach((outcome, i) => {
          const job = held[i] as Job
          if (Either.isLeft(outcome)) return this.#foldFailed(job, outcome.left)
          this.#durable(job)
          this.#counters.folds++
          const result: FoldResult = outcome.right
          if (result.evicted) this.#owner.sessionOver(job.entry, 'evicted')
          else if (result.forcedExpiry) this.#owner.sessionOver(job.entry, 'forced')
        }),
      ),
    )
  }

  #foldFailed(job: Job, error: unknown): void {
    if (this.#owner.foldFailed(job, error)) return
    // The session ended meanwhile: a retry folds the delta as a session of its own.
    this.#fail(job, error, () => this.#retryAsNewSession(job))
  }

  /** Releases the batch's sessions; returns the claims this worker must execute. */
  #release(
    jobs: readonly Job[],
    unheld: ReadonlyMap<Entry, unknown>,
  ): Effect.Effect<readonly Claim[]> {
    const [held, failed] = partition(jobs, unheld)
    for (const [job, error] of failed) {
      if (job.update === undefined)
        this.#durable(job) // never held, nothing to fold
      else this.#fail(job, error, () => this.#retryAsNewSession(job))
    }
    const items = held.map((job) => [job.entry.hold as Hold, job.update] as const)
    return this.#many(items, (batch) => this.#settings.shard.releaseMany(batch)).pipe(
      Effect.map((outcomes) => {
        const claims: Claim[] = []
        outcomes.forEach((outcome, i) => {
          const job = held[i] as Job
          if (Either.isLeft(outcome)) {
            const retry = () => this.#retry(this.#releaseAndRun([job]))
            return this.#fail(job, outcome.left, retry)
          }
          this.#durable(job)
          this.#counters.releases++
          const result: ReleaseResult = outcome.right
          if (result.last) claims.push(result.claim)
        })
        return claims
      }),
    )
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
        Effect.map(Effect.either(this.#attempt(() => call(i))), (outcome) => {
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
    const jobs = [
      {
        kind: 'release' as const,
        entry,
        update: job.update,
        acks: undefined,
        queuedAt: performance.now(),
      },
    ]
    return this.#retry(
      Effect.flatMap(this.#acquire(jobs), (unheld) =>
        unheld.size > 0 ? Effect.fail(unheld.get(entry)) : this.#releaseAndRun(jobs),
      ),
    )
  }

  #releaseAndRun(jobs: readonly Job[]): Effect.Effect<void> {
    return Effect.flatMap(this.#release(jobs, new Map()), (claims) => this.#runClaims(claims))
  }

  /** Runs a failure's retry; rejects if it failed again (a new failure is recorded then). */
  #retry(effect: Effect.Effect<void, unknown>): Promise<void> {
    const before = this.#counters.failures
    return this.#runtime.runPromise(effect).then(() => {
      if (this.#counters.failures > before)
        throw new Error('the retry failed again: see failures()')
    })
  }

  /** A call retried on the schedule while its error is worth retrying. */
  #attempt<A>(call: () => A | Promise<A>): Effect.Effect<A, unknown> {
    return Effect.tryPromise({ try: async () => call(), catch: (error) => error }).pipe(
      Effect.tapError(() => Effect.sync(() => this.#counters.retries++)),
      Effect.retry({ schedule: this.#schedule, while: retryable }),
    )
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

/** Jobs whose session is held, and those whose acquire failed (with its error). */
function partition(
  jobs: readonly Job[],
  unheld: ReadonlyMap<Entry, unknown>,
): [Job[], Array<[Job, unknown]>] {
  const held: Job[] = []
  const failed: Array<[Job, unknown]> = []
  for (const job of jobs) {
    if (job.entry.hold !== undefined) held.push(job)
    else failed.push([job, unheld.get(job.entry)])
  }
  return [held, failed]
}

/** The lane of a resource: FNV-1a of its key. */
function laneOf(key: string, lanes: number): number {
  if (lanes === 1) return 0
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % lanes
}
