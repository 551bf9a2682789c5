/**
 * The `@phonon/redis-shard` README example, on a private redis-server started for it.
 * Run: pnpm --filter @phonon/examples exec tsx --conditions=@phonon/source src/redis-shard-readme.ts
 */
import { Codec, defineModel, id, sum } from '@phonon/core'
import { connect } from '@phonon/redis-shard'
import { startRedis } from '@phonon/testkit'

/** What the example wrote, for its test. */
export const written: unknown[] = []

const server = await startRedis()
try {
  const Widget = defineModel(
    'Widget',
    { id: id(), clicks: sum() },
    {
      onComplete: (widget) => {
        written.push(widget)
        console.log('write', widget)
      },
    },
  )
  const shard = await connect({ nodes: [server.url], codec: new Codec([Widget]) })

  const hold = await shard.acquire(Widget.create({ id: 'w1' })) // a session starts
  const result = await shard.release(hold, Widget.create({ id: 'w1', clicks: 3 }))
  if (result.last) {
    // the last holder executes
    await result.claim.update.execute()
    await shard.completeExecution(result.claim)
  }
  await shard.close()
} finally {
  await server.stop()
}
