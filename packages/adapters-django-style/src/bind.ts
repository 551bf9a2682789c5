import {
  type Aggregate,
  type AnyField,
  ArgumentError,
  defineModel,
  type Fields,
  type Model,
  type OutputOf,
  resourceIdOf,
} from '@phonon/core'
import { type Column, type Columns, column, isColumn } from './columns.js'
import { checkExecution, type Execution } from './execution.js'
import { type AnySqlModel, SqlModel } from './Model.js'
import { aggregateRow, bindTable } from './rows.js'
import type { Sink } from './Sink.js'
import { checkTable } from './Table.js'
import { describe } from './values.js'
import { writeOne } from './write.js'

/** The key of a table by default: the model's `id`, as text. */
export type IdKey = { readonly id: Column<'text', string> }

/** No columns: the default of {@link SqlModelOptions.columns}. */
export type NoColumns = Record<never, never>

/** The column a field maps to, by the type of its output. */
type FieldColumn<O> = [O] extends [bigint]
  ? Column<'bigint', bigint>
  : [O] extends [number]
    ? Column<'integer' | 'float', number>
    : [O] extends [number | null]
      ? Column<'integer' | 'bigint' | 'float', number | null>
      : [O] extends [string[]]
        ? Column<'set', string[]>
        : Column<'lastWrite', O>

/**
 * The columns of a model's table: the key columns (default `id`, text), a column for each other
 * field (replaced by the one given in `columns` under its name), and the other `columns` given.
 */
export type SqlColumnsOf<
  F extends Fields,
  K extends Columns = IdKey,
  X extends Columns = NoColumns,
> = K &
  Omit<
    { readonly [P in Exclude<keyof F & string, 'id' | keyof K>]: FieldColumn<OutputOf<F[P]>> },
    keyof X
  > &
  X

/** The table bound to a core model. */
export type SqlTableOf<
  F extends Fields,
  K extends Columns = IdKey,
  X extends Columns = NoColumns,
> = SqlModel<SqlColumnsOf<F, K, X>, keyof K & string>

/** Options of {@link defineSqlModel}. */
export interface SqlModelOptions<K extends Columns = IdKey, X extends Columns = NoColumns> {
  /** The table's name (default: the model's collection, which is its name unless given). */
  readonly table?: string
  /** The sink its manager and executions use by default (or bind one later). */
  readonly sink?: Sink
  /** The collection of its updates (default: the model's name). */
  readonly collection?: string
  /** The version of its encoded state (default 1). */
  readonly version?: number
  /**
   * The key columns (text, integer or bigint), in order: the table's primary key, what an
   * update's `id` names. Default `{ id: column.text() }`. With one column the id is its value
   * (`{ id: column.integer() }`: ids are decimal integers); with several, the id is their values
   * joined by `keySeparator` (`{ parent: column.integer(), target: column.integer() }`: id
   * `'3:7'`).
   */
  readonly key?: K
  /** What joins the parts of an id of a key of several columns (default `':'`). */
  readonly keySeparator?: string
  /**
   * Columns beyond the fields' own: under a field's name, the column it is stored in instead of
   * its default (`worst: column.integer({ merge: 'min' })` for a `min()` field: `BIGINT` instead
   * of `DOUBLE PRECISION`), compatible with the field's merge; under another name, a text or
   * numeric column no update writes, which the manager sets (`getOrCreate` defaults,
   * `filter().update()`).
   */
  readonly columns?: X
}

/**
 * A core model whose `execute(execution?)` writes its aggregate to its SQL table; its manager is
 * `objects`, its table `sqlModel`.
 */
export type SqlBoundModel<
  F extends Fields,
  K extends Columns = IdKey,
  X extends Columns = NoColumns,
> = Model<F, [execution?: Execution]> & {
  readonly sqlModel: SqlTableOf<F, K, X>
  readonly objects: SqlTableOf<F, K, X>['objects']
}

/**
 * The column a core field maps to by default: sums and diffs add (`integer`, `float`, `bigint`
 * by the field's number type), `max`/`min` keep the extremum (`GREATEST`/`LEAST`), `lastWrite`
 * is a guarded assignment (later `at` wins), `setAppend` a union in a child table.
 */
function columnFor(model: string, name: string, field: AnyField): Column {
  switch (field.kind) {
    case 'sum:int':
    case 'diff:int':
      return column.integer()
    case 'sum:float':
    case 'diff:float':
      return column.float()
    case 'sum:bigint':
    case 'diff:bigint':
      return column.bigint()
    case 'max':
      return column.float({ merge: 'max' })
    case 'min':
      return column.float({ merge: 'min' })
    case 'lastWrite':
      return column.lastWrite()
    case 'setAppend':
      return column.set()
    default:
      throw new ArgumentError(
        `${model}.${name}: a ${field.kind} field has no SQL mapping (supported: sum, diff, max, min, lastWrite, setAppend)`,
      )
  }
}

/** The column kinds (and merge) a field may be stored in. */
function fits(field: AnyField, given: Column): boolean {
  const numeric = ['integer', 'bigint', 'float'].includes(given.kind)
  switch (field.kind) {
    case 'sum:int':
    case 'diff:int':
      return (given.kind === 'integer' || given.kind === 'bigint') && given.merge === 'sum'
    case 'sum:float':
    case 'diff:float':
      return given.kind === 'float' && given.merge === 'sum'
    case 'sum:bigint':
    case 'diff:bigint':
      return given.kind === 'bigint' && given.merge === 'sum'
    case 'max':
    case 'min':
      return numeric && given.merge === field.kind
    case 'lastWrite':
      return given.kind === 'lastWrite'
    case 'setAppend':
      return given.kind === 'set'
    default:
      return false
  }
}

/**
 * The table's columns: the key's, each field's (or its replacement), and the others given.
 * @throws {@link ArgumentError} as {@link defineSqlModel} says.
 */
function tableColumns(
  name: string,
  fields: Fields,
  key: Columns,
  extra: Columns,
): Record<string, Column> {
  const columns: Record<string, Column> = { ...key }
  for (const [field, value] of Object.entries(fields)) {
    if (field === 'id') continue
    if (Object.hasOwn(key, field)) {
      throw new ArgumentError(`${name}.${field} is a field: it cannot be a key column too`)
    }
    columns[field] = columnFor(name, field, value)
  }
  for (const [column, given] of Object.entries(extra)) {
    if (!isColumn(given)) {
      throw new ArgumentError(
        `${name} columns.${column} must be a column (column.text(), column.integer()…), got ${describe(given)}`,
      )
    }
    if (Object.hasOwn(key, column) || column === 'id') {
      throw new ArgumentError(`${name} columns.${column}: declare key columns in key`)
    }
    const field = Object.hasOwn(fields, column) ? fields[column] : undefined
    if (field !== undefined && !fits(field, given)) {
      throw new ArgumentError(
        `${name} columns.${column}: a ${field.kind} field cannot be stored in a ${given.kind} column${given.merge ? ` merged by ${given.merge}` : ''}`,
      )
    }
    if (field === undefined && (given.kind === 'lastWrite' || given.kind === 'set')) {
      throw new ArgumentError(
        `${name} columns.${column}: a ${given.kind} column must be a field (no update would write it)`,
      )
    }
    columns[column] = given
  }
  return columns
}

/**
 * Declares a `@phonon/core` model bound to a SQL table: the one way to declare a table.
 * `update.execute(execution?)` (what the executing layer calls with its claim) writes the
 * aggregate as one upsert-with-merge, with the execution recorded in the same transaction, and
 * `sink.executeMany(claims)` writes many at once. Each field is a column merged by the field's
 * rule: sum/diff → `+`, max → `GREATEST`, min → `LEAST`, lastWrite → replaced only by a later
 * write, setAppend → union in a child table `<table>__<field>`. Every table also gets a nullable
 * `phonon_fence` column (the highest fencing token written); a lastWrite column `x` is stored as
 * `x` and `x_at`.
 *
 * @param name - the model's name (its codec type name and default collection).
 * @param fields - an `id()` field and sum, diff, max, min, lastWrite or setAppend fields.
 * @param options - the table's name, the sink, the key columns, other columns, the collection
 * and codec version.
 * @returns the core model, with its table in `sqlModel` and its manager in `objects`.
 * @throws {@link ArgumentError} at declaration for a field with no SQL mapping (listAppend,
 * windowedList, distinctCount, counterMap), a name that is not a portable identifier (letters,
 * digits, `_`; at most 63 characters, child tables included), a key that is empty or not text,
 * integer or bigint columns, a key column named as a field, a column in `columns` that does not
 * fit its field's merge or is a lastWrite or set column of no field, or an empty
 * `keySeparator`; at execution when no sink is bound, the id is not a key of the table (a text
 * part of a key of several columns cannot contain the separator), or the execution is of another
 * resource.
 * @example
 * const Widget = defineSqlModel('Widget', { id: id(), clicks: sum(), impressions: sum() }, {
 *   table: 'widgets', sink,
 * })
 * await Widget.create({ id: 'w1', clicks: 1 }).execute()
 * await Widget.objects.get({ id: 'w1' }) // { id: 'w1', clicks: 1, impressions: 0 }
 *
 * // The seed's widgets: a (parent, target) key of integers, ids '3:7'.
 * const Pair = defineSqlModel('Pair', { id: id(), clicks: sum() }, {
 *   key: { parent_post_id: column.integer(), target_post_id: column.integer() },
 * })
 */
export function defineSqlModel<
  F extends Fields,
  K extends Columns = IdKey,
  X extends Columns = NoColumns,
>(name: string, fields: F, options: SqlModelOptions<K, X> = {}): SqlBoundModel<F, K, X> {
  let table: AnySqlModel | undefined
  const model = defineModel<F, [execution?: Execution]>(name, fields, {
    ...(options.collection === undefined ? {} : { collection: options.collection }),
    ...(options.version === undefined ? {} : { version: options.version }),
    onComplete: async (aggregate: Aggregate<F>, execution?: Execution) => {
      const bound = table as AnySqlModel
      const sink = bound.sink
      if (sink === undefined) {
        throw new ArgumentError(
          `${name} has no sink: defineSqlModel(..., { sink }) or .sqlModel.bind(sink)`,
        )
      }
      const row = aggregateRow(bound, aggregate)
      const checked = checkExecution(
        execution,
        resourceIdOf(model.collection, String(aggregate.id)),
      )
      await writeOne(sink, row, checked)
    },
  })
  const key = (options.key ?? { id: column.text() }) as Columns
  if (typeof key !== 'object' || key === null) {
    throw new ArgumentError(`${name} key must be an object of columns, got ${describe(key)}`)
  }
  const separator = options.keySeparator ?? ':'
  if (typeof separator !== 'string' || separator.length === 0) {
    throw new ArgumentError(
      `${name} keySeparator must be a non-empty string, got ${describe(separator)}`,
    )
  }
  const tableName = options.table ?? model.collection
  const columns = tableColumns(name, fields, key, (options.columns ?? {}) as Columns)
  const keyNames = checkTable(tableName, columns, Object.keys(key))
  const sqlModel = new SqlModel(tableName, columns, keyNames, options.sink, separator)
  bindTable(model as unknown as Model, sqlModel)
  table = sqlModel
  return Object.assign(model, {
    sqlModel: sqlModel as unknown as SqlTableOf<F, K, X>,
    objects: sqlModel.objects as unknown as SqlTableOf<F, K, X>['objects'],
  })
}
