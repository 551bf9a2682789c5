/**
 * Transactions that commit out of id order (PostgreSQL): a writer holding a transaction open
 * gets a lower id than writers that commit before it. A reader that moved its position past the
 * higher ids would skip the late commit for ever; the store reads only below the oldest running
 * transaction, so it never does. Fast-check drives writers (each its own connection) through
 * begin / log / commit / roll back interleaved with consumer steps, deterministically.
 */

import { postgresConfig, postgresSchema } from '@phonon/testkit'
import fc from 'fast-check'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  createConsumerManager,
  createEventManager,
  type EventStore,
  postgresStore,
} from '../src/index.js'
import { Recorder } from './recorder.js'
import { eventually, SCHEMA_PREFIX } from './stores.js'

const pool = new pg.Pool({ ...postgresConfig(), max: 12 })
const { schema, drop } = postgresSchema((sql) => pool.query(sql), SCHEMA_PREFIX)
let store: EventStore

beforeAll(async () => {
  store = await postgresStore({ pool, schema })
})
afterAll(async () => {
  await drop()
  await pool.end()
})

type Op =
  | { kind: 'log'; writer: number; n: number }
  | { kind: 'end'; writer: number; commit: boolean }
  | { kind: 'consume' }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('log' as const),
    writer: fc.integer({ min: 0, max: 3 }),
    n: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    kind: fc.constant('end' as const),
    writer: fc.integer({ min: 0, max: 3 }),
    commit: fc.boolean(),
  }),
  fc.constant({ kind: 'consume' as const }),
)

it('never skips an event whose transaction commits after higher ids were consumed', async () => {
  const events = createEventManager({ store })
  let run = 0
  await fc.assert(
    fc.asyncProperty(
      fc.array(op, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 5 }),
      async (ops, batchSize) => {
        const consumer = new Recorder(`reader${run++}`)
        const consumers = createConsumerManager({ store, batchSize, listen: false })
        await consumers.add({ consumer, events: ['e'], startFrom: 'now' })
        const writers: (pg.PoolClient | undefined)[] = [undefined, undefined, undefined, undefined]
        const pending: number[][] = [[], [], [], []]
        const committed: number[] = []
        const end = async (writer: number, commit: boolean) => {
          const client = writers[writer]
          if (client === undefined) return
          await client.query(commit ? 'COMMIT' : 'ROLLBACK')
          client.release()
          writers[writer] = undefined
          if (commit) committed.push(...pending[writer]!)
          pending[writer] = []
        }
        try {
          for (const step of ops) {
            if (step.kind === 'consume') {
              await consumers.consumeOnce()
            } else if (step.kind === 'end') {
              await end(step.writer, step.commit)
            } else {
              let client = writers[step.writer]
              if (client === undefined) {
                client = await pool.connect()
                await client.query('BEGIN')
                writers[step.writer] = client
              }
              const logged = await events.logMany(
                Array.from({ length: step.n }, () => ({ name: 'e', payload: step.writer })),
                { tx: client },
              )
              pending[step.writer]!.push(...logged.map((e) => e.id))
            }
          }
        } finally {
          for (const writer of [0, 1, 2, 3]) await end(writer, true)
        }
        await eventually('the reader to catch up', async () => {
          await consumers.consumeOnce()
          return (await consumers.lag())[0]!.events === 0
        })
        expect(consumer.ids.sort((a, b) => a - b)).toEqual(committed.sort((a, b) => a - b))
      },
    ),
    { numRuns: 25 },
  )
}, 60_000)

it('holds back a reader behind a long transaction, then delivers its lower id', async () => {
  const events = createEventManager({ store })
  const consumer = new Recorder('held')
  const consumers = createConsumerManager({ store, listen: false })
  await consumers.add({ consumer, events: ['e'], startFrom: 'now' })
  const long = await pool.connect()
  try {
    await long.query('BEGIN')
    const [early] = await events.logMany([{ name: 'e', payload: 'long' }], { tx: long })
    const late = await events.log('e', 'short') // a higher id, committed first
    expect(late.id).toBeGreaterThan(early!.id)
    await consumers.consumeOnce()
    expect(consumer.ids).toEqual([]) // not `late` alone: that would move past `early`
    await long.query('COMMIT')
    await eventually('both', async () => {
      await consumers.consumeOnce()
      return consumer.seen.length === 2
    })
    expect(consumer.ids).toEqual([early!.id, late.id])
  } finally {
    long.release()
  }
})
