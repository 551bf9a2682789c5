import { ArgumentError, SinkError } from '@phonon/core'
import type { RawBuilder } from 'kysely'
import type { Column, Columns, NumericColumn, TypeOf } from './columns.js'
import { DoesNotExist } from './errors.js'
import { checkExecution, type Execution } from './execution.js'
import { compileF, FExpression } from './F.js'
import { selectRows, type Where } from './read.js'
import type { Sink } from './Sink.js'
import type { AnyTable, Assignable, DeltaOf, FilterOf, RowOf, SpecOf, Table } from './Table.js'
import { assignedValue, checkRecord, type KeyValue, param } from './values.js'
import { type ExecuteResult, writeOne } from './write.js'

/**
 * What `filter(...).update(values)` accepts: a value for text and numeric columns, or an
 * {@link F} expression over numeric columns for numeric ones.
 */
export type AssignmentOf<C extends Columns> = {
  readonly [P in Assignable<C>]?: C[P]['kind'] extends 'text'
    ? TypeOf<C[P]>
    : TypeOf<C[P]> | FExpression<NumericColumn<C>>
}

/** Values of non-key text and numeric columns a new row starts with (`getOrCreate`). */
export type DefaultsOf<C extends Columns, K extends keyof C> = Omit<FilterOf<C>, K>

/**
 * Django's model manager: `Model.objects`. Reads and writes go through the sink bound to the
 * model, or the one named with {@link Manager.using}. Every method that reaches the database
 * throws {@link SinkError} when it cannot be reached or fails a statement.
 */
export class Manager<C extends Columns, K extends keyof C & string> {
  readonly #sink: () => Sink | undefined

  /** Prefer `Model.objects`. */
  constructor(
    /** The table managed. */
    readonly model: Table<C, K>,
    /** The sink to use: the model's, or the one given to {@link Manager.using}. */
    sink: () => Sink | undefined,
  ) {
    this.#sink = sink
  }

  /** The same manager on another sink (Django's `using`). */
  using(sink: Sink): Manager<C, K> {
    return new Manager(this.model, () => sink)
  }

  /**
   * The sink used: the one given to {@link Manager.using}, else the model's.
   * @throws {@link ArgumentError} when there is none.
   */
  get sink(): Sink {
    const sink = this.#sink()
    if (sink === undefined) {
      throw new ArgumentError(
        `${this.model.table} has no sink: defineSqlModel(..., { sink }), Model.sqlModel.bind(sink) or objects.using(sink)`,
      )
    }
    return sink
  }

  /**
   * The row of that key, as Django's `get`.
   * @throws {@link DoesNotExist} when there is no such row.
   * @throws {@link ArgumentError} before any SQL for a spec that is not the model's key.
   * @throws {@link SinkError} when the database cannot be reached or fails.
   * @example
   * const widget = await Widget.objects.get({ id: 'w1' }) // or DoesNotExist
   */
  async get(spec: SpecOf<C, K>): Promise<RowOf<C, K>> {
    const row = await this.getOrUndefined(spec)
    if (row === undefined) throw new DoesNotExist(this.model.table, spec)
    return row
  }

  /**
   * The row of that key, or `undefined` when there is none.
   * @throws {@link ArgumentError} before any SQL for a spec that is not the model's key.
   * @throws {@link SinkError} when the database cannot be reached or fails.
   */
  async getOrUndefined(spec: SpecOf<C, K>): Promise<RowOf<C, K> | undefined> {
    const key = this.model.keyOf(spec)
    const rows = await this.select(keyWhere(this.model, key))
    return rows[0]
  }

  /**
   * The row of that key, created with `defaults` first if missing: `[row, created]`. Race-free:
   * an insert that finds the key taken leaves the row as it is.
   *
   * @param spec - the key.
   * @param defaults - values of non-key text and numeric columns for a new row.
   * @throws {@link ArgumentError} before any SQL for a bad spec, an unknown column or a value
   * its column rejects.
   */
  async getOrCreate(
    spec: SpecOf<C, K>,
    defaults: DefaultsOf<C, K> = {} as DefaultsOf<C, K>,
  ): Promise<[RowOf<C, K>, boolean]> {
    const key = this.model.keyOf(spec)
    const record: Record<string, unknown> = {}
    this.model.keyColumns.forEach(([name], i) => {
      record[name] = param(key[i] as KeyValue)
    })
    for (const [name, value] of entriesOf(defaults, `${this.model.table} defaults`)) {
      const column = this.assignable(name, 'defaults')
      if ((this.model.key as readonly string[]).includes(name)) {
        throw new ArgumentError(`${this.model.table} defaults: ${name} is a key column`)
      }
      record[name] = param(assignedValue(column, `${this.model.table}.${name}`, value))
    }
    const sink = this.sink
    const { flavor } = sink
    for (let attempt = 0; attempt < 3; attempt++) {
      const created = await sink.run(`${this.model.table} getOrCreate`, async (db) => {
        const insert = db.insertInto(this.model.table).values(record)
        if (flavor === 'postgres') {
          const result = await insert
            .onConflict((oc) => oc.columns([...this.model.key]).doNothing())
            .executeTakeFirst()
          return result.numInsertedOrUpdatedRows === 1n
        }
        try {
          await insert.execute()
          return true
        } catch (error) {
          if ((error as { code?: unknown }).code !== 'ER_DUP_ENTRY') throw error
          return false
        }
      })
      const row = (await this.select(keyWhere(this.model, key)))[0]
      if (row !== undefined) return [row, created]
      // Deleted between the insert and the read: try again.
    }
    throw new SinkError(
      `${this.model.table}: getOrCreate made the row 3 times and each time it was deleted before it could be read`,
    )
  }

  /**
   * The rows matching equality filters on text and numeric columns (`null`: `IS NULL`).
   * @throws {@link ArgumentError} (when used) for an unknown column or a bad value.
   */
  filter(where: FilterOf<C>): QuerySet<C, K> {
    return new QuerySet(this, where)
  }

  /** Every row, ordered by key. */
  all(): Promise<Array<RowOf<C, K>>> {
    return this.filter({}).all()
  }

  /**
   * Merges `delta` into the row of `spec` with one upsert: `sum` columns added, `max`/`min`
   * kept by `GREATEST`/`LEAST`, lastWrite columns replaced only by later writes, set members
   * added; the row is created if missing. With an execution, it is recorded in the same
   * transaction and a recorded one changes nothing; a fencing token lower than the row's is
   * rejected.
   *
   * @returns whether it was applied (false: the execution had been recorded already).
   * @throws {@link ArgumentError} before any SQL for a bad spec, column, value or execution.
   * @throws {@link StaleFencingToken} when the row holds a higher fencing token; nothing changed.
   * @example
   * await Widget.objects.upsert({ id: 'w1' }, { clicks: 3, impressions: 10 })
   */
  async upsert(
    spec: SpecOf<C, K>,
    delta: DeltaOf<C, K>,
    execution?: Execution,
  ): Promise<ExecuteResult> {
    const row = this.model.rowWrite(spec, delta)
    const checked = checkExecution(execution)
    const sink = this.sink
    return sink.run(`${this.model.table} upsert`, () => writeOne(sink, row, checked))
  }

  /** @internal The rows matching `where`, ordered by key. */
  async select(where: Where): Promise<Array<RowOf<C, K>>> {
    const sink = this.sink
    const rows = await sink.run(`${this.model.table} select`, (db) =>
      selectRows(db, sink.flavor, this.model as unknown as AnyTable, where),
    )
    return rows as Array<RowOf<C, K>>
  }

  /** @internal The column, checked to be text or numeric. */
  assignable(name: string, where: string): Column {
    const column = this.model.column(name, `${this.model.table} ${where}`)
    if (column.kind === 'lastWrite' || column.kind === 'set') {
      throw new ArgumentError(
        `${this.model.table}.${name}: a ${column.kind} column is written by updates, not assigned`,
      )
    }
    return column
  }
}

/** The rows a filter selects, to read, count or update (Django's `QuerySet`). */
export class QuerySet<C extends Columns, K extends keyof C & string> {
  /** Prefer `Model.objects.filter(...)`. */
  constructor(
    readonly manager: Manager<C, K>,
    /** The equality filters. */
    readonly where: FilterOf<C>,
  ) {}

  /**
   * Updates the matching rows in one `UPDATE` statement; values can be {@link F} expressions
   * computed in SQL from the row's current values.
   *
   * @returns the number of rows matched.
   * @throws {@link ArgumentError} before any SQL for an unknown column, a lastWrite or set
   * column, a value its column rejects, an F expression over a non-numeric column, or no values.
   * @example
   * await Widget.objects.filter({ id: 'w1' }).update({ clicks: F('clicks').add(3) })
   */
  async update(values: AssignmentOf<C>): Promise<number> {
    const { model } = this.manager
    const sink = this.manager.sink
    const style = sink.flavor === 'postgres' ? 'ignoresNull' : 'nullWins'
    const set: Record<string, RawBuilder<unknown> | string | number | null> = {}
    for (const [name, value] of entriesOf(values, `${model.table} update`)) {
      const column = this.manager.assignable(name, 'update')
      const path = `${model.table}.${name}`
      set[name] =
        value instanceof FExpression
          ? compileF(value, model as unknown as AnyTable, column, path, style)
          : param(assignedValue(column, path, value))
    }
    if (Object.keys(set).length === 0) {
      throw new ArgumentError(`${model.table} update: no values to set`)
    }
    const where = this.#where()
    const result = await sink.run(`${model.table} update`, (db) =>
      db.updateTable(model.table).set(set).where(where).executeTakeFirst(),
    )
    return Number(result.numUpdatedRows)
  }

  /**
   * The matching rows, ordered by key.
   * @throws {@link ArgumentError} before any SQL for an unknown column or a bad value.
   */
  all(): Promise<Array<RowOf<C, K>>> {
    return this.manager.select(this.#where())
  }

  /**
   * How many rows match.
   * @throws {@link ArgumentError} before any SQL for an unknown column or a bad value.
   */
  async count(): Promise<number> {
    const where = this.#where()
    const { table } = this.manager.model
    const row = await this.manager.sink.run(`${table} count`, (db) =>
      db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .where(where)
        .executeTakeFirstOrThrow(),
    )
    return Number(row.n)
  }

  #where(): Where {
    const { model } = this.manager
    const conditions: Array<[string, KeyValue | null]> = []
    for (const [name, value] of entriesOf(this.where, `${model.table} filter`)) {
      const column = this.manager.assignable(name, 'filter')
      const path = `${model.table}.${name}`
      conditions.push([name, value === null ? null : param(assignedValue(column, path, value))])
    }
    return (eb) =>
      eb.and(
        conditions.map(([name, value]) =>
          value === null ? eb(name, 'is', null) : eb(name, '=', value),
        ),
      )
  }
}

/** Equality on the key columns. */
function keyWhere(model: AnyTable, key: readonly KeyValue[]): Where {
  return (eb) => eb.and(model.key.map((name, i) => eb(name, '=', param(key[i] as KeyValue))))
}

/**
 * The defined entries of an object.
 * @throws {@link ArgumentError} unless `values` is an object.
 */
function entriesOf(values: unknown, path: string): Array<[string, unknown]> {
  return Object.entries(checkRecord(values, path)).filter(([, value]) => value !== undefined)
}
