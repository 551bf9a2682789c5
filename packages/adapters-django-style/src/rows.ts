/**
 * How an update becomes a row write: an update of a core model declared with `defineSqlModel` is
 * written from its aggregate.
 *
 * @internal
 * @module
 */
import { ArgumentError, type Model, ModelUpdate, type Update } from '@phonon/core'
import type { AnyTable, RowWrite } from './Table.js'
import { checkRecord } from './values.js'

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
 * The row a core model's aggregate writes: `id` gives the key (its parts, for a key of several
 * columns), every other field a delta.
 * @throws {@link ArgumentError} for an id that is not a key of the table, or a value a column
 * rejects.
 */
export function aggregateRow(
  table: AnyTable,
  aggregate: Readonly<Record<string, unknown>>,
): RowWrite {
  const { id, ...fields } = checkRecord(aggregate, `${table.table} aggregate`)
  return {
    model: table,
    key: table.keyOfId(String(id)),
    deltas: table.deltasOf(fields, `${table.table} ${String(id)}`),
  }
}

/**
 * The checked row write of an update.
 * @throws {@link ArgumentError} for an update that is not of a model declared with
 * `defineSqlModel`, or whose values a column rejects.
 */
export function rowOf(update: Update): RowWrite {
  if (update instanceof ModelUpdate) {
    const table = tables.get(update.model as Model)
    if (table !== undefined) return aggregateRow(table, update.aggregate())
  }
  throw new ArgumentError(
    `${update?.constructor?.name ?? typeof update} ${update?.resourceId} has no SQL table: declare its model with defineSqlModel()`,
  )
}
