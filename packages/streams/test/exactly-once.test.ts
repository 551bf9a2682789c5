/**
 * Producers are exactly once on Redis through real lost replies and cut connections: a fault
 * proxy between ioredis and redis-server drops replies (after Redis ran the append) and commands
 * (before) while several producers put thousands of records to several shards. ioredis resends
 * what was unanswered after reconnecting (its default), or the producer sends the batch again
 * itself (a client that does not resend); either way the stream holds every resolved record
 * once, at the sequence its put returned, and no record twice. On the old append (pipelined
 * XADDs) the resent commands stored records twice.
 */
import { type FaultProxy, randomFaults } from '@phonon/testkit'
import type { RedisOptions } from 'ioredis'
import { describe, expect, test } from 'vitest'
import {
  defineStreams,
  Producer,
  type PutResult,
  RedisBackend,
  type StreamDefinition,
  StreamError,
} from '../src/index.js'
import { proxiedRedis } from './fixtures/proxied.js'

const redis = proxiedRedis()
const { closing } = redis

const PRODUCERS = 3
const RECORDS = 1_500 // per producer
const SHARDS = 4

/** Appends: the script (EVALSHA, or EVAL after a NOSCRIPT) or, on the old code, XADD / XTRIM. */
const isAppend = (c: { name: string }) =>
  c.name.startsWith('EVAL') || c.name === 'XADD' || c.name === 'XTRIM'

interface Outcome {
  resolved: Map<string, PutResult>
  rejected: Map<string, unknown>
}

/** `PRODUCERS` producers, each on its own client through the proxy, put `RECORDS` records each. */
async function produce(
  stream: StreamDefinition,
  redisOptions: RedisOptions,
  retries?: number,
): Promise<Outcome> {
  const outcome: Outcome = { resolved: new Map(), rejected: new Map() }
  await Promise.all(
    Array.from({ length: PRODUCERS }, async (_, p) => {
      const backend = new RedisBackend({ redis: (redis.proxy as FaultProxy).url, redisOptions })
      backend.redis.on('error', () => {})
      closing.push(backend)
      const producer = new Producer(stream, backend, {
        maxBatch: 25,
        ...(retries === undefined ? {} : { retries }),
      })
      for (let i = 0; i < RECORDS; i += 50) {
        const chunk = Array.from({ length: 50 }, (_, j) => ({ k: `k${(i + j) % 97}`, p, i: i + j }))
        await Promise.all(
          chunk.map((record) =>
            producer.put(record).then(
              (result) => outcome.resolved.set(`${p}:${record.i}`, result),
              (error: unknown) => outcome.rejected.set(`${p}:${record.i}`, error),
            ),
          ),
        )
      }
    }),
  )
  return outcome
}

/** Every stored record, by `p:i`: where it is (several places: stored more than once). */
async function storedRecords(stream: StreamDefinition) {
  const reader = new RedisBackend({ redis: redis.server.url })
  closing.push(reader)
  const where = new Map<string, Array<{ shard: number; sequence: string }>>()
  for (let shard = 0; shard < SHARDS; shard++) {
    for (const record of await reader.read(stream, shard, 'all', 1_000_000)) {
      const { p, i } = JSON.parse(record.data) as { p: number; i: number }
      const places = where.get(`${p}:${i}`) ?? []
      places.push({ shard, sequence: record.sequence })
      where.set(`${p}:${i}`, places)
    }
  }
  return where
}

function expectExactlyOnce(
  outcome: Outcome,
  where: Map<string, Array<{ shard: number; sequence: string }>>,
) {
  const duplicated = [...where].filter(([, places]) => places.length > 1)
  expect(duplicated.length, `records stored more than once, e.g. ${duplicated[0]?.[0]}`).toBe(0)
  expect(outcome.resolved.size + outcome.rejected.size).toBe(PRODUCERS * RECORDS)
  for (const [key, result] of outcome.resolved) {
    expect(where.get(key), key).toEqual([{ shard: result.shard, sequence: result.sequence }])
  }
  // A rejected put was a StreamError (its outcome unknown): stored once or not at all.
  for (const error of outcome.rejected.values())
    expect(error, String(error)).toBeInstanceOf(StreamError)
  for (const key of where.keys())
    expect(outcome.resolved.has(key) || outcome.rejected.has(key)).toBe(true)
}

let n = 0
const streamOf = () =>
  defineStreams({ s: { name: `once-${++n}`, partitionKey: 'k', shards: SHARDS } }).get(
    's',
  ) as StreamDefinition

describe('producers through a fault proxy (redis)', { timeout: 60_000 }, () => {
  test('ioredis resends unanswered appends after reconnecting: every record is stored once', async () => {
    const proxy = await redis.startProxy({
      policy: randomFaults({ seed: 11, dropReply: 0.04, dropCommand: 0.02, match: isAppend }),
    })
    const stream = streamOf()
    const outcome = await produce(stream, { retryStrategy: () => 5 })
    const stats = proxy.stats()
    expect(stats.droppedReplies).toBeGreaterThan(5)
    expect(stats.droppedCommands).toBeGreaterThan(2)
    expectExactlyOnce(outcome, await storedRecords(stream))
    // ioredis resends until it gets an answer: every put resolved.
    expect(outcome.rejected.size).toBe(0)
  })

  test('a client that does not resend: the producer sends the batch again, every record once', async () => {
    const proxy = await redis.startProxy({
      policy: randomFaults({ seed: 12, dropReply: 0.04, dropCommand: 0.02, match: isAppend }),
    })
    const stream = streamOf()
    const outcome = await produce(stream, {
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 5,
    })
    expect(proxy.stats().droppedReplies).toBeGreaterThan(5)
    expectExactlyOnce(outcome, await storedRecords(stream))
  })

  test('no retries: puts reject, each of their records is stored once or not at all, the next batches go on', async () => {
    const _proxy = await redis.startProxy({
      policy: randomFaults({ seed: 13, dropReply: 0.04, dropCommand: 0.02, match: isAppend }),
    })
    const stream = streamOf()
    const outcome = await produce(
      stream,
      { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, retryStrategy: () => 5 },
      0,
    )
    const where = await storedRecords(stream)
    expectExactlyOnce(outcome, where)
    // Replies dropped after Redis ran the batch: stored, though their puts rejected.
    const rejectedStored = [...outcome.rejected.keys()].filter((key) => where.has(key)).length
    expect(outcome.rejected.size).toBeGreaterThan(0)
    expect(rejectedStored).toBeGreaterThan(0)
    expect(rejectedStored).toBeLessThan(outcome.rejected.size)
  })
})
