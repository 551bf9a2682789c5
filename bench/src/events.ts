/**
 * `@phonon/events` on the shared PostgreSQL server: `log` events/s one by one and in batches;
 * consume events/s with one and four workers against a hand-written `SELECT … FOR UPDATE SKIP
 * LOCKED` queue loop on the same database, same batch size, same (empty) work per event, in the
 * same run; end-to-end lag (log → consume, LISTEN/NOTIFY wake-ups) p50/p99. Rates are the best of
 * `rounds` (the machine is shared), with the Node CPU time of each best run. Every run checks
 * that each event was consumed exactly once. Writes bench/results/events.json.
 *
 * Run: pnpm --filter @phonon/bench bench:events [-- --events N --batch N --rounds N --lag N]
 *      PGHOST/PGPORT/PGUSER/PGDATABASE select the server; the run creates a schema and drops it.
 */
import {
  Consumer,
  createConsumerManager,
  createEventManager,
  type EventStore,
  postgresStore,
  type StoredEvent,
} from '@phonon/events'
import { postgresConfig, postgresSchema } from '@phonon/testkit'
import pg from 'pg'
import { formatRate, printTable, readFlags, writeResult } from './report.js'

const flags = readFlags({ events: '20000', batch: '100', rounds: '3', single: '2000', lag: '400' })
const events = flags.integer('events')
const batch = flags.integer('batch')
const rounds = flags.integer('rounds')
const single = flags.integer('single')
const lagEvents = flags.integer('lag')
/** The target of the issue: consuming at ≥ 0.7× the hand-written SKIP LOCKED loop. */
const TARGET = 0.7

const pool = new pg.Pool({ ...postgresConfig(), max: 10 })
const { schema, drop } = postgresSchema((sql) => pool.query(sql), 'phonon_bench_events')

interface Measure {
  readonly perSecond: number
  readonly cpuMsPerKiloEvent: number
}

/** Runs `fn` (which handles `n` events); its rate and Node CPU per 1,000 events. */
async function measure(n: number, fn: () => Promise<void>): Promise<Measure> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await fn()
  const seconds = (performance.now() - start) / 1000
  const used = process.cpuUsage(cpu)
  return {
    perSecond: n / seconds,
    cpuMsPerKiloEvent: ((used.user + used.system) / 1000 / n) * 1000,
  }
}

/**
 * Calls `fn` with the start and length of each run of at most `size` of `total` items, in order:
 * every item once, the last run shorter when `size` does not divide `total`.
 */
async function inRuns(
  total: number,
  size: number,
  fn: (start: number, length: number) => Promise<unknown>,
): Promise<void> {
  for (let start = 0; start < total; start += size) await fn(start, Math.min(size, total - start))
}

const best = (runs: readonly Measure[]) =>
  runs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a))

/** Counts what it consumes, by event id, and says when it has seen `expected` distinct ones. */
class Counter extends Consumer {
  readonly seen = new Map<number, number>()
  constructor(
    private readonly consumerName: string,
    private readonly expected: number,
    private readonly done: () => void,
  ) {
    super()
  }
  override get name() {
    return this.consumerName
  }
  override consume(event: StoredEvent) {
    this.seen.set(event.id, (this.seen.get(event.id) ?? 0) + 1)
    if (this.seen.size === this.expected) this.done()
  }
}

async function logRates(store: EventStore) {
  const manager = createEventManager({ store })
  const singles: Measure[] = []
  const batches: Measure[] = []
  for (let r = 0; r < rounds; r++) {
    singles.push(
      await measure(single, async () => {
        for (let i = 0; i < single; i++) await manager.log('bench.single', { i })
      }),
    )
    batches.push(
      await measure(events, async () => {
        await inRuns(events, batch, (i, length) =>
          manager.logMany(
            Array.from({ length }, (_, j) => ({ name: 'bench.batch', payload: { i: i + j } })),
          ),
        )
      }),
    )
  }
  return { single: best(singles), batched: best(batches) }
}

/** Consumes `events` fresh events of one name with `workers` loops; checks exactly once. */
async function consumeRate(store: EventStore, workers: number, round: number): Promise<Measure> {
  const name = `bench.consume${workers}_${round}`
  const manager = createEventManager({ store })
  await inRuns(events, 1000, (i, length) =>
    manager.logMany(Array.from({ length }, (_, j) => ({ name, payload: { i: i + j } }))),
  )
  let finish!: () => void
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  const counter = new Counter(`consume${workers}_${round}`, events, () => finish())
  const consumers = createConsumerManager({ store, batchSize: batch, onError: console.error })
  await consumers.add({ consumer: counter, events: [name] })
  const result = await measure(events, async () => {
    consumers.start({ workers })
    await finished
  })
  await consumers.stop()
  const twice = [...counter.seen.values()].filter((n) => n !== 1).length
  if (counter.seen.size !== events || twice > 0) {
    throw new Error(`consumed ${counter.seen.size} of ${events}, ${twice} more than once`)
  }
  return result
}

/** The baseline: a queue table drained by `SELECT … FOR UPDATE SKIP LOCKED` and a delete. */
async function baselineRate(workers: number): Promise<Measure> {
  const table = `"${schema}".queue`
  await pool.query(`DROP TABLE IF EXISTS ${table}`)
  await pool.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, payload jsonb NOT NULL)`)
  await inRuns(events, 1000, (i, length) => {
    const rows = Array.from({ length }, (_, j) => JSON.stringify({ i: i + j }))
    return pool.query(`INSERT INTO ${table} (payload) SELECT * FROM unnest($1::jsonb[])`, [rows])
  })
  const seen = new Map<string, number>()
  const work = async () => {
    for (;;) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const { rows } = await client.query<{ id: string; payload: unknown }>(
          `SELECT id, payload FROM ${table} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [batch],
        )
        for (const row of rows) seen.set(row.id, (seen.get(row.id) ?? 0) + 1)
        if (rows.length > 0) {
          await client.query(`DELETE FROM ${table} WHERE id = ANY($1::bigint[])`, [
            rows.map((row) => row.id),
          ])
        }
        await client.query('COMMIT')
        if (rows.length === 0) return
      } finally {
        client.release()
      }
    }
  }
  const result = await measure(events, async () => {
    await Promise.all(Array.from({ length: workers }, work))
  })
  if (seen.size !== events || [...seen.values()].some((n) => n !== 1)) {
    throw new Error('the baseline did not consume every event once')
  }
  return result
}

/** Log → consume latency of events logged one by one, a loop woken by NOTIFY. */
async function lag(store: EventStore) {
  const manager = createEventManager({ store })
  const latencies: number[] = []
  let finish!: () => void
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  class Timer extends Consumer {
    override consume(event: StoredEvent) {
      latencies.push(performance.now() - (event.payload as { t: number }).t)
      if (latencies.length === lagEvents) finish()
    }
  }
  const consumers = createConsumerManager({ store, batchSize: batch })
  await consumers.add({ consumer: new Timer(), events: ['bench.lag'], startFrom: 'now' })
  consumers.start()
  for (let i = 0; i < lagEvents; i++) {
    await manager.log('bench.lag', { t: performance.now() })
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  await finished
  await consumers.stop()
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: latencies.at(-1)! }
}

const store = await postgresStore({ pool, schema })
try {
  const log = await logRates(store)
  const consume: Record<string, { events: Measure; baseline: Measure; ratio: number }> = {}
  for (const workers of [1, 4]) {
    const ours: Measure[] = []
    const theirs: Measure[] = []
    for (let r = 0; r < rounds; r++) {
      ours.push(await consumeRate(store, workers, r))
      theirs.push(await baselineRate(workers))
    }
    const e = best(ours)
    const b = best(theirs)
    consume[`workers${workers}`] = { events: e, baseline: b, ratio: e.perSecond / b.perSecond }
  }
  const latency = await lag(store)
  const ratioConsumeToBaseline = Math.min(...Object.values(consume).map((c) => c.ratio))
  printTable(
    ['measure', 'events/s', 'baseline/s', 'ratio', 'CPU ms / 1k events'],
    [
      [
        'log, one by one',
        formatRate(log.single.perSecond),
        '',
        '',
        log.single.cpuMsPerKiloEvent.toFixed(1),
      ],
      [
        `log, batches of ${batch}`,
        formatRate(log.batched.perSecond),
        '',
        '',
        log.batched.cpuMsPerKiloEvent.toFixed(1),
      ],
      ...Object.entries(consume).map(([k, c]) => [
        `consume, ${k.replace('workers', '')} worker(s)`,
        formatRate(c.events.perSecond),
        formatRate(c.baseline.perSecond),
        c.ratio.toFixed(2),
        c.events.cpuMsPerKiloEvent.toFixed(1),
      ]),
    ],
  )
  console.log(`lag p50 ${latency.p50Ms.toFixed(1)} ms, p99 ${latency.p99Ms.toFixed(1)} ms`)
  console.log(`ratioConsumeToBaseline ${ratioConsumeToBaseline.toFixed(2)} (target ≥ ${TARGET})`)
  const file = writeResult('events', {
    backend: 'postgresql',
    params: { events, batch, rounds, single, lagEvents },
    note: 'rates: best of rounds on a shared machine; baseline: SELECT … FOR UPDATE SKIP LOCKED + DELETE, same batch size, same run',
    log,
    consume,
    ratioConsumeToBaseline,
    target: TARGET,
    meetsTarget: ratioConsumeToBaseline >= TARGET,
    targets: [
      {
        what: 'consume ÷ a FOR UPDATE SKIP LOCKED loop (the worse of 1 and 4 workers)',
        value: ratioConsumeToBaseline,
        goal: TARGET,
        better: 'higher',
        ratio: true,
      },
    ],
    lag: latency,
  })
  console.log(`wrote ${file}`)
} finally {
  await drop()
  await store.close()
  await pool.end()
}
