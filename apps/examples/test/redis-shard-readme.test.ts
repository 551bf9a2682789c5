import { expect, it } from 'vitest'

it('the redis-shard README example executes the widget once, as its last holder', async () => {
  const { written } = await import('../src/redis-shard-readme.js')
  expect(written).toEqual([{ id: 'w1', clicks: 3 }])
})
