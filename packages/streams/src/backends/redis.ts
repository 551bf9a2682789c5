import { readFileSync } from 'node:fs'
import { ArgumentError } from '@phonon/core'
import { type Cluster, Redis, type RedisOptions } from 'ioredis'
import {
  type Backend,
  COMMIT_IDS_KEPT_MS,
  type CommitEntry,
  type Coordinator,
  type Lease,
  type LeaseGrant,
  PRODUCER_WINDOW,
  type ProducerBatch,
  type ReadFrom,
  type StoredRecord,
} from '../Backend.js'
import type { StreamDefinition } from '../config.js'
import {
  CheckpointConflict,
  LeaseLost,
  ProducerFenced,
  SequenceError,
  StreamError,
} from '../errors.js'
import { assertNoCursor } from '../Iterator.js'

/** The package's scripts, registered under names carrying this version. */
const SCRIPTS = {
  leaseAcquire: { file: 'leaseAcquire-2.lua', keys: 2 },
  leaseRenew: { file: 'leaseRenew-1.lua', keys: 1 },
  commit: { file: 'commit-5.lua', keys: 5 },
  heartbeat: { file: 'heartbeat-1.lua', keys: 1 },
  append: { file: 'append-2.lua', keys: 2 },
  producerInit: { file: 'producerInit-1.lua', keys: 1 },
} as const
const VERSION = 'v2'
const LUA_DIR = new URL('../lua/', import.meta.url)

type ScriptClient = (Redis | Cluster) & {
  [K in `triton_${keyof typeof SCRIPTS}_${typeof VERSION}`]: (
    ...args: Array<string | number>
  ) => Promise<unknown>
}

/**
 * The key of a shard's records: `{triton:<name>:<i>}`, its own hash tag, so each shard (and what
 * belongs to it alone) sits in one Cluster slot and shards spread over the nodes.
 */
export const shardKey = (stream: StreamDefinition, shard: number): string =>
  `{triton:${stream.name}:${shard}}`

/**
 * The key of a producer's state on a shard (its epoch, last sequence and the ids of its last
 * batches, see `append-2.lua`): `{triton:<name>:<i>}:producer:<id>`, under the shard's hash tag
 * so the append script touches one Cluster slot; it expires after the stream's retention.
 */
export const producerKey = (stream: StreamDefinition, shard: number, producerId: string): string =>
  `${shardKey(stream, shard)}:producer:${producerId}`

/**
 * The coordination keys of an application on a stream share the tag `{triton:<name>:app:<app>}`,
 * so a commit (leases, checkpoints, log) is one single-slot script.
 */
export const coordinationKeys = (stream: StreamDefinition, application: string) => {
  const tag = `{triton:${stream.name}:app:${application}}`
  return {
    leases: `${tag}:leases`,
    tokens: `${tag}:tokens`,
    checkpoints: `${tag}:checkpoints`,
    wal: `${tag}:wal`,
    walIndex: `${tag}:wal-index`,
    commits: `${tag}:commits`,
    members: `${tag}:members`,
  }
}

/** Options of {@link RedisBackend}. */
export interface RedisBackendOptions {
  /**
   * A `redis://` URL, or an ioredis client (not closed by `close()`): a `Redis` connection or a
   * `Cluster` (every command and script touches one hash tag: one slot).
   */
  readonly redis: string | Redis | Cluster
  /** ioredis options when `redis` is a URL. */
  readonly redisOptions?: RedisOptions
}

/**
 * Streams on Redis Streams: a logical stream of N shards is N stream keys (a producer's batch is
 * one script: its records' `XADD`s, skipping those of its sequences already appended, then one
 * `XTRIM MINID ~` trimming records older than the retention; `XRANGE` to read); leases,
 * checkpoints and the source's log are hashes written by scripts. Exactly-once appends: see
 * {@link Backend.append}.
 */
export class RedisBackend implements Backend {
  readonly redis: Redis | Cluster
  readonly #owned: boolean

  constructor(options: RedisBackendOptions) {
    this.#owned = typeof options.redis === 'string'
    this.redis =
      typeof options.redis === 'string'
        ? new Redis(options.redis, { ...options.redisOptions } as never)
        : options.redis
    for (const [name, { file, keys }] of Object.entries(SCRIPTS)) {
      const lua = readFileSync(new URL(file, LUA_DIR), 'utf8')
      this.redis.defineCommand(`triton_${name}_${VERSION}`, { numberOfKeys: keys, lua })
    }
  }

  get #scripts(): ScriptClient {
    return this.redis as ScriptClient
  }

  readonly idempotent = true

  async append(
    stream: StreamDefinition,
    shard: number,
    payloads: readonly string[],
    producer?: ProducerBatch,
  ) {
    const key = shardKey(stream, shard)
    const minId = String(Math.max(0, Date.now() - stream.retentionMs))
    if (producer !== undefined) {
      // One script per batch: dedupe by (producer, sequence), XADDs, trim, the producer's state.
      const reply = (await wrap(
        this.#scripts.triton_append_v2(
          key,
          producerKey(stream, shard, producer.producerId),
          producer.epoch,
          producer.first,
          producer.floor,
          minId,
          stream.retentionMs,
          PRODUCER_WINDOW,
          ...payloads,
        ),
      )) as number[]
      const code = reply[0] as number
      if (code < 0) {
        const { producerId, epoch, first } = producer
        const other = reply[1] as number
        if (code === -1) throw new ProducerFenced(shard, producerId, epoch, other)
        throw new SequenceError(code === -2 ? 'gap' : 'stale', shard, producerId, first, other)
      }
      // Runs of consecutive ids: (index from 1, count, ms, k) → `<ms>-<k>`, `<ms>-<k + 1>`, …
      const ids = new Array<string>(payloads.length)
      for (let r = 0; r < reply.length; r += 4) {
        const [index, count, ms, k] = reply.slice(r, r + 4) as [number, number, number, number]
        for (let j = 0; j < count; j++) ids[index - 1 + j] = `${ms}-${k + j}`
      }
      return ids
    }
    // One trim per batch (not per record): records older than the retention go, roughly.
    const pipeline = this.redis.pipeline()
    for (const data of payloads) pipeline.xadd(key, '*', 'd', data)
    pipeline.xtrim(key, 'MINID', '~', minId)
    const replies = await wrap(pipeline.exec())
    return (replies ?? []).slice(0, payloads.length).map(([error, id]) => {
      if (error) throw new StreamError(`XADD to ${key} failed: ${error.message}`, { cause: error })
      return id as string
    })
  }

  async initProducer(stream: StreamDefinition, shard: number, producerId: string) {
    const [epoch, last] = (await wrap(
      this.#scripts.triton_producerInit_v2(
        producerKey(stream, shard, producerId),
        stream.retentionMs,
      ),
    )) as [number, number]
    return { epoch, next: last + 1 }
  }

  async last(stream: StreamDefinition, shard: number) {
    const [entry] = await wrap(this.redis.xrevrange(shardKey(stream, shard), '+', '-', 'COUNT', 1))
    return entry === undefined ? undefined : toRecord(entry)
  }

  async read(stream: StreamDefinition, shard: number, from: ReadFrom, limit: number) {
    assertNoCursor(from)
    const start =
      from === 'all'
        ? '-'
        : 'after' in from
          ? `(${from.after}`
          : 'at' in from
            ? from.at
            : String(from.timestamp)
    // Buffers, not strings: ioredis decodes every reply into Buffers and its string commands
    // then copy each reply array while converting every Buffer; reading the Buffers once here
    // converts only the id and the data (not the field name) and builds no intermediate arrays.
    const entries = await wrap(
      this.redis.xrangeBuffer(shardKey(stream, shard), start, '+', 'COUNT', limit),
    )
    const records = new Array<StoredRecord>(entries.length)
    for (let i = 0; i < entries.length; i++) {
      const [id, fields] = entries[i] as [Buffer, Buffer[]]
      const sequence = id.toString('latin1') // `<ms>-<n>`: ASCII digits
      records[i] = {
        sequence,
        timestamp: Number.parseInt(sequence, 10), // the `<ms>` part: parsing stops at the '-'
        data: (fields[1] as Buffer).toString('utf8'),
      }
    }
    return records
  }

  coordinator(stream: StreamDefinition, application: string): Coordinator {
    return new RedisCoordinator(this.#scripts, stream, application)
  }

  async now() {
    const [s, us] = await wrap(this.redis.time())
    return Number(s) * 1000 + Math.floor(Number(us) / 1000)
  }

  async close() {
    if (this.#owned) await this.redis.quit().catch(() => this.redis.disconnect())
  }
}

function toRecord([sequence, fields]: [string, string[]]): StoredRecord {
  return { sequence, timestamp: Number.parseInt(sequence, 10), data: fields[1] as string }
}

/** Redis failures as {@link StreamError}s. */
async function wrap<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise
  } catch (error) {
    if (error instanceof StreamError || error instanceof LeaseLost) throw error
    throw new StreamError(`Redis: ${(error as Error).message}`, { cause: error })
  }
}

class RedisCoordinator implements Coordinator {
  readonly #keys: ReturnType<typeof coordinationKeys>

  constructor(
    readonly redis: ScriptClient,
    stream: StreamDefinition,
    application: string,
  ) {
    this.#keys = coordinationKeys(stream, application)
  }

  async acquire(shard: number, owner: string, ttlMs: number) {
    const k = this.#keys
    const token = Number(
      await wrap(this.redis.triton_leaseAcquire_v2(k.leases, k.tokens, shard, owner, ttlMs)),
    )
    return token < 0 ? undefined : token
  }

  async renew(grants: readonly LeaseGrant[], owner: string, ttlMs: number) {
    if (grants.length === 0) return []
    const args = grants.flatMap((g) => [g.shard, g.token])
    const reply = (await wrap(
      this.redis.triton_leaseRenew_v2(this.#keys.leases, owner, ttlMs, ...args),
    )) as number[]
    return reply.map((ok) => ok === 1)
  }

  async release(grant: LeaseGrant, owner: string) {
    await wrap(
      this.redis.triton_leaseRenew_v2(this.#keys.leases, owner, 0, grant.shard, grant.token),
    )
  }

  async leases() {
    const all = await wrap(this.redis.hgetall(this.#keys.leases))
    const leases: Array<Lease | undefined> = []
    for (const [shard, value] of Object.entries(all)) {
      const [, owner = '', token = '0', expiresAt = '0'] = /^(.*)\|(\d+)\|(\d+)$/.exec(value) ?? []
      leases[Number(shard)] = {
        shard: Number(shard),
        owner,
        token: Number(token),
        expiresAt: Number(expiresAt),
      }
    }
    return leases
  }

  async checkpoint(shard: number) {
    return (await wrap(this.redis.hget(this.#keys.checkpoints, String(shard)))) ?? undefined
  }

  async commit(
    owner: string,
    ttlMs: number,
    entries: readonly CommitEntry[],
    round: { readonly id: string; readonly wal?: string | undefined },
  ) {
    const k = this.#keys
    const args = entries.flatMap((e) => [e.shard, e.token, e.from ?? '', e.sequence ?? ''])
    const reply = (await wrap(
      this.redis.triton_commit_v2(
        k.leases,
        k.checkpoints,
        k.wal,
        k.walIndex,
        k.commits,
        owner,
        ttlMs,
        round.id,
        round.wal ?? '',
        COMMIT_IDS_KEPT_MS,
        entries.length,
        ...args,
      ),
    )) as [number, number?, string?]
    if (reply[0] === 1) return 'already-committed' as const
    if (reply[0] === -1) throw new LeaseLost(reply[1] as number)
    if (reply[0] === -3) {
      const shard = reply[1] as number
      const from = entries.find((e) => e.shard === shard)?.from
      throw new CheckpointConflict(shard, from, reply[2] || undefined)
    }
    if (reply[0] === -2) {
      throw new ArgumentError(`checkpoint of shard ${reply[1]} would move back from ${reply[2]}`)
    }
    return 'committed' as const
  }

  async heartbeat(member: string, ttlMs: number) {
    return (await wrap(
      this.redis.triton_heartbeat_v2(this.#keys.members, member, ttlMs),
    )) as string[]
  }

  async leave(member: string) {
    await wrap(this.redis.zrem(this.#keys.members, member))
  }

  async walEntries(ageMs: number) {
    const [s, us] = await wrap(this.redis.time())
    const before = Number(s) * 1000 + Math.floor(Number(us) / 1000) - ageMs
    return wrap(this.redis.zrangebyscore(this.#keys.walIndex, '-inf', before))
  }

  async walEntry(id: string) {
    return (await wrap(this.redis.hget(this.#keys.wal, id))) ?? undefined
  }

  async walEntryAge(id: string) {
    const [score, [s, us]] = await wrap(
      Promise.all([this.redis.zscore(this.#keys.walIndex, id), this.redis.time()]),
    )
    if (score === null) return undefined
    return Number(s) * 1000 + Math.floor(Number(us) / 1000) - Number(score)
  }

  async removeWal(id: string) {
    await wrap(this.redis.multi().hdel(this.#keys.wal, id).zrem(this.#keys.walIndex, id).exec())
  }
}
