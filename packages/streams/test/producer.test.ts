import { describe, expect, test } from 'vitest'
import {
  defineStreams,
  getStream,
  handlerProcessor,
  KinesisBackend,
  MemoryBackend,
  type PutResult,
  RecordError,
  type StreamRecord,
  shardIdOf,
  shardOf,
  Worker,
} from '../src/index.js'
import { BACKENDS, backends } from './backends.js'

const make = backends()

describe('producer', () => {
  test('put and putMany return (shard, sequence); sequences increase per shard', async () => {
    const backend = make.redis()
    const config = defineStreams({ s: { name: 'prod', partitionKey: 'user', shards: 3 } })
    const stream = getStream<{ user: string | number; n?: number }>('s', config, backend, {
      maxBatch: 7,
    })
    const one = await stream.put({ user: 'u1' })
    expect(one.shard).toBe(shardOf('u1', 3))
    const many = await stream.putMany(Array.from({ length: 50 }, (_, n) => ({ user: n % 5, n })))
    for (const [i, r] of many.entries()) expect(r.shard).toBe(shardOf(String(i % 5), 3))
    const read = await backend.read(stream.definition, one.shard, 'all', 100)
    expect(read[0]?.sequence).toBe(one.sequence)
    await backend.close()
  })

  test('typed errors, nothing written', async () => {
    const backend = make.memory()
    const config = defineStreams({
      s: { name: 'errs', partitionKey: 'user', shards: 1, maxRecordBytes: 64 },
    })
    const stream = getStream<Record<string, unknown>>('s', config, backend)
    const reason = (p: Promise<unknown>) =>
      p.then(
        () => 'written',
        (e: unknown) => (e instanceof RecordError ? e.reason : String(e)),
      )
    expect(await reason(stream.put({ name: 'x' }))).toBe('no-partition-key')
    expect(await reason(stream.put({ user: 'u', big: 'x'.repeat(100) }))).toBe('oversized')
    expect(await reason(stream.put({ user: 'u', n: Number.NaN }))).toBe('not-json')
    expect(await reason(stream.put({ user: 'u', f: () => 1 }))).toBe('not-json')
    await expect(stream.putMany([{ user: 'a' }, { user: 'b', n: Infinity }])).rejects.toThrow(
      /^record 1: /,
    )
    expect(await backend.read(stream.definition, 0, 'all', 10)).toEqual([])
  })

  test('records older than the retention are trimmed on put', async () => {
    let now = 1_000_000
    const { MemoryBackend } = await import('../src/index.js')
    const backend = new MemoryBackend(() => now)
    const config = defineStreams({
      s: { name: 'ret', partitionKey: 'k', shards: 1, retentionMs: 1_000 },
    })
    const stream = getStream<{ k: string }>('s', config, backend)
    await stream.put({ k: 'old' })
    now += 2_000
    await stream.put({ k: 'new' })
    expect(
      (await backend.read(stream.definition, 0, 'all', 10)).map((r) => JSON.parse(r.data).k),
    ).toEqual(['new'])
  })
})

for (const name of BACKENDS) {
  describe(`aggregation on ${name}`, () => {
    test('records packed per shard are read back one by one, mixed with plain ones', async () => {
      const backend = make[name]()
      const config = defineStreams({ s: { name: `agg-${name}`, partitionKey: 'k', shards: 2 } })
      const plain = getStream<{ k: string; i: number }>('s', config, backend)
      const packed = getStream<{ k: string; i: number }>('s', config, backend, {
        aggregate: true,
        maxBatch: 7,
      })
      const records = (from: number, count: number) =>
        Array.from({ length: count }, (_, j) => ({ k: `k${(from + j) % 9}`, i: from + j }))
      const puts = [
        ...(await plain.putMany(records(0, 5))),
        ...(await packed.putMany(records(5, 40))),
        await packed.put({ k: 'k0', i: 45 }),
        ...(await Promise.all(records(46, 10).map((r) => packed.put(r)))),
        ...(await plain.putMany(records(56, 4))),
      ]
      // Routing stays per record; a stored record holds up to maxBatch of them.
      for (const [i, put] of puts.entries()) expect(put.shard).toBe(shardOf(`k${i % 9}`, 2))
      const perStored = new Map<string, number>()
      for (const put of puts) {
        const key = `${put.shard}/${put.sequence}`
        perStored.set(key, (perStored.get(key) ?? 0) + 1)
      }
      expect(Math.max(...perStored.values())).toBe(7)
      expect(perStored.size).toBeLessThan(puts.length / 2)
      // Every reader unpacks: an iterator (with a small batch) and a worker.
      const iterator = await plain.iterator({ from: 'all', batch: 3, idleMs: 5 })
      const got: StreamRecord<{ k: string; i: number }>[] = []
      for await (const record of iterator) {
        got.push(record)
        if (got.length === puts.length) iterator.stop()
      }
      const byI = (a: { data: { i: number } }, b: { data: { i: number } }) => a.data.i - b.data.i
      got.sort(byI)
      expect(got.map((r) => r.data.i)).toEqual(puts.map((_, i) => i))
      for (const [i, r] of got.entries()) {
        const put = puts[i] as PutResult
        expect([r.shard, r.sequence, r.subSequence]).toEqual([
          put.shard,
          put.sequence,
          put.subSequence,
        ])
        expect(r.shardId).toBe(shardIdOf(put.shard))
      }
      const handled: StreamRecord<{ k: string; i: number }>[] = []
      const worker = new Worker<{ k: string; i: number }>({
        stream: plain,
        application: 'agg',
        name: 'w',
        batch: 5,
        idleMs: 5,
        roundMs: 10,
        processor: handlerProcessor<{ k: string; i: number }>((batch) => {
          handled.push(...batch)
          if (handled.length >= puts.length) worker.stop()
        }),
      })
      await worker.run()
      expect(handled.sort(byI).map((r) => [r.data.i, r.sequence, r.subSequence])).toEqual(
        got.map((r) => [r.data.i, r.sequence, r.subSequence]),
      )
      // Checkpoints are stored records: the last one of each shard.
      const coordinator = backend.coordinator(plain.definition, 'agg')
      for (const shard of [0, 1]) {
        const last = puts.filter((p) => p.shard === shard).at(-1)
        expect(await coordinator.checkpoint(shard)).toBe(last?.sequence)
      }
      await backend.close()
    })
  })
}

describe('batch bounds', () => {
  test('putMany keeps maxBatchBytes: per call plain, per stored record aggregated', async () => {
    const backend = new MemoryBackend()
    const calls: number[] = []
    const append = backend.append.bind(backend)
    backend.append = (stream, shard, payloads) => {
      calls.push(payloads.length)
      return append(stream, shard, payloads)
    }
    const config = defineStreams({ s: { name: 'bytes', partitionKey: 'k', shards: 1 } })
    const record = (i: number) => ({ k: 'a', pad: 'x'.repeat(75), i })
    expect(JSON.stringify(record(10)).length).toBe(100)
    const plain = getStream('s', config, backend, { maxBatchBytes: 350 })
    await plain.putMany(Array.from({ length: 10 }, (_, i) => record(10 + i)))
    expect(calls).toEqual([3, 3, 3, 1])
    calls.length = 0
    const packed = getStream('s', config, backend, { maxBatchBytes: 350, aggregate: true })
    const puts = await packed.putMany(Array.from({ length: 10 }, (_, i) => record(10 + i)))
    expect(calls).toEqual([4]) // one call, four stored records
    const stored = (await backend.read(config.get('s') as never, 0, 'all', 100)).slice(10)
    expect(stored.map((r) => r.data.length)).toEqual([1 + 2 + 3 * 100 + 2, 305, 305, 100])
    expect(stored.every((r) => Buffer.byteLength(r.data) <= 350)).toBe(true)
    expect(puts.map((p) => p.subSequence)).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
  })

  test('aggregated records stay under the backend limit (Kinesis: 1 MiB)', async () => {
    expect(new KinesisBackend().maxRecordBytes).toBeLessThanOrEqual(1 << 20)
    class Limited extends MemoryBackend {
      readonly maxRecordBytes = 250
    }
    const backend = new Limited()
    const config = defineStreams({ s: { name: 'lim', partitionKey: 'k', shards: 1 } })
    const record = (i: number) => ({ k: 'a', pad: 'x'.repeat(75), i })
    // The 5 MiB default is clipped to the backend's limit for aggregated records.
    const stream = getStream('s', config, backend, { aggregate: true })
    await Promise.all(Array.from({ length: 5 }, (_, i) => stream.put(record(10 + i))))
    const stored = await backend.read(stream.definition, 0, 'all', 100)
    expect(stored.map((r) => r.data.length)).toEqual([204, 100, 204])
  })
})
