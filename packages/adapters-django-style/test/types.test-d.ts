import { id, lastWrite, max, type Stamped, setAppend, sum } from '@phonon/core'
import { describe, expectTypeOf, it } from 'vitest'
import { column, defineSqlModel, F } from '../src/index.js'

const Widget = defineSqlModel(
  'Widget',
  {
    id: id(),
    clicks: sum(),
    best: max(),
    big: sum('bigint'),
    seen: lastWrite<string>(),
    tags: setAppend(),
  },
  { table: 'widgets', columns: { label: column.text() } },
)

describe('inferred types', () => {
  it('rows, specs and managers are typed by the fields and columns', () => {
    expectTypeOf(Widget.objects.get).parameter(0).toEqualTypeOf<{ readonly id: string }>()
    type Row = NonNullable<Awaited<ReturnType<typeof Widget.objects.get>>>
    expectTypeOf<Row>().toEqualTypeOf<{
      id: string
      clicks: number
      best: number | null
      big: bigint
      label: string | null
      seen: Stamped<string> | null
      tags: string[]
    }>()
  })

  it('update() takes F expressions over numeric columns only', () => {
    Widget.objects.filter({ id: 'w1' }).update({ clicks: F('clicks').add(F('big')), label: 'x' })
    // @ts-expect-error label is a text column: no F expression
    Widget.objects.filter({ id: 'w1' }).update({ label: F('clicks') })
    // @ts-expect-error tags is a set column: written by updates, never assigned
    Widget.objects.filter({ id: 'w1' }).update({ tags: ['a'] })
    // @ts-expect-error F of a column that is not numeric
    Widget.objects.filter({ id: 'w1' }).update({ clicks: F('label') })
  })

  it('a key of several columns: specs and rows name them, not id', () => {
    const Pair = defineSqlModel(
      'Pair',
      { id: id(), clicks: sum(), worst: max() },
      {
        key: { parent: column.integer(), target: column.text() },
        columns: { worst: column.integer({ merge: 'max' }) },
      },
    )
    expectTypeOf(Pair.objects.get)
      .parameter(0)
      .toEqualTypeOf<{ readonly parent: number; readonly target: string }>()
    type Row = NonNullable<Awaited<ReturnType<typeof Pair.objects.get>>>
    expectTypeOf<Row>().toEqualTypeOf<{
      parent: number
      target: string
      clicks: number
      worst: number | null
    }>()
    // An update's input is the model's: its id names the key.
    Pair.create({ id: '3:x', clicks: 1 })
  })

  it('a bound core model keeps its aggregate types in rows and takes an execution', () => {
    const Profile = defineSqlModel('Profile', {
      id: id(),
      visits: sum(),
      email: lastWrite<string>(),
      tags: setAppend(),
    })
    type Row = NonNullable<Awaited<ReturnType<typeof Profile.objects.get>>>
    expectTypeOf<Row['visits']>().toEqualTypeOf<number>()
    expectTypeOf<Row['email']>().toEqualTypeOf<Stamped<string> | null>()
    expectTypeOf(Profile.create({ id: 'p' }).execute).parameters.toEqualTypeOf<
      [
        execution?: {
          readonly resourceId: string
          readonly epoch: number
          readonly fencingToken?: number
        },
      ]
    >()
  })
})
