import { Codec, type ModelUpdate } from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { connect, type Hold, type Shard } from '../src/index.js'
import { Everything, redisFixture } from './shards.js'

const member = fc.constantFrom('a', 'b', 'c', 'é', '\u{1F600}', 'zz')
const input = fc.record(
  {
    count: fc.integer({ min: -1000, max: 1000 }),
    big: fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }),
    ratio: fc.integer({ min: -1000, max: 1000 }).map((n) => n / 4),
    taken: fc.integer({ min: 0, max: 100 }),
    best: fc.integer({ min: -100, max: 100 }),
    worst: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    email: fc.record({ at: fc.integer({ min: 0, max: 3 }), value: member }),
    log: fc.array(member, { maxLength: 4 }),
    tags: fc.array(member, { maxLength: 4 }),
    visitors: fc.array(member, { maxLength: 4 }),
    top: fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), member), { maxLength: 4 }),
    byCountry: fc.dictionary(member, fc.integer({ min: -50, max: 50 }), { maxKeys: 3 }),
  },
  { requiredKeys: [] },
)

const redis = redisFixture()

describe('every field folds in Lua as core combines it', () => {
  it('sessions folded and released in Redis read back the aggregate core computes', async () => {
    const shard: Shard = await connect({
      nodes: [redis.server.url],
      codec: new Codec([Everything]),
      heartbeatMs: 0,
    })
    let n = 0
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(input, { minLength: 1, maxLength: 5 }),
          fc.boolean(),
          async (inputs, viaFold) => {
            const key = `e${n++}`
            const expected = Everything.create({ id: key })
            const holds = await shard.acquireMany(inputs.map(() => Everything.create({ id: key })))
            let claim: ModelUpdate | undefined
            for (const [i, given] of inputs.entries()) {
              const update = Everything.create({ id: key, ...given })
              expected.merge(Everything.create({ id: key, ...given }))
              const hold = holds[i] as Hold
              if (viaFold) await shard.fold(hold, update)
              const result = await shard.release(hold, viaFold ? undefined : update)
              if (result.last) claim = result.claim.update as ModelUpdate
            }
            if (!claim) throw new Error('no claim')
            expect(claim.aggregate()).toEqual(expected.aggregate())
          },
        ),
        { numRuns: 60 },
      )
    } finally {
      await shard.close()
    }
  }, 60_000)
})
