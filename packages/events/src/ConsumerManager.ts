import { randomUUID } from 'node:crypto'
import { ArgumentError } from '@phonon/core'
import { Consumer, type ConsumerClass } from './Consumer.js'
import { ConsumeError, EventStoreError } from './errors.js'
import type { Batch, ConsumerLag, DeadLetter, EventStore, RetryPolicy, StartFrom } from './store.js'

/** Options of {@link createConsumerManager}. */
export interface ConsumerManagerOptions {
  /** Where events are read. */
  readonly store: EventStore
  /** This worker's name in leases (default a random UUID: one per process start). */
  readonly workerId?: string
  /** The most events a batch carries (default 100). */
  readonly batchSize?: number
  /** How long a batch is leased; a worker not done by then has it taken over (default 30 s). */
  readonly leaseMs?: number
  /** Failures of one event before it is dead-lettered (default 5). */
  readonly maxAttempts?: number
  /** Delay before the first retry, doubled each time (default 100 ms). */
  readonly retryBaseDelayMs?: number
  /** The longest delay between retries (default 30 s). */
  readonly retryMaxDelayMs?: number
  /** How often an idle loop looks for work without a notification (default 1 s). */
  readonly pollMs?: number
  /** Wake idle loops with LISTEN/NOTIFY (default true; polling always runs too). */
  readonly listen?: boolean
  /** Print each consumed event (`true`: with `console.log`), as pymonster's verbose mode. */
  readonly verbose?: boolean | ((line: string) => void)
  /** Told of errors of the store inside a loop, which goes on (default `console.error`). */
  readonly onError?: (error: unknown) => void
}

/** How one consumer is registered. */
export interface Registration {
  /** The consumer; its `name` keys its position. */
  readonly consumer: Consumer<never>
  /** The event names it consumes. */
  readonly events: readonly string[]
  /** Where a new consumer starts (default `beginning`); an existing one keeps its position. */
  readonly startFrom?: StartFrom
}

/** Options of {@link ConsumerManager.consumeLoop}. */
export interface LoopOptions {
  /** Stops the loop (after the batch in hand) when aborted. */
  readonly signal?: AbortSignal
}

interface Registered {
  readonly consumer: Consumer<never>
  readonly events: readonly string[]
}

/**
 * pymonster's `ConsumerManager`: the consumers this process runs, and the loops that run them.
 * Any number of processes may run the same consumers: they share each consumer's work, a batch
 * at a time, never two workers on one batch while its lease holds.
 */
export class ConsumerManager {
  readonly workerId: string
  private readonly registered = new Map<string, Registered>()
  private readonly batchSize: number
  private readonly leaseMs: number
  private readonly pollMs: number
  private readonly policy: RetryPolicy
  private readonly print: ((line: string) => void) | undefined
  private readonly onError: (error: unknown) => void
  private readonly listenForEvents: boolean
  private readonly wakers = new Set<() => void>()
  private background: { controller: AbortController; loops: Promise<void>[] } | undefined

  constructor(
    /** Where events are read. */
    readonly store: EventStore,
    options: Omit<ConsumerManagerOptions, 'store'> = {},
  ) {
    this.workerId = options.workerId ?? randomUUID()
    this.batchSize = positiveInteger('batchSize', options.batchSize ?? 100)
    this.leaseMs = positiveInteger('leaseMs', options.leaseMs ?? 30_000)
    this.pollMs = positiveInteger('pollMs', options.pollMs ?? 1_000)
    this.policy = {
      maxAttempts: positiveInteger('maxAttempts', options.maxAttempts ?? 5),
      baseDelayMs: positiveInteger('retryBaseDelayMs', options.retryBaseDelayMs ?? 100),
      maxDelayMs: positiveInteger('retryMaxDelayMs', options.retryMaxDelayMs ?? 30_000),
    }
    this.print = options.verbose === true ? console.log : options.verbose || undefined
    this.onError = options.onError ?? ((error) => console.error(error))
    this.listenForEvents = options.listen ?? true
  }

  /**
   * pymonster's `register_events`: pairs of an event name and a consumer (a class, made with
   * `new`, or an instance). Pairs with the same consumer name make one consumer of all their
   * names.
   * @throws {@link ArgumentError} for an empty list or something that is not a consumer.
   */
  async register(
    pairs: readonly (readonly [string, ConsumerClass | Consumer<never>])[],
    options: { readonly startFrom?: StartFrom } = {},
  ): Promise<void> {
    if (pairs.length === 0) throw new ArgumentError('register needs at least one pair')
    const byName = new Map<string, { consumer: Consumer<never>; events: string[] }>()
    for (const [event, consumerOrClass] of pairs) {
      const consumer =
        typeof consumerOrClass === 'function' ? new consumerOrClass() : consumerOrClass
      if (!(consumer instanceof Consumer)) {
        throw new ArgumentError(`the consumer of ${event} is not a Consumer`)
      }
      const entry = byName.get(consumer.name) ?? { consumer, events: [] }
      entry.events.push(event)
      byName.set(consumer.name, entry)
    }
    for (const { consumer, events } of byName.values()) {
      await this.add({ consumer, events, ...options })
    }
  }

  /**
   * Registers one consumer of `events`, in the store and in this process.
   * @throws {@link ArgumentError} for an empty list of names or a consumer without a name.
   */
  async add(registration: Registration): Promise<void> {
    const { consumer, events } = registration
    if (!(consumer instanceof Consumer) || consumer.name.length === 0) {
      throw new ArgumentError('a consumer must be a Consumer with a non-empty name')
    }
    if (events.length === 0 || events.some((name) => typeof name !== 'string')) {
      throw new ArgumentError(`consumer ${consumer.name} needs a non-empty list of event names`)
    }
    await this.store.registerConsumer(consumer.name, events, registration.startFrom ?? 'beginning')
    this.registered.set(consumer.name, { consumer, events: [...events] })
  }

  /**
   * One step: a batch of each registered consumer, if it has one ready.
   * @returns how many events were handed to consumers (0 when there was nothing to do).
   * @throws the store's errors (the batch in hand is then redelivered once its lease runs out).
   */
  async consumeOnce(): Promise<number> {
    let handed = 0
    for (const registered of this.registered.values()) handed += await this.step(registered)
    return handed
  }

  /**
   * Consumes until `signal` aborts: steps while there is work, else waits for a notification
   * or `pollMs`. Store errors are told to `onError` and the loop goes on. Resolves once the
   * batch in hand when aborted is finished.
   */
  async consumeLoop(options: LoopOptions = {}): Promise<void> {
    const { signal } = options
    const wakeup = new Wakeup()
    const waker = () => wakeup.wake()
    this.wakers.add(waker)
    signal?.addEventListener('abort', waker)
    const unlisten = this.listenForEvents ? await this.listen() : undefined
    try {
      while (signal?.aborted !== true) {
        wakeup.reset()
        const handed = await this.consumeOnce().catch((error) => {
          this.onError(error)
          return 0
        })
        if (handed === 0) await wakeup.wait(this.pollMs)
      }
    } finally {
      this.wakers.delete(waker)
      signal?.removeEventListener('abort', waker)
      await unlisten?.()
    }
  }

  /**
   * Runs `workers` loops in the background (pymonster's background thread).
   * @throws {@link ArgumentError} when already started or `workers` is not an integer ≥ 1.
   */
  start(options: { readonly workers?: number } = {}): void {
    if (this.background !== undefined) throw new ArgumentError('the consumers are already started')
    const workers = positiveInteger('workers', options.workers ?? 1)
    const controller = new AbortController()
    const loops = Array.from({ length: workers }, () =>
      this.consumeLoop({ signal: controller.signal }),
    )
    this.background = { controller, loops }
  }

  /** Stops the background loops once their batches in hand are finished. */
  async stop(): Promise<void> {
    const background = this.background
    if (background === undefined) return
    this.background = undefined
    background.controller.abort()
    await Promise.all(background.loops)
  }

  /** Lag of the consumers registered here. */
  lag(): Promise<ConsumerLag[]> {
    return this.store.lag([...this.registered.keys()])
  }

  /** Dead letters of a consumer, or of all. */
  deadLetters(consumer?: string): Promise<DeadLetter[]> {
    return this.store.deadLetters(consumer)
  }

  /** Stops the loops; the store stays open (close it yourself). */
  async close(): Promise<void> {
    await this.stop()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private async listen(): Promise<(() => Promise<void>) | undefined> {
    try {
      return await this.store.listen(() => {
        for (const waker of this.wakers) waker()
      })
    } catch (error) {
      this.onError(error)
      return undefined
    }
  }

  /** Leases one batch of a consumer, runs it, and finishes or fails it. */
  private async step({ consumer }: Registered): Promise<number> {
    const batch = await this.store.claim(consumer.name, this.workerId, this.batchSize, this.leaseMs)
    if (batch === undefined) return 0
    const context = {
      consumer: consumer.name,
      attempts: batch.attempts,
      redelivered: batch.token > 1,
    }
    try {
      if (consumer.transactional) {
        await this.store.driver.transaction(async (tx) => {
          if (!(await this.store.lock(batch, tx))) throw leaseLost(batch)
          await consumer.consumeBatch(batch.events as never, { ...context, tx })
          await this.store.complete(batch, tx)
        })
      } else {
        await consumer.consumeBatch(batch.events as never, { ...context, tx: undefined })
        if (!(await this.store.complete(batch))) throw leaseLost(batch)
      }
    } catch (error) {
      if (lostLeases.has(error as object)) {
        this.onError(error)
        return batch.events.length
      }
      const index = error instanceof ConsumeError ? error.index : 0
      const cause = error instanceof ConsumeError ? error.cause : error
      await this.store.fail(batch, index, cause, this.policy, !consumer.transactional)
      return index
    }
    if (this.print !== undefined) {
      for (const event of batch.events) {
        this.print(
          `${consumer.name} consumed ${event.name} #${event.id}: ${JSON.stringify(event.payload)}`,
        )
      }
    }
    return batch.events.length
  }
}

/** A loop's sleep, cut short by a notification (also one that came while it was working). */
class Wakeup {
  private woken = false
  private resolve: (() => void) | undefined

  reset(): void {
    this.woken = false
  }

  wake(): void {
    this.woken = true
    this.resolve?.()
  }

  async wait(ms: number): Promise<void> {
    if (this.woken) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.resolve = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    this.resolve = undefined
  }
}

/** The errors `leaseLost` made: the batch is another worker's now, nothing to record. */
const lostLeases = new WeakSet<object>()

function leaseLost(batch: Batch): EventStoreError {
  const error = new EventStoreError(
    `lease lost: the batch of ${batch.consumer} ending at event ${batch.last.id} was taken over by another worker`,
  )
  lostLeases.add(error)
  return error
}

function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new ArgumentError(`${name} option must be an integer ≥ 1, got ${value}`)
  }
  return value
}

/**
 * Creates a {@link ConsumerManager}.
 *
 * @throws {@link ArgumentError} naming the first invalid option.
 * @example
 * const consumers = createConsumerManager({ store })
 * await consumers.register([['event_1', Consumer], ['user.bought_shirt', ShirtConsumer]])
 * consumers.start()
 */
export function createConsumerManager(options: ConsumerManagerOptions): ConsumerManager {
  return new ConsumerManager(options.store, options)
}
