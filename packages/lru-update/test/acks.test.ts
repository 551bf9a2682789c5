import { ArgumentError } from '@phonon/core'
import { MemoryShard } from '@phonon/redis-shard'
import { waitFor } from '@phonon/testkit'
import { describe, expect, it } from 'vitest'
import { type AckableMessage, createAggregator, withLocalAggregation } from '../src/index.js'
import { codec, gated, RecordingSink, Widget } from './fixtures.js'

/** A message that records how it was settled. */
function message(widget: string, clicks = 1) {
  const settled: string[] = []
  return {
    widget,
    clicks,
    settled,
    ack: () => {
      settled.push('ack')
    },
    nack: (error: unknown) => {
      settled.push(`nack ${(error as Error).name}`)
    },
  }
}
type Message = ReturnType<typeof message>

const toUpdate = (m: Message) => Widget.create({ id: m.widget, clicks: m.clicks })

function setup(shard = new MemoryShard({ codec: codec() })) {
  const sink = new RecordingSink()
  const aggregator = createAggregator({ shard, max: 10, execute: sink.execute })
  return { aggregator, sink }
}

describe('withLocalAggregation', () => {
  it('acks a message only once its update was released to the shard', async () => {
    const store = new MemoryShard({ codec: codec() })
    const held = gated(store, 'releaseMany')
    const { aggregator, sink } = setup(held.shard)
    const handle = withLocalAggregation(aggregator, toUpdate)
    const messages = [message('a', 1), message('a', 2), message('b', 3)]
    for (const m of messages) await handle(m)
    await aggregator.drain() // acquired, merged locally
    expect(messages.map((m) => m.settled)).toEqual([[], [], []])
    aggregator.expire('Widget.a')
    await new Promise((r) => setTimeout(r, 20))
    expect(messages.map((m) => m.settled)).toEqual([[], [], []]) // release held back
    held.open()
    await aggregator.drain()
    expect(messages.map((m) => m.settled)).toEqual([['ack'], ['ack'], []])
    expect(sink.totals.get('a')).toEqual({ clicks: 3, impressions: 0 })
    await aggregator.close()
    expect(messages[2]?.settled).toEqual(['ack'])
  })

  it('acks after a fold too, keeping the session', async () => {
    const { aggregator } = setup()
    const handle = withLocalAggregation(aggregator, toUpdate)
    const m = message('f')
    await handle(m)
    await aggregator.drain()
    expect(m.settled).toEqual([])
    await aggregator.flush()
    expect(m.settled).toEqual(['ack'])
    expect(aggregator.size).toBe(1)
    await aggregator.close()
  })

  it('acks a message of several updates after all of them, and one of none at once', async () => {
    const { aggregator, sink } = setup()
    const handle = withLocalAggregation(aggregator, (m: Message) =>
      m.clicks === 0
        ? []
        : [toUpdate(m), Widget.create({ id: 'other', impressions: 1 }), toUpdate(m)],
    )
    const none = message('n', 0)
    const many = message('m', 2)
    await handle(none)
    expect(none.settled).toEqual(['ack'])
    await handle(many)
    aggregator.expire('Widget.m')
    await aggregator.drain()
    expect(many.settled).toEqual([])
    aggregator.expire('Widget.other')
    await waitFor('ack', async () => many.settled.length > 0, 2000)
    expect(many.settled).toEqual(['ack'])
    await aggregator.close()
    expect(sink.totals.get('m')).toEqual({ clicks: 4, impressions: 0 })
  })

  it('nacks a message whose handler throws or returns no Update; the others go on', async () => {
    const { aggregator, sink } = setup()
    const handle = withLocalAggregation(aggregator, (m: Message) => {
      if (m.widget === 'throw') throw new ArgumentError('malformed event')
      if (m.widget === 'junk') return { clicks: 1 } as never
      return toUpdate(m)
    })
    const [bad, junk, good] = [message('throw'), message('junk'), message('ok')]
    await handle(bad)
    await handle(junk)
    await handle(good)
    await aggregator.close()
    expect([bad.settled, junk.settled, good.settled]).toEqual([
      ['nack ArgumentError'],
      ['nack ArgumentError'],
      ['ack'],
    ])
    expect([...sink.totals.keys()]).toEqual(['ok'])
  })

  it('nacks a message whose update the shard refuses for good', async () => {
    const { aggregator } = setup(new MemoryShard({ codec: codec(), maxDeltaBytes: 8 }))
    const handle = withLocalAggregation(aggregator, toUpdate)
    const m = message('big', 123456789)
    await handle(m)
    await aggregator.close()
    expect(m.settled).toEqual(['nack ArgumentError'])
    expect(aggregator.failures().map((f) => f.kind)).toEqual(['release'])
  })

  it("tells onAckError when the source's ack throws", async () => {
    const { aggregator } = setup()
    const errors: unknown[] = []
    const handle = withLocalAggregation(aggregator, toUpdate, {
      onAckError: (_, error) => errors.push(error),
    })
    const failing: AckableMessage & { widget: string; clicks: number } = {
      widget: 'x',
      clicks: 1,
      ack: () => Promise.reject(new Error('connection lost')),
      nack: () => {},
    }
    await handle(failing as never)
    await aggregator.close()
    await waitFor('onAckError', async () => errors.length === 1, 2000)
    expect((errors[0] as Error).message).toBe('connection lost')
  })
})
