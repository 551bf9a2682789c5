import { describe, expect, test } from 'vitest'
import { defineStreams, getStream, RecordError, shardOf } from '../src/index.js'
import { backends } from './backends.js'

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
