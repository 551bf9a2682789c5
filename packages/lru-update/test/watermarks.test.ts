import { ArgumentError } from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { OffsetWatermarks } from '../src/index.js'

describe('OffsetWatermarks', () => {
  it('reports the highest offset at and below which everything is acked, in any ack order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(5000), { minLength: 1, maxLength: 300 }).chain((offsets) => {
          const sorted = [...offsets].sort((a, b) => a - b)
          return fc.tuple(
            fc.constant(sorted),
            fc.shuffledSubarray(
              sorted.map((_, i) => i),
              { minLength: sorted.length },
            ),
          )
        }),
        ([offsets, order]) => {
          const marks = new OffsetWatermarks()
          const handles = offsets.map((offset) => marks.track('p', offset))
          const acked = new Set<number>()
          for (const i of order) {
            void handles[i]?.ack()
            acked.add(i)
            let prefix = -1
            while (acked.has(prefix + 1)) prefix++
            expect(marks.watermark('p')).toBe(prefix < 0 ? undefined : offsets[prefix])
          }
          expect(marks.pending('p')).toBe(0)
        },
      ),
    )
  })

  it('holds the watermark back at a nacked offset, per partition', () => {
    const marks = new OffsetWatermarks()
    const [a, b, c] = [1, 2, 3].map((o) => marks.track(0, o))
    const other = marks.track(1, 7)
    void a?.ack()
    void b?.nack(new Error('x'))
    void c?.ack()
    void b?.ack() // settled already: ignored
    void other.ack()
    expect(marks.watermark(0)).toBe(1)
    expect(marks.watermark(1)).toBe(7)
    expect(marks.watermark(2)).toBeUndefined()
  })

  it('keeps memory to what is in flight over long runs', () => {
    const marks = new OffsetWatermarks()
    for (let o = 0; o < 100_000; o++) void marks.track('p', o).ack()
    expect(marks.watermark('p')).toBe(99_999)
    expect(marks.pending('p')).toBe(0)
    const late = marks.track('p', 100_000)
    expect(marks.pending('p')).toBe(1)
    void late.ack()
    expect(marks.watermark('p')).toBe(100_000)
  })

  it('rejects offsets that do not increase or are not integers', () => {
    const marks = new OffsetWatermarks()
    marks.track('p', 5)
    for (const bad of [5, 4, -1, 1.5, Number.NaN]) {
      expect(() => marks.track('p', bad)).toThrow(ArgumentError)
    }
  })
})

describe('OffsetWatermarks.reset', () => {
  it('tracks a redelivered range again after a seek, keeping the watermark', () => {
    const marks = new OffsetWatermarks()
    const handles = [10, 11, 12].map((o) => marks.track('p', o))
    void handles[0]?.ack()
    void handles[1]?.nack(new Error('lost'))
    expect(marks.watermark('p')).toBe(10)
    marks.reset('p')
    void handles[2]?.ack() // a handle from before the seek changes nothing
    expect(marks.pending('p')).toBe(0)
    const again = [11, 12].map((o) => marks.track('p', o))
    for (const h of again) void h.ack()
    expect(marks.watermark('p')).toBe(12)
  })
})
