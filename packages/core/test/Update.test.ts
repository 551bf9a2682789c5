import {
  ArgumentError,
  ConflictFreeUpdate,
  type Json,
  Update,
  type UpdateOptions,
} from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

/** The seed's WidgetUpdate: a doc of counters, summed on merge, written by execute. */
class WidgetUpdate extends Update<Record<string, number>> {
  static readonly table = new Map<string, Record<string, number>>()

  merge(other: WidgetUpdate): void {
    for (const [key, value] of Object.entries(other.doc))
      this.doc[key] = (this.doc[key] ?? 0) + value
  }

  execute(): void {
    const row = WidgetUpdate.table.get(this.id) ?? {}
    for (const [key, value] of Object.entries(this.doc)) row[key] = (row[key] ?? 0) + value
    WidgetUpdate.table.set(this.id, row)
  }
}

/** The seed's UserUpdate: pages a user viewed, kept in an attribute outside `doc`. */
class UserUpdate extends Update {
  pages = new Set<string>()

  constructor(options: UpdateOptions & { page?: string }) {
    super(options)
    if (options.page !== undefined) this.pages.add(options.page)
  }

  merge(other: UserUpdate): void {
    for (const page of other.pages) this.pages.add(page)
  }

  execute(): void {}

  override state(): Json {
    return { pages: [...this.pages].sort() }
  }

  override restore(state: Json): void {
    const pages = (state as { pages?: unknown }).pages
    if (!Array.isArray(pages) || !pages.every((p) => typeof p === 'string')) {
      throw new ArgumentError('UserUpdate state needs pages: string[]')
    }
    this.pages = new Set(pages)
  }

  override clear(): void {
    this.pages = new Set()
  }
}

describe('Update', () => {
  it('derives the resource id from collection and id, and spec defaults to { id }', () => {
    const update = new WidgetUpdate({ id: 7, collection: 'widgets', doc: { clicks: 1 } })
    expect(update.id).toBe('7')
    expect(update.resourceId).toBe('widgets.7')
    expect(update.spec).toEqual({ id: '7' })
    expect(new WidgetUpdate({ id: 'x' }).resourceId).toBe('default.x')
  })

  it('reproduces the seed WidgetUpdate: merged clicks reach the table once, in one execute', async () => {
    WidgetUpdate.table.clear()
    const updates = [3, 4, 5].map(
      (clicks) => new WidgetUpdate({ id: 'w1', collection: 'widgets', doc: { clicks } }),
    )
    const [first, ...rest] = updates
    for (const update of rest) first!.merge(update)
    await first!.execute()
    expect(WidgetUpdate.table.get('w1')).toEqual({ clicks: 12 })
  })

  it('reproduces the seed UserUpdate: attributes outside doc go through state/restore/clear', () => {
    const a = new UserUpdate({ id: 'u1', collection: 'users', page: '/a' })
    a.merge(new UserUpdate({ id: 'u1', collection: 'users', page: '/b' }))
    expect(a.state()).toEqual({ pages: ['/a', '/b'] })
    const copy = new UserUpdate({ id: 'u1', collection: 'users' })
    copy.restore(a.state())
    expect(copy.pages).toEqual(new Set(['/a', '/b']))
    a.clear()
    expect(a.state()).toEqual({ pages: [] })
  })

  it('defaults state() to the doc and clear() to an empty doc', () => {
    const update = new WidgetUpdate({ id: 'w', doc: { clicks: 2 } })
    expect(update.state()).toEqual({ clicks: 2 })
    update.clear()
    expect(update.doc).toEqual({})
    update.restore({ clicks: 9 })
    expect(update.doc).toEqual({ clicks: 9 })
  })

  it('default state() rejects a doc that is not JSON-safe', () => {
    const update = new WidgetUpdate({ id: 'w', doc: { clicks: Number.NaN } })
    expect(() => update.state()).toThrow(ArgumentError)
  })

  it('ends the soft session softSessionMs after the last refresh, never past the hard session', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 0, max: 999 }), { maxLength: 10 }),
        (soft, hard, gaps) => {
          const start = 1_000_000
          const update = new WidgetUpdate({
            id: 'w',
            softSessionMs: soft,
            hardSessionMs: hard,
            now: start,
          })
          let now = start
          for (const gap of gaps) {
            if (gap >= soft) break
            now += gap
            update.refresh(new WidgetUpdate({ id: 'w', doc: { clicks: 1 } }), now)
          }
          const end = Math.min(now + soft, start + hard)
          expect(update.isExpired(end - 1)).toBe(false)
          expect(update.isExpired(end)).toBe(true)
          expect(update.isPastHardSession(start + hard)).toBe(true)
        },
      ),
    )
  })

  it('refresh merges the other update', () => {
    const update = new WidgetUpdate({ id: 'w', doc: { clicks: 1 }, softSessionMs: 10, now: 0 })
    update.refresh(new WidgetUpdate({ id: 'w', doc: { clicks: 2 } }), 5)
    expect(update.doc).toEqual({ clicks: 3 })
    expect(update.softDeadline).toBe(15)
  })

  it('never expires by time without session lengths, but forceExpiry ends it', () => {
    const update = new WidgetUpdate({ id: 'w' })
    expect(update.isExpired(Number.MAX_SAFE_INTEGER)).toBe(false)
    update.forceExpiry = true
    expect(update.isExpired(0)).toBe(true)
  })

  it.each([
    [{ id: '' }, /id must be/],
    [{ id: Number.NaN }, /id must be/],
    [{ id: 'a{b}' }, /braces/],
    [{ id: 'a\nb' }, /control characters/],
    [{ id: 'x'.repeat(600) }, /at most 512/],
    [{ id: 'a', collection: 'a.b' }, /collection/],
    [{ id: 'a', softSessionMs: 0 }, /softSessionMs/],
    [{ id: 'a', hardSessionMs: Number.NaN }, /hardSessionMs/],
  ] as const)('rejects bad options %o with an ArgumentError', (options, message) => {
    expect(() => new WidgetUpdate(options as UpdateOptions<Record<string, number>>)).toThrow(
      ArgumentError,
    )
    expect(() => new WidgetUpdate(options as UpdateOptions<Record<string, number>>)).toThrow(
      message,
    )
  })
})

class Counters extends ConflictFreeUpdate {
  execute(): void {}
}

describe('ConflictFreeUpdate', () => {
  it('merges by addition with no user code, whatever the grouping', () => {
    const doc = fc.dictionary(
      fc.constantFrom('clicks', 'views', 'likes'),
      fc.integer({ min: -1e6, max: 1e6 }),
    )
    fc.assert(
      fc.property(fc.array(doc, { minLength: 1, maxLength: 10 }), (docs) => {
        const total = new Counters({ id: 'x' })
        for (const d of docs) total.merge(new Counters({ id: 'x', doc: d }))
        const expected: Record<string, number> = {}
        for (const d of docs)
          for (const [k, v] of Object.entries(d)) expected[k] = (expected[k] ?? 0) + v
        expect(total.doc).toEqual(expected)
      }),
    )
  })

  it('copies its doc, so the caller cannot change it afterwards', () => {
    const doc = { clicks: 1 }
    const update = new Counters({ id: 'x', doc })
    doc.clicks = 100
    expect(update.doc).toEqual({ clicks: 1 })
  })

  it.each([
    [{ clicks: Number.NaN }],
    [{ clicks: Number.POSITIVE_INFINITY }],
    [{ clicks: '1' }],
    [JSON.parse('{"__proto__": 1}')],
    [[1, 2]],
  ])('rejects the doc %o with an ArgumentError', (doc) => {
    expect(() => new Counters({ id: 'x', doc })).toThrow(ArgumentError)
    expect(() => new Counters({ id: 'x' }).restore(doc)).toThrow(ArgumentError)
  })

  it('rejects a merge or add that overflows to Infinity, changing nothing', () => {
    const update = new Counters({ id: 'x', doc: { a: 1, b: Number.MAX_VALUE } })
    const overflowing = { a: 1, b: Number.MAX_VALUE }
    expect(() => update.merge(new Counters({ id: 'x', doc: overflowing }))).toThrow(ArgumentError)
    expect(() => update.add(overflowing)).toThrow(ArgumentError)
    expect(() => update.add({ a: 1, c: Number.NaN })).toThrow(ArgumentError)
    expect(update.doc).toEqual({ a: 1, b: Number.MAX_VALUE })
  })

  it('add(increments) is merge of an update with that doc', () => {
    const doc = fc.dictionary(
      fc.constantFrom('clicks', 'views'),
      fc.integer({ min: -1e6, max: 1e6 }),
    )
    fc.assert(
      fc.property(fc.array(doc, { maxLength: 8 }), (docs) => {
        const merged = new Counters({ id: 'x' })
        const added = new Counters({ id: 'x' })
        for (const d of docs) {
          merged.merge(new Counters({ id: 'x', doc: d }))
          added.add(d)
        }
        expect(added.doc).toEqual(merged.doc)
      }),
    )
  })
})
