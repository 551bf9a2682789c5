import { id, lastWrite, type Stamped, setAppend, sum } from '@phonon/core'
import { describe, expectTypeOf, it } from 'vitest'
import { column, defineSqlModel, defineTable, F, SqlUpdate } from '../src/index.js'

const Widget = defineTable(
  'widgets',
  {
    id: column.text(),
    clicks: column.integer(),
    best: column.float({ merge: 'max' }),
    big: column.bigint(),
    label: column.text(),
    seen: column.lastWrite<string>(),
    tags: column.set(),
  },
  { key: 'id' },
)

describe('inferred types', () => {
  it('rows, specs and managers are typed by the columns', () => {
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

  it('a SqlUpdate doc holds numbers for numeric value columns', () => {
    class WidgetUpdate extends SqlUpdate<typeof Widget> {
      static override model = Widget
    }
    expectTypeOf<WidgetUpdate['doc']>().toEqualTypeOf<{
      clicks?: number
      best?: number
      big?: number
    }>()
    // @ts-expect-error label is not numeric
    new WidgetUpdate({ id: 'w', doc: { label: 1 } })
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
