import { ArgumentError, type Json } from '@phonon/core'
import { type Driver, type Queryable, rowsOf } from './driver.js'
import { EventStoreError, messageOf } from './errors.js'
import { type PGliteConnection, pgliteDriver } from './stores/pglite.js'
import { type PostgresConnection, postgresDriver } from './stores/postgres.js'

/**
 * A place in the log. Events are ordered by `(tx, id)`: the id of the transaction that wrote
 * them (`pg_current_xact_id()`), then their own id. Reads stop below the oldest transaction still
 * running, so nothing can later appear behind a position already passed.
 */
export interface Position {
  readonly tx: string
  readonly id: string
}

/** One event as stored. */
export interface StoredEvent<P extends Json = Json> {
  /** Its id, unique in the log, increasing in insertion order (not in commit order). */
  readonly id: number
  readonly name: string
  readonly payload: P
  /** When it was logged (the start of the transaction that logged it). */
  readonly createdAt: Date
  /** Where it sits in the log. */
  readonly position: Position
}

/** What {@link EventStore.append} returns for each event, in the order given. */
export interface LoggedEvent {
  readonly id: number
  readonly name: string
  readonly createdAt: Date
}

/** A run of one consumer's events leased to one worker. */
export interface Batch {
  readonly consumer: string
  /** Exclusive lower end: the events after it … */
  readonly after: Position
  /** … up to and including this one. */
  readonly last: Position
  /** The lease's fencing token: a takeover increments it, and only its holder may finish. */
  readonly token: number
  /** Failures of the batch's first event so far. */
  readonly attempts: number
  readonly events: readonly StoredEvent[]
}

/** Where a new consumer starts. */
export type StartFrom = 'beginning' | 'now'

/** Options of {@link EventStore}. */
export interface StoreOptions {
  /** The schema holding the store's tables (default `phonon_events`); created by `migrate`. */
  readonly schema?: string
  /** Notify consumers on each insert with a statement trigger (default true). */
  readonly notify?: boolean
}

/** What is left for one consumer. */
export interface ConsumerLag {
  readonly consumer: string
  /** Events of its names not yet consumed (leased ones included). */
  readonly events: number
  /** Age of the oldest of them in ms (0 when none). */
  readonly oldestMs: number
}

/** An event a consumer gave up on after `maxAttempts` failures. */
export interface DeadLetter {
  readonly consumer: string
  readonly event: StoredEvent
  readonly attempts: number
  readonly error: string
  readonly failedAt: Date
}

/** How a failed batch is retried. */
export interface RetryPolicy {
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

interface EventRow {
  id: string
  tx: string
  name: string
  payload: Json
  created_at: Date
}

interface BatchRow {
  after_tx: string
  after_id: string
  last_tx: string
  last_id: string
  token: string
  attempts: number
  events: string[]
}

const ZERO: Position = { tx: '0', id: '0' }
const EVENT_COLUMNS = 'id::text, tx::text, name, payload, created_at'

/**
 * The log and the consumers' positions in one PostgreSQL schema: tables `events` (one log, a
 * `name` column), `consumers` (names and the claimed position), `batches` (leased runs of
 * events) and `dead_letters`. Open one with {@link postgresStore} or {@link pgliteStore}.
 */
export class EventStore {
  readonly schema: string
  /** The LISTEN/NOTIFY channel inserts notify. */
  readonly channel: string
  private readonly t: (table: string) => string
  private readonly notify: boolean

  constructor(
    /** The database. */
    readonly driver: Driver,
    options: StoreOptions = {},
  ) {
    this.schema = options.schema ?? 'phonon_events'
    if (!/^[a-z_][a-z0-9_]{0,47}$/.test(this.schema)) {
      throw new ArgumentError(
        `schema option must be a lower-case SQL identifier of at most 48 characters, got ${JSON.stringify(this.schema)}`,
      )
    }
    this.channel = `${this.schema}_events`
    this.notify = options.notify ?? true
    this.t = (table) => `"${this.schema}".${table}`
  }

  /** Creates the schema, tables and trigger if missing; safe to run from several processes. */
  async migrate(): Promise<void> {
    const t = this.t
    await this.driver.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`phonon_events:${this.schema}`])
      const statements = [
        `CREATE SCHEMA IF NOT EXISTS "${this.schema}"`,
        `CREATE TABLE IF NOT EXISTS ${t('events')} (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
          name text NOT NULL,
          payload jsonb NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now())`,
        `CREATE INDEX IF NOT EXISTS events_tx_id ON ${t('events')} (tx, id)`,
        `CREATE TABLE IF NOT EXISTS ${t('consumers')} (
          name text PRIMARY KEY,
          events text[] NOT NULL,
          claimed_tx xid8 NOT NULL,
          claimed_id bigint NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now())`,
        `CREATE TABLE IF NOT EXISTS ${t('batches')} (
          consumer text NOT NULL REFERENCES ${t('consumers')} (name) ON DELETE CASCADE,
          after_tx xid8 NOT NULL,
          after_id bigint NOT NULL,
          last_tx xid8 NOT NULL,
          last_id bigint NOT NULL,
          token bigint NOT NULL,
          owner text,
          lease_until timestamptz NOT NULL,
          attempts int NOT NULL DEFAULT 0,
          last_error text,
          PRIMARY KEY (consumer, last_tx, last_id))`,
        `CREATE TABLE IF NOT EXISTS ${t('dead_letters')} (
          consumer text NOT NULL,
          event_id bigint NOT NULL,
          name text NOT NULL,
          payload jsonb NOT NULL,
          created_at timestamptz NOT NULL,
          attempts int NOT NULL,
          error text NOT NULL,
          failed_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (consumer, event_id))`,
        `CREATE OR REPLACE FUNCTION ${t('notify_events')}() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN PERFORM pg_notify('${this.channel}', ''); RETURN NULL; END $$`,
        this.notify
          ? `CREATE OR REPLACE TRIGGER events_notify AFTER INSERT ON ${t('events')}
              FOR EACH STATEMENT EXECUTE FUNCTION ${t('notify_events')}()`
          : `DROP TRIGGER IF EXISTS events_notify ON ${t('events')}`,
      ]
      for (const statement of statements) await tx.query(statement)
    })
  }

  /**
   * Appends events in one statement, in `tx` when given (committed with it), else on its own.
   * Payloads must already be checked ({@link EventManager} does).
   */
  async append(
    entries: readonly { readonly name: string; readonly payload: Json }[],
    tx?: Queryable,
  ): Promise<LoggedEvent[]> {
    if (entries.length === 0) return []
    const rows = await rowsOf<{ id: string; created_at: Date }>(
      tx ?? this.queryable,
      `INSERT INTO ${this.t('events')} (name, payload)
       SELECT e->>'name', e->'payload' FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, n)
       ORDER BY n
       RETURNING id::text, created_at`,
      [JSON.stringify(entries)],
    )
    return rows.map((row, i) => ({
      id: Number(row.id),
      name: entries[i]!.name,
      createdAt: row.created_at,
    }))
  }

  /**
   * Registers a consumer of `events`, starting at the beginning of the log or now (events of
   * transactions still running or begun later). An existing consumer keeps its position and
   * gets the new list of names.
   */
  async registerConsumer(
    name: string,
    events: readonly string[],
    startFrom: StartFrom,
  ): Promise<void> {
    await this.driver.query(
      `INSERT INTO ${this.t('consumers')} (name, events, claimed_tx, claimed_id)
       SELECT $1, $2::text[],
         CASE WHEN $3 THEN '0'::xid8 ELSE pg_snapshot_xmin(pg_current_snapshot()) END, 0
       ON CONFLICT (name) DO UPDATE SET events = excluded.events`,
      [name, events, startFrom === 'beginning'],
    )
  }

  /**
   * Leases the next batch of `consumer` to `owner` for `leaseMs`: first a batch whose lease ran
   * out (a dead or slow worker's, or a failed one whose backoff is over), else up to `limit` new
   * events after the claimed position. Undefined when there is nothing to do now.
   */
  async claim(
    consumer: string,
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<Batch | undefined> {
    return (
      (await this.retake(consumer, owner, leaseMs)) ??
      this.driver.transaction((tx) => this.claimNew(tx, consumer, owner, limit, leaseMs))
    )
  }

  private async retake(consumer: string, owner: string, leaseMs: number) {
    const t = this.t
    const [row] = await this.driver.query<BatchRow>(
      `UPDATE ${t('batches')} b
         SET token = b.token + 1, owner = $2, lease_until = now() + $3 * interval '1 millisecond'
       FROM (SELECT last_tx, last_id FROM ${t('batches')}
             WHERE consumer = $1 AND lease_until < now()
             ORDER BY last_tx, last_id LIMIT 1 FOR UPDATE SKIP LOCKED) x,
            ${t('consumers')} c
       WHERE b.consumer = $1 AND b.last_tx = x.last_tx AND b.last_id = x.last_id AND c.name = $1
       RETURNING b.after_tx::text, b.after_id::text, b.last_tx::text, b.last_id::text,
                 b.token::text, b.attempts, c.events`,
      [consumer, owner, leaseMs],
    )
    if (row === undefined) return undefined
    const after = { tx: row.after_tx, id: row.after_id }
    const last = { tx: row.last_tx, id: row.last_id }
    const events = await this.driver.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${t('events')}
       WHERE (tx, id) > ($1::xid8, $2::bigint) AND (tx, id) <= ($3::xid8, $4::bigint)
         AND name = ANY($5::text[])
       ORDER BY tx, id`,
      [after.tx, after.id, last.tx, last.id, row.events],
    )
    return batchOf(consumer, after, last, row, events)
  }

  private async claimNew(
    tx: Queryable,
    consumer: string,
    owner: string,
    limit: number,
    leaseMs: number,
  ): Promise<Batch | undefined> {
    const t = this.t
    // Claimers of one consumer take turns on its row; the lock is held for two short statements.
    const [state] = await rowsOf<{ events: string[]; claimed_tx: string; claimed_id: string }>(
      tx,
      `SELECT events, claimed_tx::text, claimed_id::text FROM ${t('consumers')}
       WHERE name = $1 FOR UPDATE`,
      [consumer],
    )
    if (state === undefined) throw new EventStoreError(`no consumer named ${consumer}`)
    const claimed = { tx: state.claimed_tx, id: state.claimed_id }
    // One statement, so one snapshot: every event below its xmin was committed (or rolled back)
    // before the snapshot, hence visible, and no event can appear there later. `horizon` is the
    // last such event of any name, so events of other names are passed without being read.
    const rows = await rowsOf<EventRow & { horizon: boolean }>(
      tx,
      `WITH snap AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
       matched AS (
         SELECT e.* FROM ${t('events')} e, snap
         WHERE (e.tx, e.id) > ($1::xid8, $2::bigint) AND e.tx < snap.xmin AND e.name = ANY($3::text[])
         ORDER BY e.tx, e.id LIMIT $4)
       SELECT ${EVENT_COLUMNS}, false AS horizon FROM matched
       UNION ALL
       (SELECT e.id::text, e.tx::text, '', 'null'::jsonb, e.created_at, true
        FROM ${t('events')} e, snap
        WHERE (e.tx, e.id) > ($1::xid8, $2::bigint) AND e.tx < snap.xmin
        ORDER BY e.tx DESC, e.id DESC LIMIT 1)`,
      [claimed.tx, claimed.id, state.events, limit],
    )
    const events = rows.filter((row) => !row.horizon).sort(compareRows)
    const horizon = rows.find((row) => row.horizon)
    const lastEvent = events.at(-1)
    const newClaimed =
      events.length === limit ? lastEvent : horizon === undefined ? lastEvent : horizon
    if (newClaimed === undefined) return undefined
    await tx.query(
      `UPDATE ${t('consumers')} SET claimed_tx = $2::xid8, claimed_id = $3 WHERE name = $1`,
      [consumer, newClaimed.tx, newClaimed.id],
    )
    if (lastEvent === undefined) return undefined
    const last = { tx: lastEvent.tx, id: lastEvent.id }
    await tx.query(
      `INSERT INTO ${t('batches')} (consumer, after_tx, after_id, last_tx, last_id, token, owner, lease_until)
       VALUES ($1, $2::xid8, $3, $4::xid8, $5, 1, $6, now() + $7 * interval '1 millisecond')`,
      [consumer, claimed.tx, claimed.id, last.tx, last.id, owner, leaseMs],
    )
    return batchOf(consumer, claimed, last, { token: '1', attempts: 0 }, events)
  }

  /**
   * Finishes a batch: its events are consumed. In `tx` when given (a transactional consumer's
   * writes commit with it). Resolves to false when the lease was lost (another worker took the
   * batch over): then, in `tx`, roll back.
   */
  async complete(batch: Batch, tx?: Queryable): Promise<boolean> {
    const rows = await rowsOf(
      tx ?? this.queryable,
      `DELETE FROM ${this.t('batches')}
       WHERE consumer = $1 AND last_tx = $2::xid8 AND last_id = $3 AND token = $4 RETURNING 1`,
      [batch.consumer, batch.last.tx, batch.last.id, batch.token],
    )
    return rows.length === 1
  }

  /**
   * Locks the batch for the rest of `tx` if the lease is still ours: a transactional consumer
   * calls it first, so a worker that lost its lease does no work, and a takeover (which skips
   * locked batches) waits for the transaction to end.
   */
  async lock(batch: Batch, tx: Queryable): Promise<boolean> {
    const rows = await rowsOf(
      tx,
      `SELECT 1 FROM ${this.t('batches')}
       WHERE consumer = $1 AND last_tx = $2::xid8 AND last_id = $3 AND token = $4 FOR UPDATE`,
      [batch.consumer, batch.last.tx, batch.last.id, batch.token],
    )
    return rows.length === 1
  }

  /**
   * Records that the batch's event at `index` failed with `error`. The events before it are done
   * (`prefixDone`), or put back as a batch of their own to retry at once (a transactional
   * consumer's, rolled back). The failing event is retried with exponential backoff, or written
   * to `dead_letters` and passed once it failed `policy.maxAttempts` times.
   * Resolves to false when the lease was lost (nothing recorded).
   */
  async fail(
    batch: Batch,
    index: number,
    error: unknown,
    policy: RetryPolicy,
    prefixDone: boolean,
  ): Promise<boolean> {
    const failed = batch.events[index]
    if (failed === undefined) throw new ArgumentError(`no event ${index} in the batch`)
    const before = index === 0 ? batch.after : batch.events[index - 1]!.position
    const attempts = index === 0 ? batch.attempts + 1 : 1
    const dead = attempts >= policy.maxAttempts
    const delayMs = dead ? 0 : Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempts - 1))
    const after = dead ? failed.position : before
    const t = this.t
    return this.driver.transaction(async (tx) => {
      if (!(await this.lock(batch, tx))) return false
      if (!prefixDone && index > 0) {
        await tx.query(
          `INSERT INTO ${t('batches')} (consumer, after_tx, after_id, last_tx, last_id, token, lease_until)
           VALUES ($1, $2::xid8, $3, $4::xid8, $5, 1, '-infinity')`,
          [batch.consumer, batch.after.tx, batch.after.id, before.tx, before.id],
        )
      }
      if (dead) {
        await tx.query(
          `INSERT INTO ${t('dead_letters')} (consumer, event_id, name, payload, created_at, attempts, error)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) ON CONFLICT DO NOTHING`,
          [
            batch.consumer,
            failed.id,
            failed.name,
            JSON.stringify(failed.payload),
            failed.createdAt,
            attempts,
            messageOf(error),
          ],
        )
      }
      const key = [batch.consumer, batch.last.tx, batch.last.id]
      if (after.tx === batch.last.tx && after.id === batch.last.id) {
        await tx.query(
          `DELETE FROM ${t('batches')} WHERE consumer = $1 AND last_tx = $2::xid8 AND last_id = $3`,
          key,
        )
      } else {
        await tx.query(
          `UPDATE ${t('batches')}
           SET after_tx = $4::xid8, after_id = $5, attempts = $6, last_error = $7, owner = NULL,
               token = token + 1, lease_until = now() + $8 * interval '1 millisecond'
           WHERE consumer = $1 AND last_tx = $2::xid8 AND last_id = $3`,
          [...key, after.tx, after.id, dead ? 0 : attempts, messageOf(error), delayMs],
        )
      }
      return true
    })
  }

  /**
   * Where each consumer is done up to: the start of its oldest unfinished batch, else its
   * claimed position. Every event at or before it is consumed (or dead-lettered).
   */
  async positions(): Promise<Map<string, { done: Position; events: string[] }>> {
    const t = this.t
    const rows = await this.driver.query<{
      name: string
      events: string[]
      done_tx: string
      done_id: string
    }>(
      `SELECT c.name, c.events,
         COALESCE(b.after_tx, c.claimed_tx)::text AS done_tx,
         COALESCE(b.after_id, c.claimed_id)::text AS done_id
       FROM ${t('consumers')} c
       LEFT JOIN LATERAL (SELECT after_tx, after_id FROM ${t('batches')}
                          WHERE consumer = c.name ORDER BY after_tx, after_id LIMIT 1) b ON true`,
    )
    return new Map(
      rows.map((row) => [
        row.name,
        { done: { tx: row.done_tx, id: row.done_id }, events: row.events },
      ]),
    )
  }

  /** What is left for each consumer (all of them, or those named). */
  async lag(consumers?: readonly string[]): Promise<ConsumerLag[]> {
    const result: ConsumerLag[] = []
    for (const [consumer, { done, events }] of await this.positions()) {
      if (consumers !== undefined && !consumers.includes(consumer)) continue
      const [row] = await this.driver.query<{ n: number; oldest_ms: number | null }>(
        `SELECT count(*)::int AS n,
           (extract(epoch FROM now() - min(created_at)) * 1000)::float8 AS oldest_ms
         FROM ${this.t('events')}
         WHERE (tx, id) > ($1::xid8, $2::bigint) AND name = ANY($3::text[])`,
        [done.tx, done.id, events],
      )
      result.push({ consumer, events: row?.n ?? 0, oldestMs: Math.max(0, row?.oldest_ms ?? 0) })
    }
    return result
  }

  /**
   * Deletes the events every consumer is done with that are older than `olderThanMs`. With no
   * consumer registered, every event older than that goes. Resolves to the number deleted.
   */
  async retain(olderThanMs: number): Promise<number> {
    if (!(Number.isFinite(olderThanMs) && olderThanMs >= 0)) {
      throw new ArgumentError(`olderThanMs must be a finite number ≥ 0, got ${olderThanMs}`)
    }
    let bound: Position | undefined
    for (const { done } of (await this.positions()).values()) {
      if (bound === undefined || comparePositions(done, bound) < 0) bound = done
    }
    const rows = await this.driver.query(
      `DELETE FROM ${this.t('events')}
       WHERE created_at < now() - $1 * interval '1 millisecond'
         AND ($2::boolean OR (tx, id) <= ($3::xid8, $4::bigint))
       RETURNING 1`,
      [olderThanMs, bound === undefined, (bound ?? ZERO).tx, (bound ?? ZERO).id],
    )
    return rows.length
  }

  /** The dead letters of a consumer (or of all), oldest first. */
  async deadLetters(consumer?: string): Promise<DeadLetter[]> {
    const rows = await this.driver.query<
      EventRow & { consumer: string; attempts: number; error: string; failed_at: Date }
    >(
      `SELECT consumer, event_id::text AS id, '0' AS tx, name, payload, created_at, attempts, error, failed_at
       FROM ${this.t('dead_letters')} WHERE $1::text IS NULL OR consumer = $1
       ORDER BY failed_at, event_id`,
      [consumer ?? null],
    )
    return rows.map((row) => ({
      consumer: row.consumer,
      event: eventOf(row),
      attempts: row.attempts,
      error: row.error,
      failedAt: row.failed_at,
    }))
  }

  /** Calls `onNotify` whenever events are inserted; resolves to a function that stops it. */
  listen(onNotify: () => void): Promise<() => Promise<void>> {
    return this.driver.listen(this.channel, onNotify)
  }

  /** Closes the driver (not a pool or PGlite instance you gave it). */
  close(): Promise<void> {
    return this.driver.close()
  }

  private readonly queryable: Queryable = {
    query: async (text, params) => ({ rows: await this.driver.query(text, params ?? []) }),
  }
}

/** Orders positions as the log does: by transaction id, then event id. */
export function comparePositions(a: Position, b: Position): number {
  const byTx = compareDecimal(a.tx, b.tx)
  return byTx !== 0 ? byTx : compareDecimal(a.id, b.id)
}

function compareDecimal(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0
}

function compareRows(a: EventRow, b: EventRow): number {
  return comparePositions(a, b)
}

function eventOf(row: EventRow): StoredEvent {
  return {
    id: Number(row.id),
    name: row.name,
    payload: row.payload,
    createdAt: row.created_at,
    position: { tx: row.tx, id: row.id },
  }
}

function batchOf(
  consumer: string,
  after: Position,
  last: Position,
  row: { token: string; attempts: number },
  events: readonly EventRow[],
): Batch {
  return {
    consumer,
    after,
    last,
    token: Number(row.token),
    attempts: row.attempts,
    events: events.map(eventOf),
  }
}

/**
 * Opens an event store on PostgreSQL and creates its tables if missing.
 *
 * @param options - `pool` (a `pg` Pool, yours to end) or `connectionString`; `schema`, `notify`.
 * @returns the store; `close()` ends the pool it made.
 * @throws {@link EventStoreError} when `pg` is not installed; {@link ArgumentError} for a bad
 *   schema name; the driver's error when the database refuses.
 * @example
 * const store = await postgresStore({ connectionString: 'postgres://localhost/app' })
 */
export async function postgresStore(
  options: PostgresConnection & StoreOptions,
): Promise<EventStore> {
  return openStore(await postgresDriver(options), options)
}

/**
 * Opens an event store on PGlite (PostgreSQL in process; in memory unless `dataDir` is given)
 * and creates its tables if missing.
 *
 * @throws {@link EventStoreError} when `@electric-sql/pglite` is not installed.
 * @example
 * const store = await pgliteStore() // in memory
 */
export async function pgliteStore(
  options: PGliteConnection & StoreOptions = {},
): Promise<EventStore> {
  return openStore(await pgliteDriver(options), options)
}

async function openStore(driver: Driver, options: StoreOptions): Promise<EventStore> {
  try {
    const store = new EventStore(driver, options)
    await store.migrate()
    return store
  } catch (error) {
    await driver.close()
    throw error
  }
}
