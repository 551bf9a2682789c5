import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  Codec,
  ConflictFreeUpdate,
  counterMap,
  defineModel,
  diff,
  distinctCount,
  id,
  lastWrite,
  listAppend,
  max,
  min,
  setAppend,
  sum,
  updateType,
  windowedList,
} from '@phonon/core'
import { type RedisServer, startRedis } from '@phonon/testkit'
import { afterAll, beforeAll } from 'vitest'
import {
  connect,
  MemoryShard,
  type MemoryShardOptions,
  MemoryStore,
  type RedisShard,
  type Shard,
} from '../src/index.js'

/** The seed's doc of counters, merged by addition (phonon's scenario: d, e, f). */
export class Counters extends ConflictFreeUpdate {
  static executed: Array<{ resourceId: string; doc: Record<string, number> }> = []
  execute(): void {
    Counters.executed.push({ resourceId: this.resourceId, doc: { ...this.doc } })
  }
}

/** A 2-field sum model. */
export const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })

export /** A model with every field kind, folded by the Lua scripts and read back. */
const Everything = defineModel('Everything', {
  id: id(),
  count: sum(),
  big: sum('bigint'),
  ratio: sum('float'),
  taken: diff(),
  best: max(),
  worst: min(),
  email: lastWrite<string>(),
  log: listAppend<string>({ cap: 4 }),
  tags: setAppend(),
  visitors: distinctCount(),
  top: windowedList({ keep: 3 }),
  byCountry: counterMap(),
})

/** A codec knowing the test types. */
export const codec = () => new Codec([Widget, Everything, updateType('Counters', Counters)])

/**
 * A private redis-server for the test file, started before and stopped after its tests, and a
 * factory of workers connected to it (all closed after the file).
 */
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
    /** A new worker on the fixture's server. */
    async worker(options: Partial<Parameters<typeof connect>[0]> = {}): Promise<RedisShard> {
      const shard = await connect({
        nodes: [server.url],
        codec: codec(),
        heartbeatMs: 0,
        ...options,
      } as never)
      shards.push(shard)
      return shard
    },
  }
}

/** Workers of one in-process store. */
export function memoryWorkers() {
  const store = new MemoryStore()
  return {
    store,
    worker: async (options: Partial<MemoryShardOptions> = {}): Promise<Shard> =>
      new MemoryShard({ codec: codec(), store, ...options }),
  }
}

/** The worker process of the multi-process tests. */
export const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url))

/** Spawns the fixture worker process (stdout piped). */
export function spawnWorker(args: string[]) {
  return spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@phonon/source', WORKER, ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
}
