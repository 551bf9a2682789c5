/**
 * The `@phonon/events` README example, on PGlite (in process, in memory).
 * Run: pnpm --filter @phonon/events exec tsx --conditions=@phonon/source examples/readme.ts
 */
import { ArgumentError, type Json } from '@phonon/core'
import {
  Consumer,
  createConsumerManager,
  createEventManager,
  Event,
  pgliteStore,
  type StoredEvent,
} from '@phonon/events'
import { z } from 'zod'

// A custom event class: checks more than the schema, reshapes the payload, then logs.
class SignedUp extends Event<{ email: string }> {
  override async validate(input: { email: string }): Promise<Json> {
    if (!input.email.includes('@')) throw new ArgumentError(`not an email: ${input.email}`)
    return super.validate(input)
  }
  override transform(payload: Json): Json {
    return { email: (payload as { email: string }).email.toLowerCase() }
  }
}

const store = await pgliteStore() // or: await postgresStore({ connectionString })
const { events } = createEventManager({
  store,
  events: {
    event_1: z.string(),
    'user.bought_shirt': z.object({ user: z.string(), quantity: z.number().int().positive() }),
    'user.signed_up': { eventClass: SignedUp },
  },
  allowUndeclared: false, // logging another name is an ArgumentError
})

// A consumer class: counts shirts. The base class prints each event (pymonster's default).
class Shirts extends Consumer<{ user: string; quantity: number }> {
  total = 0
  override consume(event: StoredEvent<{ user: string; quantity: number }>) {
    this.total += event.payload.quantity
  }
}

await events.event_1.log('a message')
await events.user.boughtShirt.log({ user: 'gordon', quantity: 2 })
await events.user.signedUp.log({ email: 'Gordon@Black-Mesa.org' })
await events.user.boughtShirt.log({ user: 'alyx', quantity: -1 }).catch((error: Error) => {
  console.log(error.name, error.message) // nothing was written
})

const consumers = createConsumerManager({ store })
const shirts = new Shirts()
await consumers.register([
  ['event_1', Consumer], // prints
  ['user.signed_up', Consumer],
  ['user.bought_shirt', shirts],
])
consumers.start() // a background loop; or `await consumers.consumeOnce()` for one step
await events.user.boughtShirt.logMany([
  { user: 'eli', quantity: 1 },
  { user: 'barney', quantity: 3 },
])
while ((await consumers.lag()).some((lag) => lag.events > 0)) {
  await new Promise((resolve) => setTimeout(resolve, 10))
}
await consumers.stop() // finishes the batch in hand
console.log('shirts', shirts.total)
console.log(JSON.stringify(await consumers.lag()))
await store.close()
