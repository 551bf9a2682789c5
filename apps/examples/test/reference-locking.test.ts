import { describe, expect, it } from 'vitest'
import { runReferenceLocking } from '../src/reference-locking.js'

describe('reference-locking', () => {
  it.each([
    ['a private redis-server', true, 'redis'],
    ['MemoryShards', false, 'memory'],
  ] as const)(
    'on %s: the last holder writes the record with both fields, once',
    async (_, redis, mode) => {
      const summary = await runReferenceLocking({ redis })
      expect(summary.mode).toBe(mode)
      expect(summary.check).toBe(true)
      expect(summary.record).toEqual({
        id: 'me',
        email: 'me@example.com',
        address: '1 Main Street',
      })
      // The address service locked first; the email service met AlreadyLocked, then waited.
      expect(summary.alreadyLocked).toEqual(['email-verification'])
      expect(summary.fencingTokens.map((t) => t.service)).toEqual([
        'address-lookup',
        'email-verification',
      ])
      const [first, second] = summary.fencingTokens.map((t) => t.token) as [number, number]
      expect(second).toBeGreaterThan(first)
      // Written exactly once, by the service that saw count() == 1, with its fencing token.
      expect(summary.writes).toEqual([{ by: 'email-verification', fencingToken: second }])
      expect(summary.holdersLeft).toBe(0)
      expect(summary.log).toEqual([
        `address-lookup: locked, fencing token ${first}`,
        'email-verification: AlreadyLocked, waiting for the lock',
        'address-lookup: count() == 2, added address, the other service writes',
        `email-verification: locked, fencing token ${second}`,
        'email-verification: count() == 1, wrote the record',
      ])
    },
    30_000,
  )
})
