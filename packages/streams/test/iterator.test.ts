import { ArgumentError } from '@phonon/core'
import { describe, expect, test } from 'vitest'
import {
  type Backend,
  defineStreams,
  getStream,
  type StreamIterator,
  type StreamRecord,
} from '../src/index.js'
import { BACKENDS, backends } from './backends.js'

const make = backends()
let n = 0

/** A fresh one-shard (or `shards`-shard) stream on `backend`. */
function fresh(backend: Backend, shards = 1) {
  const config = defineStreams({ s: { name: `it-${++n}`, partitionKey: 'k', shards } })
  return getStream<{ k: string; i: number }>('s', config, backend)
}

/** Takes `count` records, then stops the iterator and drains it. */
async function take<T>(iterator: StreamIterator<T>, count: number): Promise<StreamRecord<T>[]> {
  const got: StreamRecord<T>[] = []
  for await (const record of iterator) {
    got.push(record)
    if (got.length === count) iterator.stop()
  }
  return got
}

for (const name of BACKENDS) {
  describe(`iterators on ${name}`, () => {
    test('latest is pinned when built: what is put after, before the first read, is read', async () => {
      const backend = make[name]()
      const stream = fresh(backend)
      await stream.putMany([
        { k: 'a', i: 0 },
        { k: 'a', i: 1 },
      ])
      const iterator = await stream.iterator({ from: 'latest', idleMs: 5 })
      await stream.put({ k: 'a', i: 2 })
      const [record] = await take(iterator, 1)
      expect(record?.data).toEqual({ k: 'a', i: 2 })
      expect(record?.shardId).toBe('shardId-000000000000')
      await backend.close()
    })

    test('latest on an empty shard reads from the first record put after', async () => {
      const backend = make[name]()
      const stream = fresh(backend)
      const iterator = await stream.iterator({ from: 'latest', idleMs: 5 })
      await stream.put({ k: 'a', i: 7 })
      expect((await take(iterator, 1)).map((r) => r.data.i)).toEqual([7])
      await backend.close()
    })

    test('all, at and after a sequence, at a timestamp', async () => {
      const backend = make[name]()
      const stream = fresh(backend)
      const first = await stream.putMany([0, 1, 2].map((i) => ({ k: 'a', i })))
      const since = (await backend.now()) + 2
      await new Promise((resolve) => setTimeout(resolve, 5)) // a later millisecond on both clocks
      const later = await stream.putMany([3, 4].map((i) => ({ k: 'a', i })))
      const read = async (from: Parameters<typeof stream.iterator>[0]) =>
        (await take(await stream.iterator({ ...from, idleMs: 5 }), 1)).concat()
      const all = await take(await stream.iterator({ from: 'all' }), 5)
      expect(all.map((r) => r.data.i)).toEqual([0, 1, 2, 3, 4])
      expect(all.map((r) => r.sequence)).toEqual([...first, ...later].map((r) => r.sequence))
      expect((await read({ from: { at: first[1]?.sequence as string } }))[0]?.data.i).toBe(1)
      expect((await read({ from: { after: first[1]?.sequence as string } }))[0]?.data.i).toBe(2)
      expect((await read({ from: { timestamp: since } }))[0]?.data.i).toBe(3)
      await backend.close()
    })

    test('stop() stops fetching but yields what was fetched', async () => {
      const backend = make[name]()
      const stream = fresh(backend)
      await stream.putMany([0, 1, 2, 3].map((i) => ({ k: 'a', i })))
      const iterator = await stream.iterator({ from: 'all', batch: 3 })
      const got: number[] = []
      for await (const record of iterator) {
        if (got.length === 0) {
          iterator.stop()
          await stream.put({ k: 'a', i: 4 })
        }
        got.push(record.data.i)
      }
      expect(got).toEqual([0, 1, 2]) // the first fetch, nothing more
      await backend.close()
    })

    test('next() called again before a fetch settled: records in order, each once; return() ends it', async () => {
      const backend = make[name]()
      const stream = fresh(backend)
      await stream.putMany([0, 1, 2, 3, 4].map((i) => ({ k: 'a', i })))
      const iterator = (await stream.iterator({ from: 'all', batch: 2 }))[Symbol.asyncIterator]()
      const first = await Promise.all([iterator.next(), iterator.next(), iterator.next()])
      expect(first.map((r) => (r.done ? undefined : r.value.data.i))).toEqual([0, 1, 2])
      const [next, returned, after] = await Promise.all([
        iterator.next(),
        iterator.return?.(),
        iterator.next(),
      ])
      expect(next.done ? undefined : next.value.data.i).toBe(3)
      expect(returned?.done).toBe(true)
      expect(after.done).toBe(true) // ended by return(), record 4 is not yielded
      await backend.close()
    })

    test('data in any Unicode, with the append time and the sequence of its stored record', async () => {
      const backend = make[name]()
      const stream = fresh(backend)
      const before = await backend.now()
      const k = 'é中😀\u0000"\\'
      const [put] = await stream.putMany([{ k, i: 1 }])
      const after = await backend.now()
      const [record] = await take(await stream.iterator({ from: 'all' }), 1)
      expect(record?.data).toEqual({ k, i: 1 })
      expect(record?.sequence).toBe(put?.sequence)
      expect(record?.subSequence).toBe(0)
      expect(record?.timestamp).toBeGreaterThanOrEqual(before - 1_000)
      expect(record?.timestamp).toBeLessThanOrEqual(after + 1_000)
      await backend.close()
    })

    test('a static subset of shards by index', async () => {
      const backend = make[name]()
      const stream = fresh(backend, 4)
      const put = await stream.putMany(Array.from({ length: 40 }, (_, i) => ({ k: `k${i}`, i })))
      const mine = put.flatMap((r, i) => (r.shard === 1 || r.shard === 3 ? [i] : []))
      const got = await take(await stream.iterator({ from: 'all', shards: [1, 3] }), mine.length)
      expect(got.map((r) => r.data.i).sort((a, b) => a - b)).toEqual(mine)
      expect(new Set(got.map((r) => r.shard))).toEqual(new Set([1, 3]))
      await expect(stream.iterator({ shards: [4] })).rejects.toThrow(ArgumentError)
      await expect(stream.iterator({ from: { at: 'x' } })).rejects.toThrow(ArgumentError)
      await backend.close()
    })
  })
}
