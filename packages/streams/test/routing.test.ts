import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { defineStreams, getStream, hashKeyRange, shardOf } from '../src/index.js'
import { backends } from './backends.js'

const make = backends()

describe('routing', () => {
  test('shard ranges split the 128-bit hash key space evenly, as Kinesis creates them', () => {
    expect(hashKeyRange(0, 2)).toEqual({ start: 0n, end: (1n << 127n) - 1n })
    expect(hashKeyRange(1, 2)).toEqual({ start: 1n << 127n, end: (1n << 128n) - 1n })
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), (n) => {
        for (let i = 1; i < n; i++) {
          expect(hashKeyRange(i, n).start).toBe(hashKeyRange(i - 1, n).end + 1n)
        }
        expect(hashKeyRange(n - 1, n).end).toBe((1n << 128n) - 1n)
      }),
    )
  })

  test('a key goes to the range holding the MD5 of its UTF-8 bytes', () => {
    // md5("hello") = 5d41402abc4b2a76b9719d911017c592: in the first half, the second quarter.
    expect(shardOf('hello', 2)).toBe(0)
    expect(shardOf('hello', 4)).toBe(1)
    expect(shardOf('a', 1)).toBe(0)
  })

  test('the same partition keys land on the same shard index on memory, Redis and Kinesis', async () => {
    const config = defineStreams({ s: { name: 'parity', partitionKey: 'k', shards: 7 } })
    const keys = Array.from({ length: 200 }, (_, i) => `key-${i}-é`)
    const results = []
    for (const backend of [make.memory(), make.redis(), make.kinesis()]) {
      const stream = getStream<{ k: string }>('s', config, backend)
      results.push((await stream.putMany(keys.map((k) => ({ k })))).map((r) => r.shard))
      await backend.close()
    }
    expect(results[0]).toEqual(keys.map((k) => shardOf(k, 7)))
    expect(results[1]).toEqual(results[0])
    expect(results[2]).toEqual(results[0])
  })
})
