import { ArgumentError } from '@phonon/core'
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
import { CheckpointConflict, LeaseLost, ProducerFenced, SequenceError } from '../errors.js'
import { assertNoCursor } from '../Iterator.js'
import { compareSequences } from '../routing.js'

/** A producer's state on a shard, as `append-2.lua` keeps it. */
interface ProducerState {
  epoch: number
  last: number
  /** Its last appended batches (oldest first): first sequence and the ids. */
  window: Array<{ first: number; ids: string[] }>
  expiresAt: number
}

/**
 * Streams in this process: the same behaviour as Redis Streams (sequences `<ms>-<n>`, retention
 * by age, exactly-once producers, leases, fenced checkpoints), for tests and single-process runs:
 * the reference model of the Redis scripts.
 */
export class MemoryBackend implements Backend {
  readonly idempotent = true
  readonly #shards = new Map<string, StoredRecord[]>()
  /** Producer states by stream, shard and producer id; each expires after the retention. */
  readonly #producers = new Map<string, ProducerState>()
  #sweepAt = Number.NEGATIVE_INFINITY
  readonly #coordinators = new Map<string, MemoryCoordinator>()
  readonly #clock: () => number

  /** @param clock - the backend's clock (ms); default `Date.now`. */
  constructor(clock: () => number = Date.now) {
    this.#clock = clock
  }

  async append(
    stream: StreamDefinition,
    shard: number,
    payloads: readonly string[],
    producer?: ProducerBatch,
  ) {
    const now = this.#clock()
    if (now >= this.#sweepAt) {
      // Expired producer states go (at most once a second, not on every append).
      this.#sweepAt = now + 1_000
      for (const [key, state] of this.#producers) {
        if (state.expiresAt <= now) this.#producers.delete(key)
      }
    }
    if (producer === undefined) return this.#add(stream, shard, payloads, now)
    // As append-2.lua: fencing, gap, the known records from the window, the rest appended.
    const { producerId, epoch, first, floor } = producer
    const key = `${stream.name}\0${shard}\0${producerId}`
    const kept = this.#producers.get(key)
    const state = kept !== undefined && kept.expiresAt > now ? kept : undefined
    const last = state?.last ?? first - 1
    if (state !== undefined) {
      if (epoch < state.epoch) throw new ProducerFenced(shard, producerId, epoch, state.epoch)
      if (last + 1 < floor) throw new SequenceError('gap', shard, producerId, first, last)
    }
    const n = payloads.length
    const known = Math.max(0, Math.min(last, first + n - 1) - first + 1)
    const ids: string[] = new Array(n)
    for (let i = 0; i < known; i++) {
      const s = first + i
      const batch = state?.window.find((b) => b.first <= s && s < b.first + b.ids.length)
      if (batch === undefined) throw new SequenceError('stale', shard, producerId, first, last)
      ids[i] = batch.ids[s - batch.first] as string
    }
    const window = state?.window ?? []
    if (known < n) {
      const added = this.#add(stream, shard, payloads.slice(known), now)
      for (let i = known; i < n; i++) ids[i] = added[i - known] as string
      window.push({ first: first + known, ids: added })
      if (window.length > PRODUCER_WINDOW) window.shift()
    } else this.#add(stream, shard, [], now) // the trim
    this.#producers.set(key, {
      epoch,
      last: Math.max(last, first + n - 1),
      window,
      expiresAt: now + stream.retentionMs,
    })
    return ids
  }

  async initProducer(stream: StreamDefinition, shard: number, producerId: string) {
    const now = this.#clock()
    const key = `${stream.name}\0${shard}\0${producerId}`
    const was = this.#producers.get(key)
    const state =
      was !== undefined && was.expiresAt > now
        ? { ...was, epoch: was.epoch + 1 }
        : { epoch: 1, last: 0, window: [] }
    this.#producers.set(key, { ...state, expiresAt: now + stream.retentionMs })
    return { epoch: state.epoch, next: state.last + 1 }
  }

  /** Trims the shard to the retention and appends `payloads`: their sequences. */
  #add(stream: StreamDefinition, shard: number, payloads: readonly string[], now: number) {
    const records = this.#shard(stream, shard)
    const oldest = records.findIndex((r) => r.timestamp >= now - stream.retentionMs)
    records.splice(0, oldest === -1 ? records.length : oldest)
    return payloads.map((data) => {
      const last = records.at(-1)?.sequence.split('-').map(Number) ?? [0, 0]
      const [ms = 0, n = 0] = last
      const sequence = now > ms ? `${now}-0` : `${ms}-${n + 1}`
      records.push({ sequence, timestamp: Math.max(now, ms), data })
      return sequence
    })
  }

  async last(stream: StreamDefinition, shard: number) {
    return this.#shard(stream, shard).at(-1)
  }

  async read(stream: StreamDefinition, shard: number, from: ReadFrom, limit: number) {
    assertNoCursor(from)
    const records = this.#shard(stream, shard)
    const keep = (r: StoredRecord) =>
      from === 'all'
        ? true
        : 'after' in from
          ? compareSequences(r.sequence, from.after) > 0
          : 'at' in from
            ? compareSequences(r.sequence, from.at) >= 0
            : r.timestamp >= from.timestamp
    const start = records.findIndex(keep)
    return start === -1 ? [] : records.slice(start, start + limit)
  }

  coordinator(stream: StreamDefinition, application: string): Coordinator {
    const key = `${stream.name}\0${application}`
    let coordinator = this.#coordinators.get(key)
    if (coordinator === undefined) {
      coordinator = new MemoryCoordinator(stream.shards, this.#clock)
      this.#coordinators.set(key, coordinator)
    }
    return coordinator
  }

  async now() {
    return this.#clock()
  }

  async close() {}

  #shard(stream: StreamDefinition, shard: number): StoredRecord[] {
    const key = `${stream.name}\0${shard}`
    let records = this.#shards.get(key)
    if (records === undefined) {
      records = []
      this.#shards.set(key, records)
    }
    return records
  }
}

/** Leases, checkpoints, members and the write-ahead log of one application, in memory. */
class MemoryCoordinator implements Coordinator {
  readonly #leases: Array<Lease | undefined>
  readonly #tokens: number[]
  readonly #checkpoints = new Map<number, string>()
  readonly #members = new Map<string, number>()
  readonly #wal = new Map<string, { at: number; blob: string }>()
  /** Ids of commits by when they were committed (oldest first), kept COMMIT_IDS_KEPT_MS. */
  readonly #commits = new Map<string, number>()

  constructor(
    shards: number,
    readonly clock: () => number,
  ) {
    this.#leases = Array.from({ length: shards }, () => undefined)
    this.#tokens = Array.from({ length: shards }, () => 0)
  }

  async acquire(shard: number, owner: string, ttlMs: number) {
    const now = this.clock()
    const lease = this.#leases[shard]
    if (lease !== undefined && lease.owner !== owner && lease.expiresAt > now) return undefined
    const token = ++(this.#tokens[shard] as number)
    this.#leases[shard] = { shard, owner, token, expiresAt: now + ttlMs }
    return token
  }

  async renew(grants: readonly LeaseGrant[], owner: string, ttlMs: number) {
    return grants.map((grant) => {
      const lease = this.#leases[grant.shard]
      if (lease?.owner !== owner || lease.token !== grant.token) return false
      this.#leases[grant.shard] = { ...lease, expiresAt: this.clock() + ttlMs }
      return true
    })
  }

  async release(grant: LeaseGrant, owner: string) {
    const lease = this.#leases[grant.shard]
    if (lease?.owner === owner && lease.token === grant.token) this.#leases[grant.shard] = undefined
  }

  async leases() {
    return [...this.#leases]
  }

  async checkpoint(shard: number) {
    return this.#checkpoints.get(shard)
  }

  async commit(
    owner: string,
    ttlMs: number,
    entries: readonly CommitEntry[],
    round: { readonly id: string; readonly wal?: string | undefined },
  ) {
    if (this.#commits.has(round.id)) return 'already-committed' as const
    for (const entry of entries) {
      const lease = this.#leases[entry.shard]
      if (lease?.owner !== owner || lease.token !== entry.token) throw new LeaseLost(entry.shard)
      const current = this.#checkpoints.get(entry.shard)
      if (current !== entry.from) throw new CheckpointConflict(entry.shard, entry.from, current)
      if (
        entry.sequence !== undefined &&
        current !== undefined &&
        compareSequences(entry.sequence, current) < 0
      ) {
        throw new ArgumentError(
          `checkpoint of shard ${entry.shard} would move back from ${current} to ${entry.sequence}`,
        )
      }
    }
    const now = this.clock()
    for (const entry of entries) {
      const lease = this.#leases[entry.shard] as Lease
      this.#leases[entry.shard] = { ...lease, expiresAt: now + ttlMs }
      if (entry.sequence !== undefined) this.#checkpoints.set(entry.shard, entry.sequence)
    }
    if (round.wal !== undefined) this.#wal.set(round.id, { at: now, blob: round.wal })
    this.#commits.set(round.id, now)
    for (const [id, at] of this.#commits) {
      if (at > now - COMMIT_IDS_KEPT_MS) break
      this.#commits.delete(id)
    }
    return 'committed' as const
  }

  async heartbeat(member: string, ttlMs: number) {
    const now = this.clock()
    this.#members.set(member, now + ttlMs)
    for (const [name, until] of this.#members) if (until <= now) this.#members.delete(name)
    return [...this.#members.keys()].sort()
  }

  async leave(member: string) {
    this.#members.delete(member)
  }

  async walEntries(ageMs: number) {
    const before = this.clock() - ageMs
    return [...this.#wal]
      .filter(([, entry]) => entry.at <= before)
      .sort((a, b) => a[1].at - b[1].at)
      .map(([id]) => id)
  }

  async walEntry(id: string) {
    return this.#wal.get(id)?.blob
  }

  async walEntryAge(id: string) {
    const entry = this.#wal.get(id)
    return entry === undefined ? undefined : this.clock() - entry.at
  }

  async removeWal(id: string) {
    this.#wal.delete(id)
  }
}
