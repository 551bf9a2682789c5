/**
 * pymonster's demo on `@phonon/events`: this process logs `event_1`, `user.bought_shirt` and a
 * custom event (`user.signed_up`, checked and reshaped by its class); a consumer process started
 * from this same file (`--consume`) prints every event it consumes and exits once it has them all.
 * PostgreSQL (DATABASE_URL, default the local `test` database): PGlite cannot be shared between
 * processes. The demo's schema is dropped at the end.
 * Run: pnpm --filter @phonon/examples example:events
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { ArgumentError, type Json } from '@phonon/core'
import {
  Consumer,
  createConsumerManager,
  createEventManager,
  Event,
  type EventStore,
  postgresStore,
  type StoredEvent,
} from '@phonon/events'
import { runCli } from './cli.js'

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test'

/** pymonster's custom event class: checks the address, stores it lower-cased with its domain. */
class SignedUp extends Event<{ email: string }> {
  override async validate(input: { email: string }): Promise<Json> {
    if (typeof input?.email !== 'string' || !input.email.includes('@')) {
      throw new ArgumentError(`user.signed_up needs an email, got ${JSON.stringify(input)}`)
    }
    return super.validate(input)
  }

  override transform(payload: Json): Json {
    const email = (payload as { email: string }).email.toLowerCase()
    return { email, domain: email.split('@')[1]! }
  }
}

/** The seed's default consumer prints; this one says which process it runs in, and counts. */
class Printer extends Consumer {
  consumed = 0
  onConsumed: (count: number) => void = () => {}
  override consume(event: StoredEvent) {
    console.log(
      `consumer (pid ${process.pid}): ${event.name} #${event.id} ${JSON.stringify(event.payload)}`,
    )
    this.onConsumed(++this.consumed)
  }
}

async function open(schema: string): Promise<EventStore> {
  const url = process.env.DATABASE_URL ?? DEFAULT_URL
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new ArgumentError(`DATABASE_URL must be a postgres:// URL, got ${url.split(':')[0]}:…`)
  }
  return postgresStore({ connectionString: url, schema })
}

/** The consumer process: prints `expected` events, then stops. */
async function consume(schema: string, expected: number): Promise<boolean> {
  const store = await open(schema)
  const consumers = createConsumerManager({ store })
  const printer = new Printer()
  await consumers.register([
    ['event_1', printer],
    ['user.bought_shirt', printer],
    ['user.signed_up', printer],
  ])
  process.send?.('ready')
  // pymonster's consume loop, woken by LISTEN/NOTIFY; stopped once the demo's events are printed.
  const done = new AbortController()
  printer.onConsumed = (count) => {
    if (count >= expected) done.abort()
  }
  await consumers.consumeLoop({ signal: done.signal })
  await store.close()
  return true
}

/** The logging process: starts the consumer, logs the seed's events, waits for the consumer. */
async function log(): Promise<boolean> {
  const schema = `phonon_events_demo_${randomBytes(3).toString('hex')}`
  const store = await open(schema)
  try {
    // Names need no declaration (pymonster's default); the custom event is declared with its class.
    const manager = createEventManager({
      store,
      verbose: (line) => console.log(`producer: ${line}`),
      events: { 'user.signed_up': { eventClass: SignedUp } },
    })
    const consumer = fork(fileURLToPath(import.meta.url), ['--consume', schema, '4'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const exited = new Promise<number | null>((resolve) => consumer.once('exit', resolve))
    await new Promise((resolve) => consumer.once('message', resolve))
    const { events } = manager
    await manager.log('event_1', 'a message')
    await manager.log('user.bought_shirt', { user: 'gordon', quantity: 2 })
    await events.user.signedUp.log({ email: 'Gordon@Black-Mesa.org' })
    await events.user.signedUp.log({ email: 'nobody' }).catch((error: ArgumentError) => {
      console.log(`producer: refused: ${error.message}`)
    })
    await manager.log('event_1', 'another message')
    return (await exited) === 0
  } finally {
    await store.driver.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await store.close()
  }
}

const [mode, schema, expected] = process.argv.slice(2)
if (mode === '--consume') {
  await runCli(
    { name: 'events-demo consumer', summary: 'prints events', flags: {} },
    () => consume(schema!, Number(expected)),
    [],
  )
} else {
  await runCli(
    {
      name: 'pnpm --filter @phonon/examples example:events',
      summary: 'Logs pymonster demo events; a consumer in another process prints them.',
      flags: {},
      env: { DATABASE_URL: `PostgreSQL to use (default ${DEFAULT_URL})` },
    },
    log,
  )
}
