/**
 * The `@phonon/lru-update` README example: a message handler wrapped with local aggregation, on an
 * in-process MemoryShard (no server needed).
 * Run: pnpm --filter @phonon/examples exec tsx --conditions=@phonon/source src/lru-update-readme.ts
 */
import { ArgumentError, Codec, defineModel, id, sum } from '@phonon/core'
import { createAggregator, withLocalAggregation } from '@phonon/lru-update'
import { type Claim, MemoryShard } from '@phonon/redis-shard'

/** What the example wrote, how its messages were settled, and its final stats, for its test. */
export const written: unknown[] = []
export const settled: string[] = []

const Widget = defineModel(
  'Widget',
  { id: id(), clicks: sum(), impressions: sum() },
  {
    // The default `execute` is `claim.update.execute(claim)`: the sink gets the epoch to dedupe on.
    onComplete: (widget, claim: Claim) => {
      written.push(widget)
      console.log('write', widget, 'epoch', claim.epoch)
    },
  },
)
const shard = new MemoryShard({ codec: new Codec([Widget]) }) // or: await connect({ nodes, codec })
const aggregator = createAggregator({ shard, max: 2 })

interface Event {
  widget: string
  type: string
  ack(): void
  nack(error: unknown): void
}
const handle = withLocalAggregation(aggregator, (event: Event) => {
  if (event.type === 'click') return Widget.create({ id: event.widget, clicks: 1 })
  if (event.type === 'impression') return Widget.create({ id: event.widget, impressions: 1 })
  throw new ArgumentError(`unknown event type ${event.type}`)
})

const events = [
  ['w1', 'impression'],
  ['w1', 'click'], // merged into w1's entry: no I/O
  ['w2', 'impression'],
  ['w1', 'impression'],
  ['w3', 'click'], // a third widget: w2, least recently used, leaves; its session is released
  ['w1', 'bogus'], // the handler throws: this message is nacked, the others go on
] as const
for (const [i, [widget, type]] of events.entries()) {
  await handle({
    widget,
    type,
    ack: () => settled.push(`ack e${i}`),
    nack: (error) => settled.push(`nack e${i}: ${(error as Error).message}`),
  })
}
await aggregator.close() // ends every session, waits for every release and execution
console.log(settled)

export const stats = aggregator.stats()
console.log(stats.ended, { executions: stats.executions, hitRatio: stats.hitRatio })
