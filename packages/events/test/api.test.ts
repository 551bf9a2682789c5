/**
 * Logging: declared and undeclared names, custom event classes, batches, the caller's own
 * transaction, and bad input refused with a typed error and nothing written.
 */
import { ArgumentError, type Json } from '@phonon/core'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { importDriver } from '../src/driver.js'
import { createConsumerManager, createEventManager, Event, EventStoreError } from '../src/index.js'
import { Recorder } from './recorder.js'
import { backends, drain, sharedPGlite, type TestStore } from './stores.js'

beforeAll(() => sharedPGlite(), 60_000)

const BoughtShirt = z.object({ user: z.string().min(1), quantity: z.number().int().positive() })

/** pymonster's custom event: checks more, transforms, then calls the base `log`. */
class SignedUp extends Event<{ email: string }> {
  override async validate(input: { email: string }): Promise<Json> {
    if (!input.email.includes('@')) throw new ArgumentError(`not an email: ${input.email}`)
    return super.validate(input)
  }

  override transform(payload: Json): Json {
    const { email } = payload as { email: string }
    return { email: email.toLowerCase(), domain: email.split('@')[1]!.toLowerCase() }
  }
}

describe.each(backends)('%s', (_, open) => {
  let db: TestStore
  beforeEach(async () => {
    db = await open()
  })
  afterEach(() => db.drop())

  const count = async () =>
    Number(
      (await db.sql<{ n: string }>(`SELECT count(*) AS n FROM "${db.store.schema}".events`))[0]!.n,
    )

  const manager = (allowUndeclared = true) =>
    createEventManager({
      store: db.store,
      allowUndeclared,
      maxPayloadBytes: 1024,
      events: {
        'user.bought_shirt': BoughtShirt,
        'user.signed_up': { schema: z.object({ email: z.string() }), eventClass: SignedUp },
        event_1: z.string(),
      },
    })

  it('logs declared events by their dotted names, camelCase or as declared', async () => {
    const { events } = manager()
    const a = await events.user.boughtShirt.log({ user: 'gordon', quantity: 2 })
    const b = await events.user.bought_shirt.log({ user: 'alyx', quantity: 1 })
    const c = await events.event_1.log('a message')
    expect([a.name, b.name, c.name]).toEqual(['user.bought_shirt', 'user.bought_shirt', 'event_1'])
    expect(b.id).toBeGreaterThan(a.id)
    expect(a.createdAt).toBeInstanceOf(Date)
    const rows = await db.sql<{ name: string; payload: Json }>(
      `SELECT name, payload FROM "${db.store.schema}".events ORDER BY id`,
    )
    expect(rows).toEqual([
      { name: 'user.bought_shirt', payload: { user: 'gordon', quantity: 2 } },
      { name: 'user.bought_shirt', payload: { user: 'alyx', quantity: 1 } },
      { name: 'event_1', payload: 'a message' },
    ])
  })

  it('allows undeclared names by default and refuses them when switched off', async () => {
    const allowing = manager(true)
    await (allowing.events as unknown as Record<string, Record<string, Event>>).page!.viewed!.log({
      path: '/',
    })
    await allowing.log('page.clicked', { x: 1 })
    expect(await count()).toBe(2)
    const refusing = manager(false)
    const undeclared = (refusing.events as unknown as Record<string, Record<string, Event>>).page!
      .viewed!
    await expect(undeclared.log({ path: '/' })).rejects.toBeInstanceOf(ArgumentError)
    await expect(refusing.log('page.clicked', {})).rejects.toThrow(/not declared/)
    expect(() => refusing.event('page.clicked')).toThrow(ArgumentError)
    await expect(
      refusing.logMany([
        { name: 'event_1', payload: 'ok' },
        { name: 'nope', payload: 1 },
      ]),
    ).rejects.toBeInstanceOf(ArgumentError)
    expect(await count()).toBe(2)
    await refusing.events.event_1.log('declared still works')
    expect(await count()).toBe(3)
  })

  it('runs custom event classes: their validate and transform, then the base log', async () => {
    const { events } = manager()
    await events.user.signedUp.log({ email: 'Gordon@Black-Mesa.org' })
    await expect(events.user.signedUp.log({ email: 'nobody' })).rejects.toThrow(/not an email/)
    const rows = await db.sql<{ payload: Json }>(`SELECT payload FROM "${db.store.schema}".events`)
    expect(rows).toEqual([
      { payload: { email: 'gordon@black-mesa.org', domain: 'black-mesa.org' } },
    ])
  })

  it('logs batches in one statement, all or nothing', async () => {
    const m = manager()
    const logged = await m.events.user.boughtShirt.logMany([
      { user: 'a', quantity: 1 },
      { user: 'b', quantity: 2 },
    ])
    expect(logged.map((e) => e.id)).toEqual([logged[0]!.id, logged[0]!.id + 1])
    await m.logMany([
      { name: 'event_1', payload: 'x' },
      { name: 'user.signed_up', payload: { email: 'A@B.C' } },
    ])
    await expect(
      m.events.user.boughtShirt.logMany([
        { user: 'c', quantity: 1 },
        { user: 'd', quantity: -1 },
      ]),
    ).rejects.toBeInstanceOf(ArgumentError)
    expect(await count()).toBe(4)
  })

  it('logs inside the caller’s transaction: visible to consumers only once it commits', async () => {
    const m = manager()
    const consumers = createConsumerManager({ store: db.store, listen: false })
    const recorder = new Recorder()
    await consumers.register([['event_1', recorder]])
    await expect(
      db.store.driver.transaction(async (tx) => {
        await m.events.event_1.log('rolled back', { tx })
        throw new Error('the caller gives up')
      }),
    ).rejects.toThrow('gives up')
    await db.store.driver.transaction(async (tx) => {
      await m.events.event_1.log('committed', { tx })
    })
    await drain(consumers)
    expect(recorder.seen.map((e) => e.payload)).toEqual(['committed'])
  })

  it('refuses bad input with an ArgumentError and writes nothing', async () => {
    const { events } = manager()
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    const bad: [string, () => Promise<unknown>][] = [
      [
        'a payload failing its schema',
        () => events.user.boughtShirt.log({ user: '', quantity: 1 }),
      ],
      ['a wrong type', () => events.user.boughtShirt.log({ user: 'g', quantity: 'two' as never })],
      ['NaN', () => events.user.boughtShirt.log({ user: 'g', quantity: Number.NaN })],
      ['a Date (not JSON)', () => manager().log('x.y', { at: new Date() })],
      ['a function', () => manager().log('x.y', { f: () => 1 })],
      ['undefined', () => manager().log('x.y', undefined)],
      ['a bigint', () => manager().log('x.y', 1n)],
      ['a cycle', () => manager().log('x.y', cycle)],
      ['a NUL character', () => manager().log('x.y', 'a\u0000b')],
      ['an oversized payload', () => manager().log('x.y', 'x'.repeat(2000))],
      ['a malformed name', () => manager().log('x..y', 1)],
      ['a reserved segment', () => manager().log('user.log', 1)],
    ]
    for (const [what, attempt] of bad) {
      await expect(attempt(), what).rejects.toBeInstanceOf(ArgumentError)
    }
    expect(await count()).toBe(0)
  })
})

describe('options and drivers', () => {
  it('validates options and declarations', () => {
    const store = {} as never
    expect(() => createEventManager({ store, maxPayloadBytes: 0 })).toThrow(ArgumentError)
    expect(() => createEventManager({ store, events: { 'a..b': z.string() } })).toThrow(
      ArgumentError,
    )
    expect(() => createEventManager({ store, events: { a: { schema: 1 as never } } })).toThrow(
      /Standard Schema/,
    )
    expect(() => createConsumerManager({ store, batchSize: 0 })).toThrow(/batchSize/)
  })

  it('names the driver to install when it is missing', async () => {
    const missing = () => import('a-driver-that-is-not-installed' as string)
    const error = await importDriver('pg', missing).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(EventStoreError)
    expect((error as Error).message).toMatch(/install it \(npm i pg\)/)
  })
})
