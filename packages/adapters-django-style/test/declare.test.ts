/**
 * What is checked without a database: declarations (tables, key and other columns, core field
 * mappings), ids as keys, sink options.
 */
import {
  ArgumentError,
  counterMap,
  distinctCount,
  id,
  lastWrite,
  listAppend,
  max,
  min,
  setAppend,
  sum,
  windowedList,
} from '@phonon/core'
import { describe, expect, it } from 'vitest'
import { column, createSink, defineSqlModel, F } from '../src/index.js'

const text = () => column.text()

describe('defineSqlModel rejects at declaration', () => {
  const cases: Array<[string, () => unknown]> = [
    ['a table name with SQL in it', () => defineSqlModel('A', { id: id() }, { table: 'w; drop' })],
    [
      'a table name of 64 characters',
      () => defineSqlModel('B', { id: id() }, { table: 't'.repeat(64) }),
    ],
    ['a field name with a quote', () => defineSqlModel('C', { id: id(), 'a"b': sum() })],
    [
      'a key column name with a quote',
      () => defineSqlModel('D', { id: id() }, { key: { 'a"b': text() } }),
    ],
    [
      'a value that is not a column',
      () => defineSqlModel('E', { id: id() }, { columns: { n: 5 as never } }),
    ],
    [
      'a key that is not an object',
      () => defineSqlModel('F1', { id: id() }, { key: 'id' as never }),
    ],
    ['an empty key', () => defineSqlModel('G', { id: id() }, { key: {} })],
    ['a float key', () => defineSqlModel('H', { id: id() }, { key: { id: column.float() } })],
    ['a set key', () => defineSqlModel('I', { id: id() }, { key: { id: column.set() } })],
    [
      'a key column named as a field',
      () => defineSqlModel('J', { id: id(), n: sum() }, { key: { n: column.integer() } }),
    ],
    [
      'a key column among the other columns',
      () => defineSqlModel('K', { id: id() }, { columns: { id: column.integer() } }),
    ],
    [
      'a sum stored in a max column',
      () =>
        defineSqlModel(
          'L',
          { id: id(), n: sum() },
          { columns: { n: column.integer({ merge: 'max' }) } },
        ),
    ],
    [
      'a float sum stored in an integer column',
      () =>
        defineSqlModel('M', { id: id(), n: sum('float') }, { columns: { n: column.integer() } }),
    ],
    [
      'a max stored in a min column',
      () =>
        defineSqlModel(
          'N',
          { id: id(), n: max() },
          { columns: { n: column.float({ merge: 'min' }) } },
        ),
    ],
    [
      'a lastWrite stored in a text column',
      () => defineSqlModel('O', { id: id(), n: lastWrite() }, { columns: { n: text() } }),
    ],
    [
      'a set column of no field',
      () => defineSqlModel('P', { id: id() }, { columns: { tags: column.set() } }),
    ],
    ['an empty keySeparator', () => defineSqlModel('Q', { id: id() }, { keySeparator: '' })],
    [
      'the reserved phonon_fence',
      () => defineSqlModel('R', { id: id() }, { columns: { phonon_fence: column.integer() } }),
    ],
    [
      'a column colliding with a lastWrite _at',
      () =>
        defineSqlModel(
          'S',
          { id: id(), seen: lastWrite() },
          { columns: { seen_at: column.float() } },
        ),
    ],
    [
      'a child table name past 63 characters',
      () =>
        defineSqlModel('T', { id: id(), ['m'.repeat(30)]: setAppend() }, { table: 't'.repeat(40) }),
    ],
    ['an unknown merge', () => column.integer({ merge: 'avg' as 'sum' })],
    ['a maxLength of 0', () => column.text({ maxLength: 0 })],
  ]
  for (const [what, declare] of cases) {
    it(what, () => expect(declare).toThrow(ArgumentError))
  }
})

describe('keys and columns', () => {
  const Pair = defineSqlModel(
    'Pair',
    { id: id(), clicks: sum(), worst: min() },
    {
      table: 'pairs',
      key: { parent: column.integer(), target: column.integer() },
      columns: { worst: column.integer({ merge: 'min' }), label: column.text({ maxLength: 20 }) },
    },
  )

  it('a composite key, a replaced column and another column', () => {
    const { sqlModel } = Pair
    expect(sqlModel.key).toEqual(['parent', 'target'])
    expect(
      Object.fromEntries(
        Object.entries(sqlModel.columns).map(([k, c]) => [k, `${c.kind}/${c.merge}`]),
      ),
    ).toEqual({
      parent: 'integer/sum',
      target: 'integer/sum',
      clicks: 'integer/sum',
      worst: 'integer/min',
      label: 'text/null',
    })
  })

  it('an id names the key: its parts joined by the separator, each checked by its column', () => {
    expect(Pair.sqlModel.keyOfId('3:7')).toEqual([3, 7])
    expect(() => Pair.sqlModel.keyOfId('3')).toThrow(/2 parts joined by ":" \(parent:target\)/)
    expect(() => Pair.sqlModel.keyOfId('3:7:1')).toThrow(ArgumentError)
    expect(() => Pair.sqlModel.keyOfId('3:x')).toThrow(ArgumentError)
    const Dashed = defineSqlModel(
      'Dashed',
      { id: id() },
      { key: { a: text(), b: column.bigint() }, keySeparator: '/' },
    )
    expect(Dashed.sqlModel.keyOfId('x-y/9007199254740993')).toEqual(['x-y', 9007199254740993n])
    const Numbered = defineSqlModel('Numbered', { id: id() }, { key: { id: column.integer() } })
    expect(Numbered.sqlModel.keyOfId('42')).toEqual([42])
    expect(() => Numbered.sqlModel.keyOfId('4.2')).toThrow(ArgumentError)
  })
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

describe('without a sink', () => {
  it('the manager and execute() say which sink is missing', async () => {
    const Lonely = defineSqlModel('Lonely', { id: id(), n: sum() }, { table: 'lonely' })
    await expect(Lonely.objects.get({ id: 'x' })).rejects.toThrow(/has no sink/)
    await expect(Lonely.create({ id: 'x', n: 1 }).execute()).rejects.toThrow(ArgumentError)
    await expect(Lonely.create({ id: 'x', n: 1 }).execute()).rejects.toThrow(/has no sink/)
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
