import { ArgumentError, type Update } from '@phonon/core'
import { describe, expect, it } from 'vitest'
import { connect, type Hold, regionNodes, type Shard } from '../src/index.js'
import { Counters, memoryWorkers, redisFixture, Widget } from './shards.js'

const redis = redisFixture()
const memory = memoryWorkers()

describe.each([
  ['redis', () => redis.worker({ namespace: 'bad', maxDeltaBytes: 1024 })],
  ['memory', () => memory.worker({ maxDeltaBytes: 1024 })],
] as const)('bad input on %s', (name, worker) => {
  it('is a typed error before anything is sent, and Redis is left unchanged', async () => {
    const shard: Shard = await worker()
    const hold = await shard.acquire(Widget.create({ id: 'x' }))
    const counters = (doc: Record<string, number>) =>
      new Counters({ id: 'x', collection: 'c', doc })
    const counterHold = await shard.acquire(counters({}))
    const nan = Widget.create({ id: 'x' })
    ;(nan.doc as { clicks: number }).clicks = Number.NaN
    const wrongType = Widget.create({ id: 'x' })
    ;(wrongType.doc as unknown as { clicks: string }).clicks = 'many'
    const nanState = counters({})
    nanState.doc.n = Number.NaN
    const oversized = counters(
      Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i])),
    )
    const bad: Array<[string, () => Promise<unknown>]> = [
      ['a NaN field', () => shard.release(hold, nan)],
      ['a wrong field type', () => shard.releaseMany([[hold, wrongType]])],
      ['a fold of a wrong field type', () => shard.fold(hold, wrongType)],
      ['an update of another type', () => shard.release(hold, counters({ n: 1 }) as Update)],
      ['an unregistered type', () => shard.acquire({ resourceId: 'Nope.x', typeName: 'Nope' })],
      [
        'a resource name with braces',
        () => shard.acquire({ resourceId: 'Widget.a{b}', typeName: 'Widget' }),
      ],
      [
        'a resource name with a newline',
        () => shard.acquire({ resourceId: 'Widget.a\nb', typeName: 'Widget' }),
      ],
      [
        'a resource name without a collection',
        () => shard.acquire({ resourceId: 'nodot', typeName: 'Widget' }),
      ],
      ['a custom update whose state is not JSON', () => shard.release(counterHold, nanState)],
      ['an oversized payload', () => shard.release(counterHold, oversized)],
    ]
    const snapshot = async () =>
      name === 'redis'
        ? (await redis.server.cli('--scan', '--pattern', '{bad:*')).split('\n').sort()
        : []
    const before = await snapshot()
    for (const [what, call] of bad) await expect(call(), what).rejects.toBeInstanceOf(ArgumentError)
    expect(await snapshot()).toEqual(before)
    expect(await shard.count('Widget.x')).toBe(1)
    expect(await shard.release(hold, Widget.create({ id: 'x', clicks: 1 }))).toMatchObject({
      last: true,
    })
    expect(await shard.release(counterHold, counters({ n: 2 }))).toMatchObject({ last: true })
  })

  it('a bad item of a *Many call: ArgumentError for the whole call, nothing applied (not even its good items)', async () => {
    const shard: Shard = await worker()
    const id = `many${Math.random().toString(36).slice(2)}`
    const good = await shard.acquire(Widget.create({ id }))
    const delta = Widget.create({ id, clicks: 1 })
    const other = await shard.acquire(Widget.create({ id: `${id}o` }))
    const first = await shard.release(other, Widget.create({ id: `${id}o`, clicks: 1 }))
    if (!first.last) throw new Error('expected a claim')
    const claim = first.claim
    const forged = (changes: Record<string, unknown>) => ({ ...good, ...changes }) as Hold
    const badHolds: Array<[string, Hold]> = [
      ['a malformed token', forged({ token: 'no-sequence' })],
      ['a token with sequence 0', forged({ token: `${good.token.split(':')[0]}:0` })],
      ['an unregistered type', forged({ typeName: 'Nope' })],
      ['a negative step', forged({ step: -1 })],
      ['a fractional step', forged({ step: 0.5 })],
      ['a resource with braces', forged({ resourceId: 'Widget.a{b}' })],
    ]
    const bad: Array<[string, () => Promise<unknown>]> = [
      ...badHolds.flatMap(
        ([what, hold]): Array<[string, () => Promise<unknown>]> => [
          [
            `foldMany: ${what}`,
            () =>
              shard.foldMany([
                [good, delta],
                [hold, delta],
              ]),
          ],
          [
            `releaseMany: ${what}`,
            () =>
              shard.releaseMany([
                [good, delta],
                [hold, delta],
              ]),
          ],
        ],
      ),
      [
        'foldMany: a delta of another resource',
        () =>
          shard.foldMany([
            [good, delta],
            [good, Widget.create({ id: `${id}x`, clicks: 1 })],
          ]),
      ],
      [
        'completeMany: an unregistered type',
        () => shard.completeMany([{ ...claim, typeName: 'Nope' }]),
      ],
      ['completeMany: a fractional epoch', () => shard.completeMany([{ ...claim, epoch: 0.5 }])],
      [
        'completeMany: a resource with braces',
        () => shard.completeMany([{ ...claim, resourceId: 'Widget.a{b}' }]),
      ],
      ['count: a resource with braces', () => shard.count('Widget.a{b}')],
      ['timesModified: no collection', () => shard.timesModified('nodot')],
      ['forceExpiry: a control character', () => shard.forceExpiry('Widget.a\u0001')],
    ]
    for (const [what, call] of bad) await expect(call(), what).rejects.toBeInstanceOf(ArgumentError)
    expect(await shard.count(good.resourceId)).toBe(1)
    expect(await shard.timesModified(good.resourceId)).toBe(0)
    // The claim is still there: completing it now completes it once.
    expect(await shard.completeExecution(claim)).toBeUndefined()
    expect(await shard.release(good, delta)).toMatchObject({ last: true })
  })

  it('resource names with braces or control characters are refused by the update itself', () => {
    expect(() => Widget.create({ id: 'a{b}' })).toThrow(ArgumentError)
    expect(() => Widget.create({ id: 'a\u0000b' })).toThrow(ArgumentError)
  })
})

describe('configuration', () => {
  it('regions need 2 nodes in each of 2 regions, and the error names what is missing', () => {
    expect(() => regionNodes({ 'us-east-1': ['redis://a', 'redis://b'] })).toThrow(/1 more region/)
    expect(() =>
      regionNodes({ 'us-east-1': ['redis://a', 'redis://b'], 'us-west-1': ['redis://c'] }),
    ).toThrow(/1 more node\(s\) in us-west-1/)
    expect(regionNodes({ b: ['redis://c', 'redis://d'], a: ['redis://a', 'redis://b'] })).toEqual([
      'redis://a',
      'redis://b',
      'redis://c',
      'redis://d',
    ])
  })

  it('connect refuses empty or repeated nodes', async () => {
    const codec = (await import('./shards.js')).codec()
    await expect(connect({ nodes: [], codec })).rejects.toBeInstanceOf(ArgumentError)
    await expect(connect({ nodes: ['redis://x:1', 'redis://x:1'], codec })).rejects.toBeInstanceOf(
      ArgumentError,
    )
    await expect(connect({ cluster: [], codec })).rejects.toBeInstanceOf(ArgumentError)
  })
})
