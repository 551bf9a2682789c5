import { Codec, defineModel, id, sum } from '@phonon/core'
import { type Claim, connect, MemoryShard, MemoryStore, type RedisShard } from '@phonon/redis-shard'
import { type RedisServer, startRedis } from '@phonon/testkit'
import { afterAll, beforeAll, expect } from 'vitest'

/** The seed's widget: clicks and impressions. */
export const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })
export type WidgetUpdate = ReturnType<typeof Widget.create>

export const codec = () => new Codec([Widget])

/** Totals per widget id. */
export type Totals = Map<string, { clicks: number; impressions: number }>

/** Adds one row to totals. */
export function addTo(totals: Totals, widget: string, clicks: number, impressions: number): void {
  const row = totals.get(widget) ?? { clicks: 0, impressions: 0 }
  row.clicks += clicks
  row.impressions += impressions
  totals.set(widget, row)
}

/**
 * A sink that records executed claims, refusing a `(resource, epoch)` it saw already (the
 * dedupe every real sink does), so tests can count executions and check totals.
 */
export class RecordingSink {
  readonly totals: Totals = new Map()
  readonly epochs = new Set<string>()
  executions = 0
  duplicates = 0

  readonly execute = (claim: Claim): void => {
    const key = `${claim.resourceId}@${claim.epoch}`
    if (this.epochs.has(key)) {
      this.duplicates++
      return
    }
    this.epochs.add(key)
    this.executions++
    const { id: widget, clicks, impressions } = (claim.update as WidgetUpdate).aggregate()
    addTo(this.totals, widget, clicks, impressions)
  }
}

/** Asserts two totals are equal, ignoring all-zero rows. */
export function expectSameTotals(actual: Totals, expected: Totals): void {
  const rows = (t: Totals) =>
    [...t]
      .filter(([, r]) => r.clicks !== 0 || r.impressions !== 0)
      .sort(([a], [b]) => (a < b ? -1 : 1))
  expect(rows(actual)).toEqual(rows(expected))
}

/** Workers sharing one in-process store. */
export function memoryWorkers() {
  const store = new MemoryStore()
  return { store, shard: () => new MemoryShard({ codec: codec(), store }) }
}

/** A private redis-server for the file; `shard(ns)` connects a worker to it. */
export function redisFixture() {
  let server: RedisServer
  const shards: RedisShard[] = []
  beforeAll(async () => {
    server = await startRedis()
  })
  afterAll(async () => {
    await Promise.allSettled(shards.map((shard) => shard.close()))
    await server?.stop()
  })
  return {
    get server() {
      return server
    },
    async shard(namespace: string, options: { heartbeatMs?: number } = {}): Promise<RedisShard> {
      const shard = await connect({
        nodes: [server.url],
        codec: codec(),
        namespace,
        heartbeatMs: options.heartbeatMs ?? 0,
      })
      shards.push(shard)
      return shard
    },
  }
}

/** The shard with `before()` awaited before every call of one method: a real shard made slow. */
export function intercept<S extends object>(
  shard: S,
  method: keyof S & string,
  before: () => Promise<void>,
): S {
  return new Proxy(shard, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      if (property !== method) return value.bind(target)
      return async (...args: unknown[]) => {
        await before()
        return value.apply(target, args)
      }
    },
  })
}

/** The shard with one method held back until `open()`, to observe what happens meanwhile. */
export function gated<S extends object>(shard: S, method: keyof S & string) {
  let open!: () => void
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { shard: intercept(shard, method, () => opened), open: () => open() }
}
