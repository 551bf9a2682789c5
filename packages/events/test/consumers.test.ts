/**
 * Consumers on both databases: every consumer sees every event of its names exactly once (a
 * transactional consumer) under concurrent writers, several workers and abandoned leases;
 * starting now; retries, backoff and dead letters; fencing of a lost lease; loops woken by
 * NOTIFY; lag and retention; the two phonon sources.
 */
import { Codec, defineModel, id, sum } from '@phonon/core'
import { createAggregator } from '@phonon/lru-update'
import { MemoryShard } from '@phonon/redis-shard'
import fc from 'fast-check'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  type ConsumeContext,
  Consumer,
  createConsumerManager,
  createEventManager,
  LocalAggregationConsumer,
  type StoredEvent,
  TransactionalAggregation,
} from '../src/index.js'
import { Recorder } from './recorder.js'
import { backends, drain, eventually, sharedPGlite, step, type TestStore } from './stores.js'

beforeAll(() => sharedPGlite(), 60_000)

/** Records each event it consumes into `seen`, in the batch's transaction: exactly once. */
class TxRecorder extends Consumer {
  constructor(
    private readonly consumerName: string,
    private readonly schema: string,
  ) {
    super()
  }
  override get name() {
    return this.consumerName
  }
  override get transactional() {
    return true
  }
  override async consume(event: StoredEvent, { tx }: ConsumeContext) {
    await tx!.query(
      `INSERT INTO "${this.schema}".seen (consumer, event_id, name) VALUES ($1, $2, $3)`,
      [this.name, event.id, event.name],
    )
  }
}

describe.each(backends)('%s', (_, open) => {
  let db: TestStore
  beforeEach(async () => {
    db = await open()
    await db.sql(
      `CREATE TABLE "${db.store.schema}".seen (consumer text NOT NULL, event_id bigint NOT NULL, name text NOT NULL)`,
    )
  })
  afterEach(() => db.drop())

  it('gives every consumer every event of its names exactly once: concurrent writers, several workers, abandoned leases', async () => {
    const names = ['a.x', 'a.y', 'b']
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            events: fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 6 }),
            inTransaction: fc.boolean(),
            rollBack: fc.boolean(),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        async (writes, workers, batchSize, abandon) => {
          await db.sql(`TRUNCATE "${db.store.schema}".seen`)
          const run = `r${Math.random().toString(36).slice(2, 8)}`
          const subscriptions = { [`${run}_all`]: names, [`${run}_ax`]: ['a.x'] }
          const managers = Array.from({ length: workers }, (_, i) =>
            createConsumerManager({
              store: db.store,
              workerId: `w${i}`,
              batchSize,
              leaseMs: 60_000,
              listen: false,
            }),
          )
          for (const manager of managers) {
            for (const [consumer, events] of Object.entries(subscriptions)) {
              await manager.add({
                consumer: new TxRecorder(consumer, db.store.schema),
                events,
                startFrom: 'now',
              })
            }
          }
          const manager = createEventManager({ store: db.store })
          const [last] = await db.sql<{ max: string | null }>(
            `SELECT max(id)::text AS max FROM "${db.store.schema}".events`,
          )
          const before = Number(last?.max ?? 0)
          const committed: { id: number; name: string }[] = []
          const writers = writes.map(async (write) => {
            const entries = write.events.map((name, i) => ({ name, payload: { i } }))
            if (!write.inTransaction) {
              const logged = await manager.logMany(entries)
              committed.push(...logged)
              return
            }
            await db.store.driver
              .transaction(async (tx) => {
                const logged = await manager.logMany(entries, { tx })
                if (write.rollBack) throw new Error('rolled back')
                return logged
              })
              .then(
                (logged) => committed.push(...logged),
                () => {},
              )
          })
          // Workers step while the writers write; some abandon the batch they claimed (a crash):
          // its lease is cut short, and another worker takes it over.
          let step = 0
          const stepAll = async () => {
            for (const [i, worker] of managers.entries()) {
              if (abandon[step++ % abandon.length]) {
                const consumer = Object.keys(subscriptions)[i % 2]!
                const batch = await db.store.claim(consumer, `crashed${i}`, batchSize, 60_000)
                if (batch !== undefined) await expireLease(db, consumer)
              }
              await worker.consumeOnce()
            }
          }
          const writing = Promise.all(writers)
          let done = false
          void writing.then(() => {
            done = true
          })
          while (!done) await stepAll()
          await eventually('every consumer to catch up', async () => {
            await stepAll()
            const lag = await db.store.lag(Object.keys(subscriptions))
            return lag.every((l) => l.events === 0)
          })
          const seen = await db.sql<{ consumer: string; event_id: string; name: string }>(
            `SELECT consumer, event_id::text, name FROM "${db.store.schema}".seen`,
          )
          for (const [consumer, events] of Object.entries(subscriptions)) {
            const expected = committed
              .filter((e) => events.includes(e.name))
              .map((e) => e.id)
              .sort((a, b) => a - b)
            // 'now' is the oldest transaction running on the server: a few older events may come.
            const got = seen
              .filter((s) => s.consumer === consumer && Number(s.event_id) > before)
              .map((s) => Number(s.event_id))
              .sort((a, b) => a - b)
            expect(got, consumer).toEqual(expected)
          }
        },
      ),
      { numRuns: 8 },
    )
  }, 60_000)

  it('starts a new consumer from the beginning or from now', async () => {
    const manager = createEventManager({ store: db.store })
    await manager.log('e', 'before')
    const consumers = createConsumerManager({ store: db.store, listen: false })
    const fromStart = new Recorder('fromStart')
    const fromNow = new Recorder('fromNow')
    await consumers.register([['e', fromStart]])
    await consumers.register([['e', fromNow]], { startFrom: 'now' })
    await manager.log('e', 'after')
    await drain(consumers)
    expect(fromStart.seen.map((e) => e.payload)).toEqual(['before', 'after'])
    expect(fromNow.seen.map((e) => e.payload)).toEqual(['after'])
  })

  it('retries a failing event with backoff and dead-letters it after maxAttempts', async () => {
    const manager = createEventManager({ store: db.store })
    await manager.logMany(['ok1', 'flaky', 'bad', 'ok2'].map((payload) => ({ name: 'e', payload })))
    const recorder = new Recorder('retrying', (event, failures) =>
      event.payload === 'bad' ? true : event.payload === 'flaky' && failures < 2,
    )
    const consumers = createConsumerManager({
      store: db.store,
      listen: false,
      maxAttempts: 3,
      retryBaseDelayMs: 5,
    })
    await consumers.register([['e', recorder]])
    await eventually('the dead letter', async () => {
      await consumers.consumeOnce()
      return (await consumers.lag())[0]!.events === 0
    })
    expect(recorder.seen.map((e) => e.payload)).toEqual(['ok1', 'flaky', 'ok2'])
    expect(recorder.failures.get(recorder.seen[1]!.id)).toBe(2)
    const dead = await consumers.deadLetters('retrying')
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ consumer: 'retrying', attempts: 3, error: 'refused 3' })
    expect(dead[0]!.event).toMatchObject({ id: 3, name: 'e', payload: 'bad' })
    // Backoff: the failed batch waits out its delay, it is not retaken at once.
    const batches = await db.sql(`SELECT * FROM "${db.store.schema}".batches`)
    expect(batches).toEqual([])
  })

  it('retries a transactional batch from the failing event, its prefix at once', async () => {
    const manager = createEventManager({ store: db.store })
    await manager.logMany([1, 2, 3].map((payload) => ({ name: 'n', payload })))
    let failures = 0
    class Picky extends TxRecorder {
      override async consume(event: StoredEvent, context: ConsumeContext) {
        await super.consume(event, context)
        if (event.payload === 2 && failures++ === 0) throw new Error('once')
      }
    }
    const consumers = createConsumerManager({ store: db.store, listen: false, retryBaseDelayMs: 5 })
    await consumers.add({ consumer: new Picky('picky', db.store.schema), events: ['n'] })
    await eventually('all consumed', async () => {
      await consumers.consumeOnce()
      return (await consumers.lag())[0]!.events === 0
    })
    const seen = await db.sql<{ event_id: string }>(
      `SELECT event_id::text FROM "${db.store.schema}".seen ORDER BY event_id`,
    )
    expect(seen.map((s) => Number(s.event_id))).toEqual([1, 2, 3])
    expect(failures).toBe(2)
  })

  it('fences a worker whose lease was taken over', async () => {
    const manager = createEventManager({ store: db.store })
    await manager.log('e', 1)
    const consumers = createConsumerManager({ store: db.store, listen: false })
    await consumers.add({ consumer: new TxRecorder('fenced', db.store.schema), events: ['e'] })
    let slow: Awaited<ReturnType<typeof db.store.claim>>
    await eventually('a claim', async () => {
      slow = await db.store.claim('fenced', 'slow', 10, 60_000)
      return slow !== undefined
    })
    await expireLease(db, 'fenced')
    expect(await consumers.consumeOnce()).toBe(1)
    expect(await db.store.complete(slow!)).toBe(false)
    expect(await db.store.driver.transaction((tx) => db.store.lock(slow!, tx))).toBe(false)
    expect(await db.sql(`SELECT event_id FROM "${db.store.schema}".seen`)).toHaveLength(1)
  })

  it('runs background loops woken by NOTIFY, and stops them gracefully', async () => {
    const manager = createEventManager({ store: db.store })
    const recorder = new Recorder('woken')
    // Polling every minute: only a notification can wake the loops in time.
    const consumers = createConsumerManager({ store: db.store, pollMs: 60_000 })
    await consumers.register([['e', recorder]])
    consumers.start({ workers: 2 })
    await eventually('the loops to idle', async () => (await consumers.lag())[0]!.events === 0)
    await manager.logMany([1, 2, 3].map((payload) => ({ name: 'e', payload })))
    await eventually('the events', async () => recorder.seen.length === 3)
    await consumers.stop()
    expect(recorder.seen.map((e) => e.payload).sort()).toEqual([1, 2, 3])
  })

  it('reports lag and deletes only what every consumer passed', async () => {
    const manager = createEventManager({ store: db.store })
    await manager.logMany([1, 2, 3].map((payload) => ({ name: 'e', payload })))
    await manager.log('other', 4)
    const fast = createConsumerManager({ store: db.store, listen: false, batchSize: 2 })
    const slow = createConsumerManager({ store: db.store, listen: false, batchSize: 1 })
    await fast.register([['e', new Recorder('fast')]])
    await slow.register([['e', new Recorder('slow')]])
    await step(fast)
    await step(slow)
    const lag = await db.store.lag()
    expect(lag.map((l) => [l.consumer, l.events]).sort()).toEqual([
      ['fast', 1],
      ['slow', 2],
    ])
    expect(lag.every((l) => l.oldestMs >= 0)).toBe(true)
    expect(await db.store.retain(60_000)).toBe(0) // none is old enough
    expect(await db.store.retain(0)).toBe(1) // event 1: slow passed it too
    await step(fast)
    await step(slow)
    await step(slow)
    expect(await db.store.retain(0)).toBe(2) // 2 and 3: 'other' is past slow's full batch
    // Nothing of its names is left: a step moves slow's position past 'other'.
    await eventually('other to go', async () => {
      await slow.consumeOnce()
      return (await db.store.retain(0)) === 1
    })
  })

  it('feeds withLocalAggregation and finishes a batch once its updates are in the shard', async () => {
    const written = new Map<string, number>()
    const Widget = defineModel(
      'Widget',
      { id: id(), clicks: sum() },
      {
        onComplete: (widget) => {
          written.set(
            String(widget.id),
            (written.get(String(widget.id)) ?? 0) + Number(widget.clicks),
          )
        },
      },
    )
    const aggregator = createAggregator({
      shard: new MemoryShard({ codec: new Codec([Widget]) }),
      max: 10,
    })
    const manager = createEventManager({ store: db.store })
    const widgets = ['w1', 'w2', 'w1', 'w3', 'w1']
    await manager.logMany(widgets.map((widget) => ({ name: 'click', payload: { widget } })))
    const consumers = createConsumerManager({ store: db.store, listen: false, batchSize: 2 })
    await consumers.add({
      consumer: new LocalAggregationConsumer('widgets', aggregator, (event) =>
        Widget.create({ id: (event.payload as { widget: string }).widget, clicks: 1 }),
      ),
      events: ['click'],
    })
    await drain(consumers)
    await aggregator.close()
    expect(Object.fromEntries(written)).toEqual({ w1: 3, w2: 1, w3: 1 })
  })

  it('aggregates a batch and writes it in the batch’s transaction', async () => {
    const s = db.store.schema
    await db.sql(`CREATE TABLE "${s}".clicks (widget text PRIMARY KEY, n bigint NOT NULL)`)
    const Widget = defineModel('Widget', { id: id(), clicks: sum() })
    const manager = createEventManager({ store: db.store })
    const widgets = ['w1', 'w2', 'w1', 'w3', 'w1', 'w2']
    await manager.logMany(widgets.map((widget) => ({ name: 'click', payload: { widget } })))
    const consumers = createConsumerManager({ store: db.store, listen: false, batchSize: 4 })
    const writes: number[] = []
    await consumers.add({
      consumer: new TransactionalAggregation(
        'clicks',
        (event) => Widget.create({ id: (event.payload as { widget: string }).widget, clicks: 1 }),
        async (updates, tx) => {
          writes.push(updates.length)
          for (const update of updates) {
            await tx.query(
              `INSERT INTO "${s}".clicks VALUES ($1, $2) ON CONFLICT (widget) DO UPDATE SET n = clicks.n + excluded.n`,
              [update.id, update.doc.clicks],
            )
          }
        },
      ),
      events: ['click'],
    })
    await drain(consumers)
    expect(writes).toEqual([3, 2]) // 4 events merged into 3 rows, then 2 events into 2
    const rows = await db.sql<{ widget: string; n: string }>(
      `SELECT widget, n::text FROM "${s}".clicks ORDER BY widget`,
    )
    expect(rows).toEqual([
      { widget: 'w1', n: '3' },
      { widget: 'w2', n: '2' },
      { widget: 'w3', n: '1' },
    ])
  })
})

/** Ends the leases of a consumer's batches now (what the clock does to a dead worker's). */
async function expireLease(db: TestStore, consumer: string): Promise<void> {
  await db.sql(
    `UPDATE "${db.store.schema}".batches SET lease_until = '-infinity' WHERE consumer = $1`,
    [consumer],
  )
}
