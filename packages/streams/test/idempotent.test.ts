/**
 * The idempotent producer, on the backends that dedupe (memory, the reference model, and Redis'
 * append script): a batch sent again is answered with its first append's ids and appended once;
 * a reused producer id continues its sequences and fences its older process; gaps and batches
 * older than the window are refused with typed errors, nothing written. A property test runs
 * random interleavings of retries on both and compares them.
 */
import { type RedisServer, startRedis } from '@phonon/testkit'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { producerKey } from '../src/backends/redis.js'
import {
  type Backend,
  defineStreams,
  getStream,
  MemoryBackend,
  PRODUCER_WINDOW,
  Producer,
  type ProducerBatch,
  ProducerFenced,
  RedisBackend,
  SequenceError,
  type StreamDefinition,
} from '../src/index.js'

let server: RedisServer
const open: Backend[] = []
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  for (const backend of open.splice(0)) await backend.close()
  await server?.stop()
})

const makers = {
  memory: () => new MemoryBackend(),
  redis: () => {
    const backend = new RedisBackend({ redis: server.url })
    open.push(backend)
    return backend
  },
}

let streams = 0
function definition(shards = 1, retentionMs?: number): StreamDefinition {
  const config = defineStreams({
    s: {
      name: `idem-${++streams}`,
      partitionKey: 'k',
      shards,
      ...(retentionMs === undefined ? {} : { retentionMs }),
    },
  })
  return config.get('s') as StreamDefinition
}

const batch = (first: number, floor = first, epoch = 0, producerId = 'p1'): ProducerBatch => ({
  producerId,
  epoch,
  first,
  floor,
})
const payloads = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ k: 'x', i: from + i }))
const stored = async (backend: Backend, stream: StreamDefinition, shard = 0) =>
  (await backend.read(stream, shard, 'all', 100_000)).map((r) => JSON.parse(r.data).i as number)
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'appended',
    (error: unknown) =>
      error instanceof SequenceError
        ? error.reason
        : error instanceof ProducerFenced
          ? 'fenced'
          : String(error),
  )

describe.each(['memory', 'redis'] as const)('idempotent append (%s)', (kind) => {
  test('a batch sent again gets the same ids and is appended once; an overlapping one appends only its new records', async () => {
    const backend = makers[kind]()
    const stream = definition()
    const ids = await backend.append(stream, 0, payloads(1, 3), batch(1))
    expect(await backend.append(stream, 0, payloads(1, 3), batch(1))).toEqual(ids)
    const more = await backend.append(stream, 0, payloads(2, 4), batch(2))
    expect(more.slice(0, 2)).toEqual(ids.slice(1))
    expect(await stored(backend, stream)).toEqual([1, 2, 3, 4, 5])
    const sequences = (await backend.read(stream, 0, 'all', 10)).map((r) => r.sequence)
    expect([...ids, ...more.slice(2)]).toEqual(sequences)
    // Another producer's sequences are its own.
    await backend.append(stream, 0, payloads(6, 2), batch(1, 1, 0, 'p2'))
    expect(await stored(backend, stream)).toEqual([1, 2, 3, 4, 5, 6, 7])
  })

  test(`a batch older than the last ${PRODUCER_WINDOW} is refused (stale), nothing written`, async () => {
    const backend = makers[kind]()
    const stream = definition()
    // Batch b holds the sequences 1 + 2b and 2 + 2b.
    const send = (b: number, n = 2) =>
      backend.append(stream, 0, payloads(1 + 2 * b, n), batch(1 + 2 * b))
    const first = await send(0)
    for (let b = 1; b < PRODUCER_WINDOW; b++) await send(b)
    // Still in the window: PRODUCER_WINDOW batches are remembered.
    expect(await send(0)).toEqual(first)
    await send(PRODUCER_WINDOW)
    expect(await refusal(send(0))).toBe('stale')
    // The batches still remembered are answered, also after many more were appended.
    for (let b = PRODUCER_WINDOW + 1; b < 3 * PRODUCER_WINDOW; b++) {
      const ids = await send(b)
      expect(await send(b)).toEqual(ids)
    }
    expect(await send(2 * PRODUCER_WINDOW)).toHaveLength(2)
    expect(await refusal(send(2 * PRODUCER_WINDOW - 1))).toBe('stale')
    // A batch straddling the window's start is refused whole.
    expect(await refusal(send(2 * PRODUCER_WINDOW - 1, 4))).toBe('stale')
    const all = await stored(backend, stream)
    expect(all).toEqual(Array.from({ length: 6 * PRODUCER_WINDOW }, (_, i) => i + 1))
  })

  test('a gap below the floor is refused; a jump the producer declares (given up) is taken', async () => {
    const backend = makers[kind]()
    const stream = definition()
    await backend.append(stream, 0, payloads(1, 2), batch(1))
    // The producer holds 1..9 as appended, the shard has 1..2: lost writes.
    expect(await refusal(backend.append(stream, 0, payloads(10, 1), batch(10, 10)))).toBe('gap')
    // It gave up 3..9 (floor 3): 10 is appended, 3..9 are skipped for good.
    await backend.append(stream, 0, payloads(10, 1), batch(10, 3))
    expect(await refusal(backend.append(stream, 0, payloads(3, 7), batch(3)))).toBe('stale')
    expect(await stored(backend, stream)).toEqual([1, 2, 10])
  })

  test('a new producer, or one whose state expired, starts anywhere', async () => {
    const backend = makers[kind]()
    const stream = definition()
    await backend.append(stream, 0, payloads(40, 1), batch(40, 1, 0, 'late'))
    expect(await stored(backend, stream)).toEqual([40])
  })

  test('a reused producer id continues after a restart and fences the older process', async () => {
    const backend = makers[kind]()
    const stream = definition(2)
    const first = new Producer(stream, backend, { producerId: 'job-7' })
    await first.putMany(Array.from({ length: 10 }, (_, i) => ({ k: `k${i}`, i })))
    // The restarted process (same id, a fresh Producer) continues where the id left off.
    const second = new Producer(stream, backend, { producerId: 'job-7' })
    await second.putMany(Array.from({ length: 10 }, (_, i) => ({ k: `k${i}`, i: 10 + i })))
    const all = [...(await stored(backend, stream, 0)), ...(await stored(backend, stream, 1))]
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    // The older process is fenced on every shard the newer one wrote to; nothing written.
    for (let i = 0; i < 10; i++) {
      expect(await refusal(first.put({ k: `k${i}`, i: 100 }))).toBe('fenced')
    }
    const after = [...(await stored(backend, stream, 0)), ...(await stored(backend, stream, 1))]
    expect(after).toHaveLength(20)
  })

  test('producer ids are checked', () => {
    const backend = makers[kind]()
    expect(() => new Producer(definition(), backend, { producerId: 'a b' })).toThrow(/producerId/)
    expect(() => new Producer(definition(), backend, { maxInFlight: PRODUCER_WINDOW + 1 })).toThrow(
      /maxInFlight/,
    )
    expect(new Producer(definition(), backend).id).toMatch(/^[0-9a-f-]{36}$/)
  })

  test('property: random interleavings of retries append every record once, answered with the same ids', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 40, size: 'max' }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 100, size: 'max' }),
        async (sizes, picks) => {
          const backend = makers[kind]()
          const stream = definition()
          const firsts: number[] = []
          for (let b = 0, s = 1; b < sizes.length; s += sizes[b] as number, b++) firsts.push(s)
          const seen = new Map<number, string[]>()
          let sent = 0
          // Each step sends the next new batch, or one sent already again (a retry, any order).
          for (const pick of [...picks, ...sizes.map(() => Number.MAX_SAFE_INTEGER)]) {
            const b = pick === Number.MAX_SAFE_INTEGER || pick % 3 === 0 ? sent : pick % (sent + 1)
            if (b >= sizes.length) continue
            const size = sizes[b] as number
            const outcome = backend.append(
              stream,
              0,
              payloads(firsts[b] as number, size),
              batch(firsts[b] as number),
            )
            if (sent - b > PRODUCER_WINDOW) {
              expect(await refusal(outcome)).toBe('stale')
              continue
            }
            const ids = await outcome
            if (b === sent) sent++
            const was = seen.get(b)
            if (was === undefined) seen.set(b, ids)
            else expect(ids).toEqual(was)
          }
          const total = sizes.reduce((a, n) => a + n, 0)
          expect(await stored(backend, stream)).toEqual(
            Array.from({ length: total }, (_, i) => i + 1),
          )
        },
      ),
      { numRuns: kind === 'redis' ? 40 : 200 },
    )
  })
})

describe('memory is the model of the script', () => {
  type Op =
    | { kind: 'append'; producer: string; epoch: number; first: number; size: number; back: number }
    | { kind: 'init'; producer: string }
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 9,
      arbitrary: fc.record({
        kind: fc.constant('append' as const),
        producer: fc.constantFrom('a', 'b'),
        epoch: fc.integer({ min: 0, max: 2 }),
        first: fc.integer({ min: 1, max: 40 }),
        size: fc.integer({ min: 1, max: 4 }),
        back: fc.integer({ min: 0, max: 3 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('init' as const),
        producer: fc.constantFrom('a', 'b'),
      }),
    },
  )

  /** Each op's outcome, ids as places in the stream's read order (the backends' ids differ). */
  async function run(backend: Backend, ops: readonly Op[]) {
    const stream = definition()
    const outcomes: unknown[] = []
    for (const o of ops) {
      if (o.kind === 'init') {
        outcomes.push(
          await (backend.initProducer as NonNullable<Backend['initProducer']>)(
            stream,
            0,
            o.producer,
          ),
        )
        continue
      }
      const floor = Math.max(1, o.first - o.back)
      try {
        const ids = await backend.append(stream, 0, payloads(o.first, o.size), {
          producerId: o.producer,
          epoch: o.epoch,
          first: o.first,
          floor,
        })
        outcomes.push(ids)
      } catch (error) {
        outcomes.push(
          error instanceof SequenceError
            ? error.reason
            : error instanceof ProducerFenced
              ? 'fenced'
              : String(error),
        )
      }
    }
    const place = new Map(
      (await backend.read(stream, 0, 'all', 100_000)).map((r, i) => [r.sequence, i] as const),
    )
    return {
      outcomes: outcomes.map((o) => (Array.isArray(o) ? o.map((id) => place.get(id)) : o)),
      stored: await stored(backend, stream),
    }
  }

  test('random appends (two producers, epochs, floors, retries, gaps) and inits: the same outcomes on memory and Redis', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        expect(await run(makers.redis(), ops)).toEqual(await run(makers.memory(), ops))
      }),
      { numRuns: 60 },
    )
  })
})

describe('idempotent append (redis specifics)', () => {
  test('the producer state lives under the shard hash tag and expires with the retention', async () => {
    const backend = makers.redis()
    const stream = definition(1, 3_600_000)
    await backend.append(stream, 0, payloads(1, 2), batch(1))
    const key = producerKey(stream, 0, 'p1')
    expect(key.startsWith(`{triton:${stream.name}:0}:`)).toBe(true)
    const ttl = await backend.redis.pttl(key)
    expect(ttl).toBeGreaterThan(3_500_000)
    expect(ttl).toBeLessThanOrEqual(3_600_000)
  })
})

describe('idempotent append (memory specifics)', () => {
  test('a producer state is forgotten after the retention', async () => {
    let now = 1_000_000
    const backend = new MemoryBackend(() => now)
    const stream = definition(1, 60_000)
    await backend.append(stream, 0, payloads(1, 2), batch(1))
    expect(await backend.initProducer(stream, 0, 'p1')).toEqual({ epoch: 1, next: 3 })
    now += 60_001
    expect(await backend.initProducer(stream, 0, 'p1')).toEqual({ epoch: 1, next: 1 })
  })

  test('a stream made by getStream gets a random producer id per stream', () => {
    const backend = new MemoryBackend()
    const config = defineStreams({ s: { name: 'ids', partitionKey: 'k' } })
    const a = getStream('s', config, backend).producer.id
    const b = getStream('s', config, backend).producer.id
    expect(a).not.toBe(b)
  })
})
