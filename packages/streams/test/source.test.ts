import { ArgumentError, Codec, defineModel, id, sum } from '@phonon/core'
import { type Claim, MemoryShard, ResourceError } from '@phonon/redis-shard'
import { expect, test } from 'vitest'
import {
  defineStreams,
  getStream,
  MemoryBackend,
  phononSource,
  StreamError,
  type StreamRecord,
  Worker,
} from '../src/index.js'

const Widget = defineModel('Widget', { id: id(), clicks: sum() })
interface Event {
  readonly widget: string
  readonly clicks: number
}

/** Records of shard 0, one per widget: the i-th with i + 1 clicks, at sequence `<i + 1>-0`. */
const recordsOf = (widgets: readonly string[]) =>
  widgets.map((widget, i) => ({
    data: { widget, clicks: i + 1 },
    shard: 0,
    shardId: '0',
    sequence: `${i + 1}-0`,
  })) as unknown as StreamRecord<Event>[]

test('the phonon source over aggregated and plain records: each counted once, bad ones skipped', async () => {
  const backend = new MemoryBackend()
  const config = defineStreams({ s: { name: 'src', partitionKey: 'widget', shards: 4 } })
  const plain = getStream<Event>('s', config, backend)
  const packed = getStream<Event>('s', config, backend, { aggregate: true, maxBatch: 50 })
  const events = Array.from({ length: 3_000 }, (_, i) => ({ widget: `w${i % 37}`, clicks: i % 3 }))
  await packed.putMany(events.slice(0, 2_000))
  // A record toUpdates throws on, one whose "update" the aggregator refuses, then plain ones.
  await packed.putMany([
    { widget: 'throws', clicks: 1 },
    { widget: 'refused', clicks: 1 },
  ])
  await plain.putMany(events.slice(2_000))
  const truth = new Map<string, number>()
  for (const e of events) truth.set(e.widget, (truth.get(e.widget) ?? 0) + e.clicks)

  const codec = new Codec([Widget])
  const sink = new Map<string, number>()
  const done = new Set<string>()
  const bad: Array<[string, unknown]> = []
  const source = phononSource<Event>({
    shard: new MemoryShard({ codec, rememberExecuted: true }),
    codec,
    max: 10,
    toUpdates: ({ data }) => {
      if (data.widget === 'throws') throw new Error('no such widget')
      if (data.widget === 'refused') return {} as never
      return Widget.create({ id: data.widget, clicks: data.clicks })
    },
    executeBatch: async (claims: readonly Claim[]) => {
      for (const claim of claims) {
        const key = `${claim.resourceId}@${claim.epoch}`
        if (done.has(key)) continue // the sink dedupes (resourceId, epoch)
        done.add(key)
        const { id, clicks } = (
          claim.update as unknown as { aggregate(): { id: string; clicks: number } }
        ).aggregate()
        sink.set(id, (sink.get(id) ?? 0) + clicks)
      }
    },
    onBadRecord: (record: StreamRecord<Event>, error) => bad.push([record.data.widget, error]),
  })
  const worker = new Worker<Event>({
    stream: plain,
    application: 'src',
    name: 'w',
    processor: source,
    roundRecords: 700,
    batch: 300,
    idleMs: 5,
  })
  const run = worker.run()
  const deadline = Date.now() + 20_000
  while (worker.processed < events.length + 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  worker.stop()
  await run
  expect(worker.processed).toBe(events.length + 2)
  expect(new Map([...sink].filter(([, n]) => n > 0))).toEqual(
    new Map([...truth].filter(([, n]) => n > 0)),
  )
  expect(bad.map(([widget]) => widget)).toEqual(['throws', 'refused'])
  expect(bad[1]?.[1]).toBeInstanceOf(ArgumentError)
  expect(await backend.coordinator(plain.definition, 'src').walEntries(0)).toEqual([])
})

test('a claim the sink refuses alone neither blocks the log nor is lost: executed again at a tick', async () => {
  const backend = new MemoryBackend()
  const config = defineStreams({ s: { name: 'refuse', partitionKey: 'widget', shards: 1 } })
  const stream = getStream<Event>('s', config, backend)
  const coordinator = backend.coordinator(stream.definition, 'app')
  const codec = new Codec([Widget])
  const shard = new MemoryShard({ codec, rememberExecuted: true })
  const sink = new Map<string, number>()
  let accept = false
  const refusals: string[] = []
  const source = phononSource<Event>({
    shard,
    codec,
    max: 1, // a second widget ends the first one's session
    toUpdates: ({ data }) => Widget.create({ id: data.widget, clicks: data.clicks }),
    // The database refuses w1's row until `accept`; the other rows are written.
    executeBatch: async (claims: readonly Claim[]) => {
      const failed: Array<{ index: number; error: unknown }> = []
      claims.forEach((claim, index) => {
        const { id, clicks } = (
          claim.update as unknown as { aggregate(): { id: string; clicks: number } }
        ).aggregate()
        if (id === 'w1' && !accept) failed.push({ index, error: new Error('refused') })
        else sink.set(id, (sink.get(id) ?? 0) + clicks)
      })
      return { failed }
    },
    onExecuteError: (claim) => refusals.push(claim.resourceId),
  })
  const token = (await coordinator.acquire(0, 'w', 60_000)) as number
  const records = recordsOf(['w1', 'w2', 'w3'])
  await source.process(records)
  const entry = (await source.prepare()) as string
  await coordinator.commit('w', 60_000, [{ shard: 0, token, from: undefined, sequence: '3-0' }], {
    id: 'e1',
    wal: entry,
  })
  await source.committed('e1', entry, coordinator)
  await source.applyAll(coordinator) // waits for the entry: applied although w1 was refused
  expect(await coordinator.walEntries(0)).toEqual([])
  expect(refusals).toContain('Widget.w1')
  expect(sink.get('w1')).toBeUndefined()
  expect(sink.get('w2')).toBe(2)
  accept = true
  await source.tick?.(coordinator)
  expect(sink.get('w1')).toBe(1)
  expect(await shard.timesModified('Widget.w1')).toBe(0)
  await source.close()
  expect(sink.get('w3')).toBe(3)
})

/**
 * A shard whose acquire of `Widget.w1` fails the first `failures` times (as while its Redis node
 * fails over): the aggregator puts that session's fold back into its entry.
 */
class FailingAcquires extends MemoryShard {
  failures: number
  constructor(codec: Codec, failures: number) {
    super({ codec, rememberExecuted: true })
    this.failures = failures
  }
  override async acquireMany(targets: Parameters<MemoryShard['acquireMany']>[0]) {
    const results = await super.acquireMany(targets)
    return results.map((result) => {
      if (result instanceof Error || result.resourceId !== 'Widget.w1' || this.failures <= 0)
        return result
      this.failures--
      return new ResourceError(result.resourceId, 'wrongType', 'MOVED (failing over)')
    })
  }
}

test('a round whose fold could not be sent (its acquire failed) is not committed without it', async () => {
  for (const failures of [1, 10]) {
    const backend = new MemoryBackend()
    const config = defineStreams({
      s: { name: `unsent${failures}`, partitionKey: 'widget', shards: 1 },
    })
    const stream = getStream<Event>('s', config, backend)
    const coordinator = backend.coordinator(stream.definition, 'app')
    const codec = new Codec([Widget])
    const sink = new Map<string, number>()
    const source = phononSource<Event>({
      shard: new FailingAcquires(codec, failures),
      codec,
      max: 10,
      toUpdates: ({ data }) => Widget.create({ id: data.widget, clicks: data.clicks }),
      executeBatch: async (claims: readonly Claim[]) => {
        for (const claim of claims) {
          const { id, clicks } = (
            claim.update as unknown as { aggregate(): { id: string; clicks: number } }
          ).aggregate()
          sink.set(id, (sink.get(id) ?? 0) + clicks)
        }
      },
    })
    const records = recordsOf(['w1', 'w2'])
    await source.process(records)
    // A round that commits carries every delta it read; one that cannot is refused (its
    // records are read again), never committed with a delta left in memory only.
    const prepared = await source.prepare().then(
      (entry) => ({ entry }),
      (error: unknown) => ({ error }),
    )
    if (failures === 1) {
      expect(prepared).toHaveProperty('entry')
      const entry = (prepared as { entry: string }).entry
      await source.committed('e1', entry, coordinator)
    } else expect((prepared as { error: Error }).error).toBeInstanceOf(StreamError)
    // The next round is refused (a lease lost): the source discards it and closes.
    await source.process([])
    await source.discard()
    await source.applyAll(coordinator)
    await source.close()
    expect(sink).toEqual(
      failures === 1
        ? new Map([
            ['w1', 1],
            ['w2', 2],
          ])
        : new Map(),
    )
  }
})
