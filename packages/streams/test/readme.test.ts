import { expect, test } from 'vitest'

test("the README's example runs and counts each record once", async () => {
  const { receipt, read, sink } = await import('../examples/readme.js')
  expect(receipt).toEqual({
    shard: expect.any(Number),
    sequence: expect.stringMatching(/^\d+-\d+$/),
    subSequence: 0,
  })
  expect(read).toHaveLength(3)
  expect(read.every((line) => /^shardId-0{11}[0-3] \d+-\d+ w[12]$/.test(line))).toBe(true)
  expect(sink).toEqual(
    new Map([
      ['w1', 4],
      ['w2', 2],
    ]),
  )
})
