import type { Columns } from './columns.js'
import { Manager } from './Manager.js'
import type { Sink } from './Sink.js'
import { checkTable, Table } from './Table.js'

/** Options of {@link defineTable}. */
export interface TableOptions<K extends string> {
  /** The unique key: the column (or columns) a spec names; the primary key of the table. */
  readonly key: K | readonly K[]
  /** The sink `Model.objects` and `SqlUpdate.execute` use unless told otherwise. */
  readonly sink?: Sink
}

/** A model of any columns: what a sink, a `SqlUpdate` or a list of models accepts. */
// biome-ignore lint/suspicious/noExplicitAny: every model, whatever its columns (row types vary)
export type AnySqlModel = SqlModel<any, any>

/**
 * A SQL table declared for phonon, with a Django-style manager in `objects` and the sink it uses
 * by default. Declare it with {@link defineTable}.
 *
 * @typeParam C - the columns.
 * @typeParam K - the names of the key columns.
 */
export class SqlModel<
  C extends Columns = Columns,
  K extends keyof C & string = keyof C & string,
> extends Table<C, K> {
  /** The Django-style manager: `Model.objects.getOrCreate(spec)`, `.filter(spec).update(...)`. */
  readonly objects: Manager<C, K>
  #sink: Sink | undefined

  /** Prefer {@link defineTable}, which checks its arguments. */
  constructor(table: string, columns: C, key: readonly K[], sink?: Sink) {
    super(table, columns, key)
    this.#sink = sink
    this.objects = new Manager<C, K>(this, () => this.#sink)
  }

  /** The sink bound with {@link SqlModel.bind} or `defineTable({ sink })`, if any. */
  get sink(): Sink | undefined {
    return this.#sink
  }

  /**
   * Makes `sink` the one `objects` and `SqlUpdate.execute` use by default.
   * @returns this model.
   */
  bind(sink: Sink): this {
    this.#sink = sink
    return this
  }
}

/**
 * Declares a SQL table: its name, its columns (built with {@link column}) and its unique key.
 * Every table also gets a nullable `phonon_fence` column (the highest fencing token written);
 * a `lastWrite` column `x` is stored as `x` and `x_at`, a `set` column in `<table>__<name>`.
 *
 * @param table - the table's name.
 * @param columns - the columns by name.
 * @param options - `key` (one column or several, text or integer) and an optional `sink`.
 * @returns the model, with its manager in `objects`.
 * @throws {@link ArgumentError} for a name that is not a portable identifier (letters, digits,
 * `_`; at most 63 characters, child tables included), a value that is not a column, a key that
 * is empty, repeated or names a column that is not text, integer or bigint, or a column whose
 * name collides with `phonon_fence` or a lastWrite column's `_at` companion.
 * @example
 * const Widget = defineTable('widgets', {
 *   id: column.text(),
 *   clicks: column.integer(),
 *   impressions: column.integer(),
 * }, { key: 'id' })
 * const [widget, created] = await Widget.objects.using(sink).getOrCreate({ id: 'w1' })
 */
export function defineTable<C extends Columns, K extends keyof C & string>(
  table: string,
  columns: C,
  options: TableOptions<K>,
): SqlModel<C, K> {
  const key = checkTable(table, columns, options?.key)
  return new SqlModel(table, columns, key, options.sink)
}
