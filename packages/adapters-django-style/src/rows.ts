/**
 * How an update becomes a row write: a {@link SqlUpdate} knows its row; an update of a core model
 * declared with `defineSqlModel` is written from its aggregate.
 *
 * @internal
 * @module
 */
import { ArgumentError, type Model, ModelUpdate, type Update } from '@phonon/core'
import type { AnyTable, RowWrite } from './Table.js'

/** The method by which an update hands its row write to the sink. */
export const SQL_ROW: unique symbol = Symbol.for('@phonon/adapters-django-style/row')

/** An update that knows its row write (a {@link SqlUpdate}). */
export interface SqlWritable {
  [SQL_ROW](): RowWrite
}

const tables = new WeakMap<Model, AnyTable>()

/**
 * Records that `model`'s updates are written to `table`.
 * @throws {@link ArgumentError} when the model is bound to a table already.
 */
export function bindTable(model: Model, table: AnyTable): void {
  if (tables.has(model)) throw new ArgumentError(`model ${model.name} is bound to a table already`)
  tables.set(model, table)
}

/** The table a core model is bound to, if any. */
export function tableOf(model: Model): AnyTable | undefined {
  return tables.get(model)
}

/**
 * The row a core model's aggregate writes: `id` is the key, every other field a delta.
 * @throws {@link ArgumentError} for a value a column rejects.
 */
export function aggregateRow(
  table: AnyTable,
  aggregate: Readonly<Record<string, unknown>>,
): RowWrite {
  const { id, ...fields } = aggregate
  return table.rowWrite({ id }, fields)
}

/**
 * The checked row write of an update.
 * @throws {@link ArgumentError} for an update that is neither a SqlUpdate nor of a bound model,
 * or whose values a column rejects.
 */
export function rowOf(update: Update): RowWrite {
  const writable = update as Partial<SqlWritable>
  if (typeof writable[SQL_ROW] === 'function') return writable[SQL_ROW]()
  if (update instanceof ModelUpdate) {
    const table = tables.get(update.model as Model)
    if (table !== undefined) return aggregateRow(table, update.aggregate())
  }
  throw new ArgumentError(
    `${update?.constructor?.name ?? typeof update} ${update?.resourceId} has no SQL table: use a SqlUpdate, or declare its model with defineSqlModel()`,
  )
}
