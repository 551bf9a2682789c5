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
import { type Column, type ColumnKind, column } from './columns.js'
import { checkExecution, type Execution } from './execution.js'
import { type AnySqlModel, defineTable, type SqlModel } from './Model.js'
import { aggregateRow, bindTable } from './rows.js'
import type { Sink } from './Sink.js'
import { writeOne } from './write.js'

/** The columns a core model's fields map to: `id` is the text key, each field its column. */
export type SqlColumnsOf<F extends Fields> = {
  readonly [P in keyof F & string]: Column<ColumnKind, P extends 'id' ? string : OutputOf<F[P]>>
}

/** A table bound to a core model. */
export type SqlTableOf<F extends Fields> = SqlModel<SqlColumnsOf<F>, 'id'>

/** Where the table of a {@link defineSqlModel} model is, and the sink it uses. */
export interface SqlTableOptions {
  /** The table's name (default: the model's collection, which is its name unless given). */
  readonly table?: string
  /** The sink its manager and executions use by default. */
  readonly sink?: Sink
}

/**
 * The column a core field maps to: sums and diffs add (`integer`, `float`, `bigint` by the
 * field's number type), `max`/`min` keep the extremum (`GREATEST`/`LEAST`), `lastWrite` is a
 * guarded assignment (later `at` wins), `setAppend` a union in a child table.
 */
function columnFor(model: string, name: string, field: AnyField): Column {
  switch (field.kind) {
    case 'id':
      return column.text()
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

/**
 * The SQL table of a `@phonon/core` model, bound to it: `id` is the key (text), each field a
 * column merged by the field's rule (sum/diff → `+`, max → `GREATEST`, min → `LEAST`, lastWrite
 * → replaced only by a later write, setAppend → union in a child table).
 *
 * @throws {@link ArgumentError} for a field with no SQL mapping (listAppend, windowedList,
 * distinctCount, counterMap), a name that is not a portable identifier, or a model bound to a
 * table already.
 */
function sqlTable<F extends Fields>(
  // biome-ignore lint/suspicious/noExplicitAny: any onComplete arguments
  model: Model<F, any>,
  options: SqlTableOptions = {},
): SqlTableOf<F> {
  const columns: Record<string, Column> = {}
  for (const [name, field] of model.allFields) columns[name] = columnFor(model.name, name, field)
  const table = defineTable(
    options.table ?? model.collection,
    columns as SqlColumnsOf<F>,
    options.sink === undefined ? { key: 'id' } : { key: 'id', sink: options.sink },
  )
  bindTable(model as unknown as Model, table as unknown as AnySqlModel)
  return table as SqlTableOf<F>
}

/** Options of {@link defineSqlModel}. */
export interface SqlModelOptions extends SqlTableOptions {
  /** The collection of its updates (default: the model's name). */
  readonly collection?: string
  /** The version of its encoded state (default 1). */
  readonly version?: number
}

/**
 * A core model whose `execute(execution?)` writes its aggregate to its SQL table; its manager is
 * `objects`, its table `sqlModel`.
 */
export type SqlBoundModel<F extends Fields> = Model<F, [execution?: Execution]> & {
  readonly sqlModel: SqlTableOf<F>
  readonly objects: SqlTableOf<F>['objects']
}

/**
 * Declares a `@phonon/core` model bound to a SQL table: `update.execute(execution?)` (what the
 * executing layer calls with its claim) writes the aggregate as one upsert-with-merge, with the
 * execution recorded in the same transaction. `id` is the key (text); each field is a column
 * merged by the field's rule: sum/diff → `+`, max → `GREATEST`, min → `LEAST`, lastWrite →
 * replaced only by a later write, setAppend → union in a child table.
 *
 * @param name - the model's name (its codec type name and default collection).
 * @param fields - an `id()` field and sum, diff, max, min, lastWrite or setAppend fields.
 * @param options - the table's name, the sink, the collection and codec version.
 * @throws {@link ArgumentError} at declaration for an unsupported field or a bad name; at
 * execution when no sink is bound or the execution is of another resource.
 * @example
 * const Widget = defineSqlModel('Widget', { id: id(), clicks: sum(), impressions: sum() }, {
 *   table: 'widgets', sink,
 * })
 * await Widget.create({ id: 'w1', clicks: 1 }).execute()
 * await Widget.objects.get({ id: 'w1' }) // { id: 'w1', clicks: 1, impressions: 0 }
 */
export function defineSqlModel<F extends Fields>(
  name: string,
  fields: F,
  options: SqlModelOptions = {},
): SqlBoundModel<F> {
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
      const checked = checkExecution(
        execution,
        resourceIdOf(model.collection, String(aggregate.id)),
      )
      await writeOne(sink, aggregateRow(bound, aggregate), checked)
    },
  })
  const sqlModel = sqlTable(model, options)
  table = sqlModel as unknown as AnySqlModel
  return Object.assign(model, { sqlModel, objects: sqlModel.objects })
}
