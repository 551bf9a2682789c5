/**
 * What is checked without a database: declarations (tables, columns, core model mappings),
 * SqlUpdate's merge and its laws, sink options.
 */
import {
  ArgumentError,
  Codec,
  counterMap,
  distinctCount,
  id,
  listAppend,
  sum,
  updateType,
  windowedList,
} from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { column, createSink, defineSqlModel, defineTable, F, SqlUpdate } from '../src/index.js'

const Widget = defineTable(
  'widgets',
  {
    id: column.text(),
    clicks: column.integer(),
    best: column.integer({ merge: 'max' }),
    worst: column.integer({ merge: 'min' }),
    revenue: column.float(),
  },
  { key: 'id' },
)
class WidgetUpdate extends SqlUpdate<typeof Widget> {
  static override model = Widget
}

describe('defineTable rejects at declaration', () => {
  const cases: Array<[string, () => unknown]> = [
    [
      'a table name with SQL in it',
      () => defineTable('w; drop table x', { id: column.text() }, { key: 'id' }),
    ],
    [
      'a table name of 64 characters',
      () => defineTable('t'.repeat(64), { id: column.text() }, { key: 'id' }),
    ],
    [
      'a column name with a quote',
      () => defineTable('t', { 'a"b': column.text() }, { key: 'a"b' }),
    ],
    [
      'a value that is not a column',
      () => defineTable('t', { id: column.text(), n: 5 as never }, { key: 'id' }),
    ],
    ['a missing key', () => defineTable('t', { id: column.text() }, { key: 'nope' as 'id' })],
    ['an empty key', () => defineTable('t', { id: column.text() }, { key: [] })],
    ['a repeated key column', () => defineTable('t', { id: column.text() }, { key: ['id', 'id'] })],
    ['a float key', () => defineTable('t', { id: column.float() }, { key: 'id' })],
    ['a set key', () => defineTable('t', { id: column.set() }, { key: 'id' })],
    [
      'the reserved phonon_fence',
      () => defineTable('t', { id: column.text(), phonon_fence: column.integer() }, { key: 'id' }),
    ],
    [
      'a column colliding with a lastWrite _at',
      () =>
        defineTable(
          't',
          { id: column.text(), seen: column.lastWrite(), seen_at: column.float() },
          { key: 'id' },
        ),
    ],
    [
      'a child table name past 63 characters',
      () =>
        defineTable(
          't'.repeat(40),
          { id: column.text(), ['m'.repeat(30)]: column.set() },
          { key: 'id' },
        ),
    ],
    ['an unknown merge', () => column.integer({ merge: 'avg' as 'sum' })],
    ['a maxLength of 0', () => column.text({ maxLength: 0 })],
  ]
  for (const [what, declare] of cases) {
    it(what, () => expect(declare).toThrow(ArgumentError))
  }
})

describe('defineSqlModel maps core fields, and rejects those with no SQL mapping', () => {
  it('maps sums, extrema, lastWrite and setAppend to columns', () => {
    const fields = { id: id(), n: sum(), f: sum('float'), b: sum('bigint') }
    const table = defineSqlModel('Mapped', fields, { table: 'mapped' }).sqlModel
    expect(table.table).toBe('mapped')
    expect(table.key).toEqual(['id'])
    expect(
      Object.fromEntries(
        Object.entries(table.columns).map(([k, c]) => [k, `${c.kind}/${c.merge}`]),
      ),
    ).toEqual({
      id: 'text/null',
      n: 'integer/sum',
      f: 'float/sum',
      b: 'bigint/sum',
    })
  })

  for (const [kind, field] of [
    ['listAppend', listAppend()],
    ['windowedList', windowedList()],
    ['distinctCount', distinctCount()],
    ['counterMap', counterMap()],
  ] as const) {
    it(`rejects ${kind} with an ArgumentError naming it`, () => {
      const declare = () => defineSqlModel(`Has_${kind}`, { id: id(), x: field })
      expect(declare).toThrow(ArgumentError)
      expect(declare).toThrow(kind)
    })
  }
})

describe('SqlUpdate', () => {
  it('needs a static model', () => {
    class Bare extends SqlUpdate {}
    expect(() => new Bare({ id: 'x' })).toThrow(ArgumentError)
  })

  it('defaults its collection to the table and its spec to { id }', () => {
    const update = new WidgetUpdate({ id: 'w1', doc: { clicks: 1 } })
    expect(update.resourceId).toBe('widgets.w1')
    expect(update.key).toEqual(['w1'])
  })

  it('refuses to merge another class or another row, and an overflow changes nothing', () => {
    class OtherUpdate extends SqlUpdate<typeof Widget> {
      static override model = Widget
    }
    const update = new WidgetUpdate({ id: 'w1', doc: { clicks: Number.MAX_SAFE_INTEGER, best: 1 } })
    expect(() => update.merge(new OtherUpdate({ id: 'w1' }) as WidgetUpdate)).toThrow(ArgumentError)
    expect(() => update.merge(new WidgetUpdate({ id: 'w2' }))).toThrow(ArgumentError)
    expect(() => update.merge(new WidgetUpdate({ id: 'w1', doc: { best: 9, clicks: 1 } }))).toThrow(
      ArgumentError,
    )
    expect(update.doc).toEqual({ clicks: Number.MAX_SAFE_INTEGER, best: 1 })
  })

  it('restore() checks the state like the constructor does', () => {
    const codec = new Codec([updateType('WidgetUpdate', WidgetUpdate)])
    const text = codec.stringify(new WidgetUpdate({ id: 'w1', doc: { clicks: 2, revenue: 0.5 } }))
    expect((codec.parse(text) as WidgetUpdate).doc).toEqual({ clicks: 2, revenue: 0.5 })
    expect(() => new WidgetUpdate({ id: 'w1' }).restore({ clicks: 'x' })).toThrow(ArgumentError)
    expect(() => new WidgetUpdate({ id: 'w1' }).restore({ nope: 1 })).toThrow(ArgumentError)
  })

  const doc = fc.record(
    {
      clicks: fc.integer({ min: -1e6, max: 1e6 }),
      best: fc.integer({ min: -1e6, max: 1e6 }),
      worst: fc.integer({ min: -1e6, max: 1e6 }),
    },
    { requiredKeys: [] },
  )
  const merged = (...docs: Array<Record<string, number>>) => {
    const [first, ...rest] = docs.map((d) => new WidgetUpdate({ id: 'w', doc: d }))
    for (const other of rest) first?.merge(other)
    return first?.doc
  }

  it('merge is associative and commutative (sum adds, max and min keep the extremum)', () => {
    fc.assert(
      fc.property(doc, doc, doc, (a, b, c) => {
        const left = new WidgetUpdate({ id: 'w', doc: a })
        const bc = new WidgetUpdate({ id: 'w', doc: b })
        bc.merge(new WidgetUpdate({ id: 'w', doc: c }))
        left.merge(bc)
        expect(left.doc).toEqual(merged(a, b, c))
        expect(merged(a, b)).toEqual(merged(b, a))
      }),
    )
  })

  it('merge is the column rules applied to the docs', () => {
    fc.assert(
      fc.property(fc.array(doc, { minLength: 1, maxLength: 6 }), (docs) => {
        const result = merged(...docs) ?? {}
        const values = (k: 'clicks' | 'best' | 'worst') =>
          docs.flatMap((d) => (d[k] === undefined ? [] : [d[k]]))
        const expected: Record<string, number> = {}
        if (values('clicks').length) expected.clicks = values('clicks').reduce((x, y) => x + y, 0)
        if (values('best').length) expected.best = Math.max(...values('best'))
        if (values('worst').length) expected.worst = Math.min(...values('worst'))
        expect(result).toEqual(expected)
      }),
    )
  })
})

describe('without a sink', () => {
  it('the manager and execute() say which sink is missing', async () => {
    const Lonely = defineTable('lonely', { id: column.text(), n: column.integer() }, { key: 'id' })
    class LonelyUpdate extends SqlUpdate<typeof Lonely> {
      static override model = Lonely
    }
    await expect(Lonely.objects.get({ id: 'x' })).rejects.toThrow(/has no sink/)
    await expect(new LonelyUpdate({ id: 'x', doc: { n: 1 } }).execute()).rejects.toThrow(
      ArgumentError,
    )
  })

  it('createSink rejects an unknown dialect, a bad schema and bad options', async () => {
    await expect(createSink({ dialect: 'oracle' } as never)).rejects.toThrow(ArgumentError)
    await expect(createSink({ dialect: 'pglite', schema: 'a-b' })).rejects.toThrow(ArgumentError)
    await expect(createSink({ dialect: 'pglite', retries: -1 })).rejects.toThrow(ArgumentError)
    await expect(createSink({ dialect: 'pglite', executionsTable: 'x y' })).rejects.toThrow(
      ArgumentError,
    )
  })

  it('F expressions are immutable and carry their operations', () => {
    const base = F('clicks')
    const next = base.add(1).greatest(F('best'))
    expect(base.operations).toEqual([])
    expect(next.operations.map(([op]) => op)).toEqual(['add', 'greatest'])
  })
})
