import { Effect, Fiber } from 'effect'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Lane } from '../src/internal/Lane.js'

/** An operation on a lane and on its model (a plain array). */
type Op = { push: number } | { take: number }

describe('Lane', () => {
  it('takes what was pushed, in order, at most max at a time (a plain array as the model)', () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer() }),
      fc.record({ take: fc.integer({ min: 1, max: 6 }) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops: Op[]) => {
        const lane = new Lane<number>()
        const model: number[] = []
        for (const o of ops) {
          if ('push' in o) {
            lane.push(o.push)
            model.push(o.push)
          } else expect(lane.take(o.take)).toEqual(model.splice(0, o.take))
          expect(lane.size).toBe(model.length)
        }
      }),
    )
  })

  it('ready resumes at once when something is queued, else at the next push; interrupting it unregisters', async () => {
    const lane = new Lane<string>()
    const waiting = Effect.runFork(lane.ready)
    await Promise.resolve()
    expect(waiting.unsafePoll()).toBeNull()
    lane.push('a')
    await Effect.runPromise(Fiber.join(waiting))
    await Effect.runPromise(lane.ready) // 'a' is still queued
    expect(lane.take(5)).toEqual(['a'])

    const interrupted = Effect.runFork(lane.ready)
    await Effect.runPromise(Fiber.interrupt(interrupted))
    lane.push('b') // nobody to wake: nothing throws, the item stays
    expect(lane.take(1)).toEqual(['b'])
  })
})
