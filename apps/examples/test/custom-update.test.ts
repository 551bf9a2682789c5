import { Codec, updateType } from '@phonon/core'
import { describe, expect, it } from 'vitest'
import { MyUpdate, runCustomUpdate } from '../src/custom-update.js'

const options = { events: 3_000, resources: 30, workers: 3, max: 8, seed: 3 }

describe('custom-update', () => {
  it('MyUpdate keeps foo through state(), restore() and clear()', () => {
    const codec = new Codec([updateType('MyUpdate', MyUpdate)])
    const update = new MyUpdate({ id: 'r1', doc: { views: 2 } })
    update.foo = 5
    const other = new MyUpdate({ id: 'r1', doc: { views: 1, clicks: 1 } })
    other.foo = 2
    update.merge(other)
    const copy = codec.parse(codec.stringify(update)) as MyUpdate
    expect(copy).toBeInstanceOf(MyUpdate)
    expect([copy.doc, copy.foo]).toEqual([{ views: 3, clicks: 1 }, 7])
    copy.clear()
    expect(copy.state()).toEqual({ doc: {}, foo: 0 })
    expect(() => codec.parse(codec.stringify(update).replace('"foo":7', '"foo":"x"'))).toThrow()
  })

  it.each([
    ['RedisShards on a private redis-server', true, 'redis'],
    ['MemoryShards on one MemoryStore', false, 'memory'],
  ] as const)(
    'through :deltas on %s: what is executed is the merge of every update',
    async (_, redis, mode) => {
      const summary = await runCustomUpdate({ ...options, redis })
      expect(summary.mode).toBe(mode)
      expect(summary.differences).toEqual([])
      expect(summary.check).toBe(true)
      // Partials of several sessions (several workers) met in :deltas, encoded by the codec.
      expect(summary.deltas.length).toBeGreaterThan(1)
      for (const delta of summary.deltas) {
        expect(JSON.parse(delta)).toMatchObject({
          type: 'MyUpdate',
          id: 'r0',
          state: { foo: expect.any(Number) },
        })
      }
      // The last holders merged them: fewer executions than released partials.
      expect(summary.executions).toBeLessThan(summary.releases)
    },
    30_000,
  )
})
