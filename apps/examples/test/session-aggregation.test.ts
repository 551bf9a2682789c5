import { describe, expect, it } from 'vitest'
import { runSessionAggregation } from '../src/session-aggregation.js'

const options = { events: 3_000, sessions: 60, workers: 2, idleMs: 100, seed: 7 }

describe('session-aggregation', () => {
  it.each([
    ['Redis Streams and RedisShards', true, 'redis'],
    ['the in-process fallback', false, 'memory'],
  ] as const)(
    'over %s: onComplete writes each session’s exact totals, every message is acked',
    async (_, redis, mode) => {
      const summary = await runSessionAggregation({ ...options, redis })
      expect(summary.mode).toBe(mode)
      expect(summary.differences).toEqual([])
      expect(summary.check).toBe(true)
      expect(summary.sessions).toBe(options.sessions)
      // Acks follow durability: every message acked, none left pending (XPENDING 0).
      expect(summary.acked).toBe(options.events)
      expect(summary.pending).toBe(0)
      // Wave 1's sessions (half of them) ended because they went idle, in every worker holding them.
      expect(summary.ended.idle).toBeGreaterThanOrEqual(options.sessions / 2)
      expect(summary.ended.capacity).toBe(0)
      // Events merged locally: at least one execution per session, far fewer than events.
      expect(summary.executions).toBeGreaterThanOrEqual(options.sessions)
      expect(summary.executions).toBeLessThan(options.events / 10)
    },
    30_000,
  )
})
