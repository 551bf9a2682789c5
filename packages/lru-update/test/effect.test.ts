import { MemoryShard } from '@phonon/redis-shard'
import { Cause, Effect } from 'effect'
import { describe, expect, it } from 'vitest'
import * as LocalAggregation from '../src/effect.js'
import { codec, RecordingSink, Widget } from './fixtures.js'

describe('the Effect API', () => {
  it('offers through the service and executes everything when the layer is released', async () => {
    const sink = new RecordingSink()
    const shard = new MemoryShard({ codec: codec() })
    const program = Effect.gen(function* () {
      for (let i = 0; i < 30; i++)
        yield* LocalAggregation.offer(Widget.create({ id: i % 3, clicks: 1 }))
      expect(yield* LocalAggregation.expire('Widget.0')).toBe(true)
      yield* LocalAggregation.flush
      yield* LocalAggregation.purge
      yield* LocalAggregation.drain
      return yield* LocalAggregation.stats
    })
    const stats = await Effect.runPromise(
      program.pipe(
        Effect.provide(LocalAggregation.layer({ shard, max: 10, execute: sink.execute })),
      ),
    )
    expect(stats).toMatchObject({ offers: 30, merges: 27, inserts: 3 })
    expect([...sink.totals.values()].map((r) => r.clicks)).toEqual([10, 10, 10])
  })

  it('fails with the typed error of a bad offer', async () => {
    const shard = new MemoryShard({ codec: codec() })
    const error = await Effect.runPromise(
      LocalAggregation.offer(null as never).pipe(
        Effect.flip,
        Effect.provide(LocalAggregation.layer({ shard, max: 1 })),
      ),
    )
    expect(error._tag).toBe('ArgumentError')
  })

  it('dies (a defect, not a typed failure) when a custom merge throws something else', async () => {
    const shard = new MemoryShard({ codec: codec() })
    const broken = Widget.create({ id: 'x', clicks: 1 })
    broken.merge = () => {
      throw new TypeError('bug in merge')
    }
    const exit = await Effect.runPromiseExit(
      Effect.gen(function* () {
        yield* LocalAggregation.offer(broken)
        yield* LocalAggregation.offer(Widget.create({ id: 'x', clicks: 1 }))
      }).pipe(Effect.provide(LocalAggregation.layer({ shard, max: 1 }))),
    )
    expect(exit._tag).toBe('Failure')
    if (exit._tag === 'Failure') expect(Cause.isDie(exit.cause)).toBe(true)
  })
})
