import { defineModel, id, lastWrite, type Ranked, setAppend, sum, windowedList } from '@phonon/core'
import { describe, expectTypeOf, it } from 'vitest'

const Widget = defineModel(
  'Widget',
  {
    id: id(),
    clicks: sum(),
    reach: sum('bigint'),
    tags: setAppend(),
    top: windowedList(),
    email: lastWrite<string>(),
  },
  { onComplete: (_aggregate, _message: { ack(): void }) => {} },
)

describe('model types', () => {
  it('infers input types per field', () => {
    expectTypeOf(Widget.create)
      .parameter(0)
      .toHaveProperty('clicks')
      .toEqualTypeOf<number | undefined>()
    expectTypeOf(Widget.create)
      .parameter(0)
      .toHaveProperty('reach')
      .toEqualTypeOf<bigint | number | undefined>()
    expectTypeOf(Widget.create).parameter(0).toHaveProperty('id').toEqualTypeOf<string | number>()
  })

  it('infers the aggregate a sink sees', () => {
    const aggregate = Widget.create({ id: 'w' }).aggregate()
    expectTypeOf(aggregate.clicks).toEqualTypeOf<number>()
    expectTypeOf(aggregate.reach).toEqualTypeOf<bigint>()
    expectTypeOf(aggregate.tags).toEqualTypeOf<string[]>()
    expectTypeOf(aggregate.top).toEqualTypeOf<Ranked[]>()
    expectTypeOf(aggregate.email).toEqualTypeOf<{
      readonly at: number
      readonly value: string
    } | null>()
    expectTypeOf(aggregate.id).toEqualTypeOf<string>()
  })

  it('types execute with the onComplete arguments', () => {
    expectTypeOf(Widget.create({ id: 'w' }).execute).parameters.toEqualTypeOf<[{ ack(): void }]>()
  })

  it('rejects unknown fields and wrong input types at compile time', () => {
    // @ts-expect-error unknown field
    Widget.create({ id: 'w', likes: 1 })
    // @ts-expect-error a string is not a sum input
    Widget.create({ id: 'w', clicks: '1' })
  })
})
