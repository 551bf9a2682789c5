import type { Json } from '@phonon/core'
import { describe, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import { createEventManager, Event, type EventStore, type LoggedEvent } from '../src/index.js'

class SignedUp extends Event<{ email: string }> {}

const store = {} as EventStore
const { events } = createEventManager({
  store,
  events: {
    'user.bought_shirt': z.object({ user: z.string(), quantity: z.number() }),
    'user.signed_up': { eventClass: SignedUp },
    event_1: z.string(),
    'page.viewed': {},
  },
})

describe('the typed event tree', () => {
  it('types log by the declared schema, under the declared and the camelCase name', () => {
    expectTypeOf(events.user.boughtShirt.log).parameter(0).toEqualTypeOf<{
      user: string
      quantity: number
    }>()
    expectTypeOf(events.user.bought_shirt.log).parameter(0).toEqualTypeOf<{
      user: string
      quantity: number
    }>()
    expectTypeOf(events.event_1.log).parameter(0).toEqualTypeOf<string>()
    expectTypeOf(events.event1.log).returns.toEqualTypeOf<Promise<LoggedEvent>>()
    expectTypeOf(events.page.viewed.log).parameter(0).toEqualTypeOf<Json>()
  })

  it('hands out the custom class', () => {
    expectTypeOf(events.user.signedUp).toEqualTypeOf<SignedUp>()
    expectTypeOf(events.user.signedUp.log).parameter(0).toEqualTypeOf<{ email: string }>()
  })

  it('refuses wrong payloads and unknown names', () => {
    // @ts-expect-error quantity must be a number
    void events.user.boughtShirt.log({ user: 'gordon', quantity: '2' })
    // @ts-expect-error an undeclared name is not in the typed tree (use manager.log)
    void events.user.unknown
  })
})
