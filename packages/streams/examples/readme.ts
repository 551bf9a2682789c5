// The README's example: a stream in memory, a producer, an iterator, and a worker feeding phonon.
import { Codec, defineModel, id, sum } from '@phonon/core'
import { type Claim, MemoryShard } from '@phonon/redis-shard'
import { defineStreams, getStream, MemoryBackend, phononSource, Worker } from '../src/index.js'

const config = defineStreams({
  clicks: { name: 'prod-clicks', partitionKey: 'widget', shards: 4, backend: 'memory' },
}) // or: loadConfig('streams.yaml')
const backend = new MemoryBackend() // or: new RedisBackend({ redis: 'redis://…' })
type Click = { widget: string; clicks: number }
const stream = getStream<Click>('clicks', config, backend)

export const receipt = await stream.put({ widget: 'w1', clicks: 1 }) // { shard, sequence }
await stream.putMany([
  { widget: 'w2', clicks: 2 },
  { widget: 'w1', clicks: 3 },
])

const iterator = await stream.iterator({ from: 'all' })
export const read: string[] = []
for await (const record of iterator) {
  read.push(`${record.shardId} ${record.sequence} ${record.data.widget}`)
  if (read.length === 3) iterator.stop() // stops fetching; what was fetched is still yielded
}

// A worker leases shards and feeds phonon; the sink gets each (resource, epoch) once.
const Widget = defineModel('Widget', { id: id(), clicks: sum() })
const codec = new Codec([Widget])
export const sink = new Map<string, number>()
const executeBatch = async (claims: readonly Claim[]) => {
  for (const claim of claims) {
    const { id, clicks } = (claim.update as ReturnType<typeof Widget.create>).aggregate()
    sink.set(String(id), (sink.get(String(id)) ?? 0) + Number(clicks))
  }
}
const worker = new Worker<Click>({
  stream,
  application: 'click-counter',
  name: 'worker-1',
  processor: phononSource<Click>({
    shard: new MemoryShard({ codec, rememberExecuted: true }),
    codec,
    max: 1_000,
    toUpdates: (record) => Widget.create({ id: record.data.widget, clicks: record.data.clicks }),
    executeBatch,
  }),
})
const running = worker.run()
while (worker.processed < 3) await new Promise((resolve) => setTimeout(resolve, 10))
worker.stop()
await running // last round committed, sessions released and executed, leases given up
console.log(sink) // Map { 'w1' => 4, 'w2' => 2 }
