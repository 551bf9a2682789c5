import { expect, it } from 'vitest'

it('the lru-update README example executes each widget once and acks what became durable', async () => {
  const { written, settled, stats } = await import('../src/lru-update-readme.js')
  const byId = (a: unknown, b: unknown) =>
    (a as { id: string }).id < (b as { id: string }).id ? -1 : 1
  expect([...written].sort(byId)).toEqual([
    { id: 'w1', clicks: 1, impressions: 2 },
    { id: 'w2', clicks: 0, impressions: 1 },
    { id: 'w3', clicks: 1, impressions: 0 },
  ])
  expect([...settled].sort()).toEqual([
    'ack e0',
    'ack e1',
    'ack e2',
    'ack e3',
    'ack e4',
    'nack e5: unknown event type bogus',
  ])
  expect(stats).toMatchObject({ offers: 5, merges: 2, inserts: 3, executions: 3, failures: 0 })
  expect(stats.ended).toMatchObject({ capacity: 1, close: 2 })
})
