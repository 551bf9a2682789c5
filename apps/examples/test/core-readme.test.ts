import { expect, it } from 'vitest'

it('the core README example writes the merged widget once', async () => {
  const { written } = await import('../src/core-readme.js')
  expect(written).toEqual([{ id: 'w1', clicks: 1, impressions: 3, tags: ['home', 'top'], best: 7 }])
})
