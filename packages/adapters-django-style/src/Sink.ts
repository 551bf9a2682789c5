import { ArgumentError, type PhononError, type Update } from '@phonon/core'
import { type CreateTableBuilder, type LogConfig, sql } from 'kysely'
import { sqlType } from './columns.js'
import { refusesRow, sinkError } from './errors.js'
import { checkExecution, type Execution } from './execution.js'
import { rowOf } from './rows.js'
import type { Db, Dialect, Flavor, Target } from './sql.js'
import { type AnyTable, checkIdentifier, FENCE_COLUMN } from './Table.js'
import { describe } from './values.js'
import { type ExecuteResult, type Job, type Written, writeJobs, writeOne } from './write.js'

/** A CREATE TABLE being built, columns named at run time. */
type Builder = CreateTableBuilder<string, string>

/** Options every sink takes. */
export interface SinkOptions {
  /** The models `migrate()` creates tables for by default. */
  readonly models?: readonly AnyTable[]
  /**
   * How many times a transaction that lost a deadlock or a serialization conflict is retried
   * (default 8). The transaction rolled back entirely, so a retry is safe.
   */
  readonly retries?: number
  /** The table of recorded executions (default `phonon_executions`). */
  readonly executionsTable?: string
  /** Kysely's `log` option: levels to print, or a function called with every query and error. */
  readonly log?: LogConfig
}

/** One item of {@link Sink.executeMany}: an update, or an execution carrying its update (a `Claim`). */
export type BatchItem = Update | (Execution & { readonly update: Update })

/** An item of {@link Sink.executeMany} that was not written, and why. */
export interface BatchFailure {
  /** Its index in the items given. */
  readonly index: number
  /** The resource it writes, when the item names one. */
  readonly resourceId: string | undefined
  /**
   * {@link ArgumentError}: the item is invalid (found before any SQL); {@link StaleFencingToken}:
   * the row holds a higher fencing token; {@link SinkError}: the database refused the row
   * (`cause`: the driver's error).
   */
  readonly error: PhononError
}

/** What {@link Sink.executeMany} did. */
export interface BatchResult extends Written {
  /** The items not written, in the order given; every other item was applied or skipped. */
  readonly failed: readonly BatchFailure[]
}

/** The error codes of a lost deadlock or serialization conflict (PostgreSQL, MySQL). */
const RETRYABLE = new Set(['40P01', '40001', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'])

/**
 * A database phonon writes executions into: a Kysely handle on PostgreSQL, MySQL/MariaDB or
 * PGlite, the table of recorded executions, and the write path. Make one with {@link createSink}.
 */
export class Sink implements Target {
  /** The SQL family: PGlite speaks PostgreSQL. */
  readonly flavor: Flavor
  /** The models `migrate()` creates tables for by default. */
  readonly models: readonly AnyTable[]
  /** Retries of a transaction that lost a deadlock. */
  readonly retries: number
  /** The table of recorded executions. */
  readonly executionsTable: string

  /**
   * Prefer {@link createSink}.
   * @throws {@link ArgumentError} for a bad `retries`, `executionsTable` or `schema`.
   */
  constructor(
    /** The Kysely handle, with the sink's schema applied: the escape hatch for other queries. */
    readonly db: Db,
    /** Which database this is. */
    readonly dialect: Dialect,
    options: SinkOptions = {},
    /** The PostgreSQL schema the tables live in, when not the connection's default. */
    readonly schema?: string,
    /** The database, as errors name it: `PostgreSQL at 127.0.0.1:5432`, `PGlite in memory`. */
    readonly database: string = dialect,
  ) {
    this.flavor = dialect === 'mysql' ? 'mysql' : 'postgres'
    const checked = checkSinkOptions(options, schema)
    this.models = checked.models
    this.retries = checked.retries
    this.executionsTable = checked.executionsTable
  }

  /**
   * Runs `fn` in a transaction, retried from the start when it loses a deadlock or a
   * serialization conflict (up to `retries` times, with jittered backoff).
   *
   * @throws the phonon error `fn` throws (after a rollback), or a {@link SinkError} for any
   * other: the database unreachable, or refusing a statement (`cause`: the driver's error).
   */
  async transaction<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    try {
      return await this.retrying(fn)
    } catch (error) {
      throw sinkError(error, this.database)
    }
  }

  /**
   * Runs `fn` on the database handle, a driver's error becoming a {@link SinkError}.
   * @param what - what is done, for the error's message.
   * @throws the phonon error `fn` throws, or a {@link SinkError}.
   */
  async run<T>(what: string, fn: (db: Db) => Promise<T>): Promise<T> {
    try {
      return await fn(this.db)
    } catch (error) {
      throw sinkError(error, this.database, what)
    }
  }

  /** @internal {@link Sink.transaction} with the driver's errors as they are. */
  async retrying<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.db.transaction().execute(fn)
      } catch (error) {
        if (attempt >= this.retries || !retryable(error)) throw error
        await new Promise((resolve) =>
          setTimeout(resolve, Math.random() * 2 ** Math.min(attempt, 8)),
        )
      }
    }
  }

  /**
   * Creates what is missing (`CREATE … IF NOT EXISTS`): the schema, the executions table, and for
   * each model its table (with `phonon_fence`) and the child tables of its `set` columns. Never
   * alters or drops an existing table.
   *
   * @param models - the models (default: those the sink was created with).
   * @throws {@link SinkError} when the database cannot be reached or a statement fails.
   */
  async migrate(models: readonly AnyTable[] = this.models): Promise<void> {
    try {
      await this.#migrate(models)
    } catch (error) {
      throw sinkError(error, this.database, 'migrate')
    }
  }

  async #migrate(models: readonly AnyTable[]): Promise<void> {
    const db = this.db
    if (this.schema !== undefined) await db.schema.createSchema(this.schema).ifNotExists().execute()
    const end = this.flavor === 'mysql' ? sql.raw(` ${await this.#tableOptions()}`) : undefined
    let executions = db.schema
      .createTable(this.executionsTable)
      .ifNotExists()
      .addColumn('resource_id', 'varchar(512)', (c) => c.notNull())
      .addColumn('epoch', 'bigint', (c) => c.notNull())
      .addColumn('token', 'varchar(32)')
      .addColumn('executed_at', 'timestamp', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
      .addPrimaryKeyConstraint(`${this.executionsTable}_pkey`, ['resource_id', 'epoch'])
    if (end) executions = executions.modifyEnd(end)
    await executions.execute()
    for (const model of models) {
      let table: Builder = db.schema.createTable(model.table).ifNotExists()
      for (const [name, column] of model.keyColumns) {
        table = table.addColumn(name, sqlType(column), (c) => c.notNull())
      }
      for (const [name, column] of model.valueColumns) {
        if (column.kind === 'lastWrite') {
          table = table.addColumn(name, 'text').addColumn(`${name}_at`, 'double precision')
        } else if (column.merge === 'sum') {
          table = table.addColumn(name, sqlType(column), (c) => c.notNull().defaultTo(0))
        } else table = table.addColumn(name, sqlType(column))
      }
      table = table
        .addColumn(FENCE_COLUMN, 'bigint')
        .addPrimaryKeyConstraint(`${model.table}_pkey`, model.key as string[])
      await (end ? table.modifyEnd(end) : table).execute()
      for (const [name, column] of model.setColumns) {
        let child: Builder = db.schema.createTable(model.childTable(name)).ifNotExists()
        for (const [key, keyColumn] of model.keyColumns) {
          child = child.addColumn(key, sqlType(keyColumn), (c) => c.notNull())
        }
        child = child
          .addColumn('member', `varchar(${column.maxLength})`, (c) => c.notNull())
          .addPrimaryKeyConstraint(`${model.childTable(name)}_pkey`, [
            ...(model.key as string[]),
            'member',
          ])
        await (end ? child.modifyEnd(end) : child).execute()
      }
    }
  }

  /** MySQL tables: InnoDB, utf8mb4 with a binary, NO PAD collation ('a' ≠ 'A' ≠ 'a '). */
  async #tableOptions(): Promise<string> {
    const { rows } = await sql<{ v: string }>`SELECT VERSION() AS v`.execute(this.db)
    const mariadb = /mariadb/i.test(rows[0]?.v ?? '')
    const collation = mariadb ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin'
    return `ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`
  }

  /**
   * Writes one update (of a core model declared with `defineSqlModel`) as one
   * upsert-with-merge. With an execution, its
   * `(resourceId, epoch)` is recorded in the same transaction and a recorded one writes nothing;
   * with a fencing token, a row holding a higher token is left alone and the call throws.
   *
   * @returns whether the write was applied (false: the execution had been recorded already).
   * @throws {@link ArgumentError} before any SQL for an update without a table, a bad value or a
   * bad execution (another resource, a negative epoch…).
   * @throws {@link StaleFencingToken} when the row holds a higher fencing token; nothing changed.
   * @throws {@link SinkError} when the database cannot be reached or refuses the row (a value out
   * of range, a constraint); nothing changed.
   */
  async execute(update: Update, execution?: Execution): Promise<ExecuteResult> {
    const row = rowOf(update)
    try {
      return await writeOne(this, row, checkExecution(execution, update.resourceId))
    } catch (error) {
      throw sinkError(error, this.database, update.resourceId)
    }
  }

  /**
   * Writes several executions, each row on its own: a row that is invalid or that the database
   * refuses fails alone (in `failed`, with its typed error) and every other row is written. All
   * rows go in one transaction, with one multi-row insert of their execution ids (skipping those
   * recorded already, or repeated in the batch) and one multi-row upsert-with-merge per table
   * (more only for a key written twice in the batch, or past 30,000 placeholders). When the
   * database refuses a row (a value out of range, a constraint, a stale fencing token) the
   * transaction rolls back and the batch is written again in halves, down to the row at fault:
   * what is written is every execution but the failed ones, never part of one.
   *
   * @param items - updates, or executions with their update (redis-shard `Claim`s).
   * @returns how many executions were applied and skipped (recorded already), and each failed
   * item: its index, its resource and an {@link ArgumentError} (an invalid item, found before any
   * SQL), a {@link StaleFencingToken} or a {@link SinkError} (the database refused the row).
   * A caller that acknowledges its items must not acknowledge the failed ones.
   * @throws {@link ArgumentError} before any SQL when `items` is not an array.
   * @throws {@link SinkError} when the database cannot be reached or fails the whole batch;
   * nothing was written then.
   * @example
   * const { failed } = await sink.executeMany(claims) // claims: redis-shard Claims
   * for (const { resourceId, error } of failed) console.error(resourceId, error.message)
   */
  async executeMany(items: readonly BatchItem[]): Promise<BatchResult> {
    if (!Array.isArray(items)) {
      throw new ArgumentError(`executeMany needs an array of items, got ${describe(items)}`)
    }
    const jobs: IndexedJob[] = []
    const failed: BatchFailure[] = []
    items.forEach((item, index) => {
      try {
        jobs.push({ index, ...jobOf(item, index) })
      } catch (error) {
        if (!(error instanceof ArgumentError)) throw error
        failed.push({ index, resourceId: resourceIdOf(item), error })
      }
    })
    const result = await this.#writeSplitting(jobs, failed)
    failed.sort((a, b) => a.index - b.index)
    return { ...result, failed }
  }

  /**
   * Writes `jobs` in one transaction; when the database refuses a row, writes each half again
   * (a transaction each), down to the row at fault, which goes to `failed`.
   */
  async #writeSplitting(
    jobs: readonly IndexedJob[],
    failed: BatchFailure[],
  ): Promise<{ applied: number; skipped: number }> {
    if (jobs.length === 0) return { applied: 0, skipped: 0 }
    try {
      return await writeJobs(this, jobs)
    } catch (error) {
      if (!refusesRow(error)) throw sinkError(error, this.database)
      const [only] = jobs
      if (jobs.length === 1 && only !== undefined) {
        const resourceId = only.resourceId
        failed.push({
          index: only.index,
          resourceId,
          error: sinkError(error, this.database, resourceId),
        })
        return { applied: 0, skipped: 0 }
      }
      const half = Math.ceil(jobs.length / 2)
      const first = await this.#writeSplitting(jobs.slice(0, half), failed)
      const second = await this.#writeSplitting(jobs.slice(half), failed)
      return { applied: first.applied + second.applied, skipped: first.skipped + second.skipped }
    }
  }

  /** Closes the database handle (the pool, or the PGlite instance). */
  async close(): Promise<void> {
    await this.db.destroy()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/**
 * The options of a sink with their defaults.
 * @throws {@link ArgumentError} for a bad `retries`, `executionsTable`, `models` or `schema`.
 */
export function checkSinkOptions(
  options: SinkOptions,
  schema?: string,
): { models: readonly AnyTable[]; retries: number; executionsTable: string } {
  const retries = options.retries ?? 8
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw new ArgumentError(`retries must be a non-negative integer, got ${options.retries}`)
  }
  const models = options.models ?? []
  if (!Array.isArray(models)) throw new ArgumentError('models must be an array of SqlModels')
  if (schema !== undefined) checkIdentifier(schema, 'schema')
  const executionsTable = checkIdentifier(
    options.executionsTable ?? 'phonon_executions',
    'executionsTable',
  )
  return { models, retries, executionsTable }
}

function isUpdate(value: unknown): value is Update {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Update).resourceId === 'string' &&
    typeof (value as Update).merge === 'function'
  )
}

function retryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && RETRYABLE.has(code)
}

/** An item of a batch, checked: its row, its execution, its index and resource. */
interface IndexedJob extends Job {
  readonly index: number
  readonly resourceId: string
}

/**
 * The job of a batch item.
 * @throws {@link ArgumentError} for an item that is neither an update nor an execution with its
 * update, or whose row or execution is invalid.
 */
function jobOf(item: unknown, index: number): Job & { readonly resourceId: string } {
  const update = isUpdate(item) ? item : (item as { update?: unknown } | null)?.update
  if (!isUpdate(update)) {
    throw new ArgumentError(
      `executeMany item ${index} is neither an update nor { update, resourceId, epoch }, got ${describe(item)}`,
    )
  }
  const execution = update === item ? undefined : checkExecution(item, update.resourceId)
  return { row: rowOf(update), execution, resourceId: update.resourceId }
}

/** The resource an item names, if any (for the report of an invalid item). */
function resourceIdOf(item: unknown): string | undefined {
  const named = item as { resourceId?: unknown; update?: { resourceId?: unknown } } | null
  const id = named?.update?.resourceId ?? named?.resourceId
  return typeof id === 'string' ? id : undefined
}
