/**
 * Exactly once under SIGKILL (invariant 12), PostgreSQL: worker processes run two transactional
 * consumers (one recording event ids, one aggregating clicks per widget into a table of the same
 * database) while the test logs events from concurrent writers, some holding their transaction
 * open, and SIGKILLs workers at random moments, starting replacements. A killed worker's
 * transaction is rolled back by the server and its batch redelivered once its lease runs out.
 * At the end every committed event was recorded exactly once and the click totals are exact.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { postgresConfig, postgresSchema } from '@phonon/testkit'
import { build } from 'esbuild'
import fc from 'fast-check'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createEventManager, postgresStore } from '../src/index.js'
import { eventually, SCHEMA_PREFIX } from './stores.js'

const children = new Set<ChildProcess>()
let pool: pg.Pool
let bundleDir: string
let worker: string

// The worker is bundled once into one JavaScript file: it then starts in a fraction of the
// time tsx takes to compile its sources in each process, on a busy machine tens of seconds.
beforeAll(async () => {
  pool = new pg.Pool({ ...postgresConfig(), max: 10 })
  bundleDir = await mkdtemp(join(tmpdir(), 'phonon-events-'))
  worker = join(bundleDir, 'worker.mjs')
  await build({
    entryPoints: [fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url))],
    outfile: worker,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@phonon/source'],
    external: ['pg-native'],
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'error',
  })
}, 60_000)
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL')
  await pool.end()
  await rm(bundleDir, { recursive: true, force: true })
})

/**
 * Starts a worker; `ready` resolves once it registered its consumers. A `stall` worker stops
 * inside its first transaction and says `mid-batch` (see fixtures/worker.ts).
 */
function startWorker(schema: string, name: string, batchSize: number, stall = false) {
  const args = [schema, name, String(batchSize), '300', ...(stall ? ['stall'] : [])]
  const child = fork(worker, args, {
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve())
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal})`)))
  })
  ready.catch(() => {}) // a worker killed before it was ready is fine
  return { child, ready }
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

/** Creates the tables both tests' workers write. */
async function createTables(schema: string) {
  await pool.query(
    `CREATE TABLE "${schema}".seen (event_id bigint NOT NULL, redelivered boolean NOT NULL)`,
  )
  await pool.query(`CREATE TABLE "${schema}".clicks (widget text PRIMARY KEY, n bigint NOT NULL)`)
}

it('redelivers the batch of a worker SIGKILLed mid-transaction, once', async () => {
  const { schema, drop } = postgresSchema((sql) => pool.query(sql), SCHEMA_PREFIX)
  try {
    const store = await postgresStore({ pool, schema })
    await createTables(schema)
    const staller = startWorker(schema, 'staller', 10, true)
    await staller.ready
    const midBatch = new Promise((resolve) => staller.child.once('message', resolve))
    const events = createEventManager({ store })
    const logged = await events.logMany(
      Array.from({ length: 10 }, (_, i) => ({ name: 'click', payload: { widget: `w${i % 3}` } })),
    )
    await midBatch
    await kill(staller.child)
    const rescuer = startWorker(schema, 'rescuer', 10)
    await eventually(
      'the rescuer to record every event',
      async () =>
        (await pool.query(`SELECT 1 FROM "${schema}".seen`)).rows.length === logged.length,
      60_000,
    )
    await kill(rescuer.child)
    const seen = await pool.query<{ id: string; redelivered: boolean }>(
      `SELECT event_id::text AS id, redelivered FROM "${schema}".seen ORDER BY event_id`,
    )
    expect(seen.rows.map((row) => Number(row.id))).toEqual(logged.map((e) => e.id))
    expect(seen.rows.some((row) => row.redelivered)).toBe(true)
  } finally {
    await drop()
  }
}, 90_000)

it('counts every event exactly once with workers SIGKILLed at random moments', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 2, max: 3 }),
      fc.integer({ min: 1, max: 40 }),
      fc.array(fc.integer({ min: 20, max: 250 }), { minLength: 2, maxLength: 4 }),
      async (workers, batchSize, killDelays) => {
        const { schema, drop } = postgresSchema((sql) => pool.query(sql), SCHEMA_PREFIX)
        const store = await postgresStore({ pool, schema })
        try {
          await createTables(schema)
          const running = Array.from({ length: workers }, (_, i) =>
            startWorker(schema, `w${i}`, batchSize),
          )
          await Promise.all(running.map((worker) => worker.ready))
          const events = createEventManager({ store })
          const truth = new Map<string, number>()
          const committed: number[] = []
          const writer = async (w: number) => {
            for (let round = 0; round < 8; round++) {
              const widgets = Array.from(
                { length: 25 },
                (_, i) => `w${(w * 7 + round * 3 + i) % 11}`,
              )
              const entries = widgets.map((widget) => ({ name: 'click', payload: { widget } }))
              const client = await pool.connect()
              try {
                await client.query('BEGIN')
                const logged = await events.logMany(entries, { tx: client })
                // Odd writers hold their transaction over another writer's round trip.
                if (w % 2 === 1) await pool.query('SELECT 1')
                await client.query('COMMIT')
                committed.push(...logged.map((e) => e.id))
                for (const widget of widgets) truth.set(widget, (truth.get(widget) ?? 0) + 1)
              } finally {
                client.release()
              }
            }
          }
          const writing = Promise.all([0, 1, 2, 3].map(writer))
          // Kill a worker after each delay and start a replacement, while the writers write.
          let kills = 0
          for (const [k, delay] of killDelays.entries()) {
            await new Promise((resolve) => setTimeout(resolve, delay))
            const victim = k % running.length
            await kill(running[victim]!.child)
            kills++
            running[victim] = startWorker(schema, `w${victim}r${k}`, batchSize)
          }
          await writing
          await eventually(
            'the workers to catch up',
            async () => (await store.lag()).every((lag) => lag.events === 0),
            60_000,
          )
          await Promise.all(running.map((worker) => kill(worker.child)))
          expect(kills).toBe(killDelays.length)
          const seen = await pool.query<{ event_id: string; n: string }>(
            `SELECT event_id::text, count(*)::text AS n FROM "${schema}".seen GROUP BY event_id`,
          )
          const twice = seen.rows.filter((row) => row.n !== '1')
          expect(twice, 'events recorded more than once').toEqual([])
          expect(seen.rows.map((row) => Number(row.event_id)).sort((a, b) => a - b)).toEqual(
            committed.sort((a, b) => a - b),
          )
          const clicks = await pool.query<{ widget: string; n: string }>(
            `SELECT widget, n::text FROM "${schema}".clicks`,
          )
          expect(new Map(clicks.rows.map((row) => [row.widget, Number(row.n)]))).toEqual(truth)
        } finally {
          await drop()
        }
      },
    ),
    { numRuns: 2, endOnFailure: true }, // no shrinking: each run starts processes
  )
}, 120_000)
