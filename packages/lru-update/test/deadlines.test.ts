import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Deadlines, nextDeadline, type Timer } from '../src/internal/Deadlines.js'
import type { Entry } from '../src/internal/Entry.js'

const timer = (deadline: number): Timer => ({
  entry: {} as Entry,
  idleMs: Infinity,
  idleDeadline: deadline,
  endDeadline: Infinity,
  flushDeadline: Infinity,
  bucket: Number.NaN,
  prev: undefined,
  next: undefined,
})

describe('Deadlines', () => {
  it('hands every timer due to the sweep, whatever its bucket width', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('file' as const), at: fc.nat(2_000) }),
      fc.record({ kind: fc.constant('unfile' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('later' as const), pick: fc.nat(), by: fc.nat(500) }),
      fc.record({ kind: fc.constant('sweep' as const), by: fc.nat(300) }),
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(op, { maxLength: 80 }),
        (width, ops) => {
          const deadlines = new Deadlines(width)
          const live = new Set<Timer>()
          let now = 0
          const sweep = () => {
            // What the aggregator does: end a timer that is due, file again one that is not.
            deadlines.due(now, (t) => {
              if (nextDeadline(t) <= now) live.delete(t)
              else deadlines.file(t)
            })
            // No timer is left past its deadline.
            for (const t of live) expect(nextDeadline(t)).toBeGreaterThan(now)
          }
          for (const o of ops) {
            const timers = [...live]
            if (o.kind === 'file') {
              const t = timer(now + o.at)
              deadlines.file(t)
              live.add(t)
            } else if (o.kind === 'unfile' && timers.length > 0) {
              const t = timers[o.pick % timers.length] as Timer
              deadlines.unfile(t)
              live.delete(t)
            } else if (o.kind === 'later' && timers.length > 0) {
              // What an offer does: the idle deadline moves later, the timer stays where it is.
              ;(timers[o.pick % timers.length] as Timer).idleDeadline += o.by
            } else if (o.kind === 'sweep') {
              now += o.by
              sweep()
            }
            expect(deadlines.size).toBe(live.size)
          }
        },
      ),
    )
  })

  it('files a timer again when its deadline moves earlier than its bucket', () => {
    const deadlines = new Deadlines(10)
    const t = timer(1_000)
    deadlines.file(t)
    t.flushDeadline = 15
    deadlines.advance(t)
    const visited: Timer[] = []
    deadlines.due(20, (v) => visited.push(v))
    expect(visited).toEqual([t])
    expect(deadlines.size).toBe(0)
  })

  it('visits nothing and costs nothing with no timer filed', () => {
    const deadlines = new Deadlines(1)
    let visits = 0
    deadlines.due(Number.MAX_SAFE_INTEGER, () => visits++)
    expect(visits).toBe(0)
  })
})
