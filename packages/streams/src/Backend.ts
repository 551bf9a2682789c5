import type { StreamDefinition } from './config.js'

/** A record as a backend stores it. */
export interface StoredRecord {
  /** Its sequence number in its shard: increasing, unique per shard. */
  readonly sequence: string
  /** When it was appended (ms since the epoch, the backend's clock). */
  readonly timestamp: number
  /** The record, JSON-encoded, or the records aggregated into it (see `aggregation.ts`). */
  readonly data: string
}

/**
 * Where a read starts: after or at a sequence, at a timestamp, from the oldest record kept, or
 * at a backend's own opaque position (made by {@link Backend.pin}, read only by that backend).
 */
export type ReadFrom =
  | { readonly after: string }
  | { readonly at: string }
  | { readonly timestamp: number }
  | { readonly cursor: string }
  | 'all'

/** A shard's lease: who owns it, its fencing token, when it runs out (the backend's clock). */
export interface Lease {
  readonly shard: number
  readonly owner: string
  /** Strictly increasing per shard across every grant: the fencing token. */
  readonly token: number
  readonly expiresAt: number
}

/** A lease held, as its owner passes it back to renew, release and commit. */
export interface LeaseGrant {
  readonly shard: number
  readonly token: number
}

/** A shard in a commit: its grant, the checkpoint the round read from, where it moves to. */
export interface CommitEntry extends LeaseGrant {
  /** The shard's checkpoint the round started from (undefined: none was stored). */
  readonly from: string | undefined
  /** The last sequence the round processed (undefined: it read nothing of this shard). */
  readonly sequence?: string | undefined
}

/**
 * Batches whose stream ids an idempotent backend remembers per producer and shard, to answer a
 * batch sent again with the ids of its first append: 16. A {@link Producer} keeps at most this
 * many batches per shard in flight, so a batch it (or its client) sends again is always one of
 * them.
 */
export const PRODUCER_WINDOW = 16

/**
 * Who appends a batch, for an exactly-once append (see the README, "Exactly once"): the
 * payloads carry the producer's sequence numbers `first`, `first + 1`, … on the shard.
 */
export interface ProducerBatch {
  /** The producer's id. */
  readonly producerId: string
  /** Its epoch on the shard (0 for a random id; from {@link Backend.initProducer} otherwise). */
  readonly epoch: number
  /** The sequence number of the first payload; the others follow, one each. */
  readonly first: number
  /**
   * Every sequence below this the producer holds as appended (≤ `first`; below `first` when
   * earlier batches are still in flight or were given up, which the backend may then skip).
   */
  readonly floor: number
}

/**
 * How long a coordinator remembers a commit's id (ms), to answer a commit sent again after its
 * reply was lost `'already-committed'`: 10 minutes.
 */
export const COMMIT_IDS_KEPT_MS = 600_000

/**
 * Coordination of one application (a consumer group) on one stream: leases per shard,
 * forward-only checkpoints fenced by the lease, live members, and the write-ahead log of the
 * phonon source (see the README).
 */
export interface Coordinator {
  /** Takes the shard's lease when it is free, expired or already ours; its token, or undefined. */
  acquire(shard: number, owner: string, ttlMs: number): Promise<number | undefined>
  /** Extends leases still ours; for each, whether it was. */
  renew(grants: readonly LeaseGrant[], owner: string, ttlMs: number): Promise<boolean[]>
  /** Gives a lease up (no-op when it is no longer ours). */
  release(grant: LeaseGrant, owner: string): Promise<void>
  /** Every shard's current lease (undefined: never taken or released). */
  leases(): Promise<Array<Lease | undefined>>
  /** A shard's checkpoint: the last sequence processed, or undefined. */
  checkpoint(shard: number): Promise<string | undefined>
  /**
   * Commits a round, in one atomic step, exclusively and at most once:
   * - a commit whose `round.id` was committed already (an attempt whose reply was lost, sent
   *   again) writes nothing and answers `'already-committed'`, whoever holds the leases now (ids
   *   are remembered for {@link COMMIT_IDS_KEPT_MS});
   * - otherwise it checks every grant is still `owner`'s with that token, and (compare-and-set)
   *   that every shard's stored checkpoint is still `from`, the one the round read from
   *   (undefined: none); then it extends the grants, moves each given checkpoint to `sequence`,
   *   stores `round.wal` (if any) as the log entry `round.id`, and answers `'committed'`.
   * @throws {@link LeaseLost} when a grant is not ours any more; nothing is written.
   * @throws {@link CheckpointConflict} when a stored checkpoint is not `from` (another round
   *   committed that range already); nothing is written.
   * @throws {@link ArgumentError} when a checkpoint would move backwards; nothing is written.
   */
  commit(
    owner: string,
    ttlMs: number,
    entries: readonly CommitEntry[],
    round: { readonly id: string; readonly wal?: string | undefined },
  ): Promise<'committed' | 'already-committed'>
  /** Records `member` as alive for `ttlMs`; returns the live members, sorted. */
  heartbeat(member: string, ttlMs: number): Promise<string[]>
  /** Removes a member. */
  leave(member: string): Promise<void>
  /** Ids of write-ahead log entries committed at least `ageMs` ago, oldest first. */
  walEntries(ageMs: number): Promise<string[]>
  /** A write-ahead log entry, or undefined once removed. */
  walEntry(id: string): Promise<string | undefined>
  /**
   * How long ago (ms, by the coordinator's clock: Redis' server time) the entry was committed,
   * or undefined once removed. Optional: without it a phonon source cannot tell a replay later
   * than the shard's `retryWindowMs` (see `LateReplay`).
   */
  walEntryAge?(id: string): Promise<number | undefined>
  /** Removes a write-ahead log entry once it was applied. */
  removeWal(id: string): Promise<void>
}

/** Where a stream's records live: Redis Streams or memory, behind one interface. */
export interface Backend {
  /**
   * The largest stored record the backend takes (bytes), when it has a limit a producer must
   * keep aggregated records under (Kinesis: 1 MiB with the partition key).
   */
  readonly maxRecordBytes?: number
  /**
   * Whether {@link Backend.append} honours a {@link ProducerBatch} (exactly-once appends): Redis
   * and memory do; Kinesis does not (it has no idempotent producer: at least once).
   */
  readonly idempotent: boolean
  /**
   * Appends payloads to one shard in order; their sequence numbers. With `producer` (on an
   * {@link Backend.idempotent} backend) a payload whose producer sequence was appended already
   * is not appended again: its first sequence number is answered, the same on every retry.
   * @throws {@link ProducerFenced} when a newer process took the producer id; nothing written.
   * @throws {@link SequenceError} for a gap or a sequence older than {@link PRODUCER_WINDOW}
   *   batches; nothing written.
   * @throws {@link StreamError} when the backend fails: the batch may or may not be appended.
   */
  append(
    stream: StreamDefinition,
    shard: number,
    payloads: readonly string[],
    producer?: ProducerBatch,
  ): Promise<string[]>
  /**
   * Starts a producer id on a shard (a process reusing an id it was given): takes the id's next
   * epoch, fencing its older processes, and returns it with the next sequence to use. Only on
   * {@link Backend.idempotent} backends.
   */
  initProducer?(
    stream: StreamDefinition,
    shard: number,
    producerId: string,
  ): Promise<{ readonly epoch: number; readonly next: number }>
  /** The shard's last sequence, or undefined when it holds nothing. */
  last(stream: StreamDefinition, shard: number): Promise<StoredRecord | undefined>
  /**
   * The position just past the shard's last record now, when the backend has a cheaper way to
   * it than {@link Backend.last} (Kinesis: a LATEST shard iterator).
   */
  pin?(stream: StreamDefinition, shard: number): Promise<ReadFrom>
  /**
   * Up to `limit` records of a shard, oldest first.
   * @throws {@link ArgumentError} for a `cursor` this backend did not make.
   */
  read(
    stream: StreamDefinition,
    shard: number,
    from: ReadFrom,
    limit: number,
  ): Promise<StoredRecord[]>
  /** The coordination of `application` on `stream`. */
  coordinator(stream: StreamDefinition, application: string): Coordinator
  /** The backend's clock (ms since the epoch). */
  now(): Promise<number>
  close(): Promise<void>
}
