import { ArgumentError, type Json, Update, type UpdateOptions } from '@phonon/core'
import type { Columns, NumericColumn } from './columns.js'
import type { Execution } from './execution.js'
import { type AnySqlModel, SqlModel } from './Model.js'
import { SQL_ROW, type SqlWritable } from './rows.js'
import type { Sink } from './Sink.js'
import type { RowWrite } from './Table.js'
import { checkFinite, checkInteger, checkRecord, describe, type KeyValue } from './values.js'

/** The doc of a {@link SqlUpdate} of model `M`: a number for any of its numeric non-key columns. */
export type SqlDoc<M extends AnySqlModel> =
  M extends SqlModel<infer C, infer K>
    ? C extends Columns
      ? { [P in Exclude<NumericColumn<C>, K>]?: number }
      : Record<string, number>
    : Record<string, number>

/**
 * An update of a SQL table, phonon's `Update` the way Django users write it: declare the model,
 * and the doc (numbers for the table's numeric columns) merges by each column's rule (`sum` adds,
 * `max`/`min` keep the extremum) and `execute()` writes it as ONE atomic upsert-with-merge:
 * `INSERT … ON CONFLICT (key) DO UPDATE SET clicks = widgets.clicks + excluded.clicks`.
 *
 * The spec (default `{ id }`) names the row's key; the collection defaults to the table's name.
 *
 * @typeParam M - the model, for a typed doc.
 * @example
 * class WidgetUpdate extends SqlUpdate<typeof Widget> {
 *   static override model = Widget
 * }
 * const update = new WidgetUpdate({ id: 'w1', doc: { clicks: 1 } })
 * update.merge(new WidgetUpdate({ id: 'w1', doc: { clicks: 2, impressions: 5 } }))
 * await update.execute() // clicks + 3, impressions + 5
 */
export class SqlUpdate<M extends AnySqlModel = AnySqlModel>
  extends Update<SqlDoc<M>>
  implements SqlWritable
{
  /** The table of this class's updates; subclasses set it. */
  static model: AnySqlModel | undefined
  /** The sink `execute()` writes to; defaults to the model's. */
  static sink: Sink | undefined

  /** The model, from the class's `static model`. */
  readonly model: M
  /** The row's key values, checked. */
  readonly key: readonly KeyValue[]

  /**
   * @throws {@link ArgumentError} when the class has no `static model`, the spec is not the
   * model's key, or the doc holds an unknown, key or non-numeric column or a bad number (and as
   * core's `Update` does for a bad id).
   */
  constructor(options: UpdateOptions<SqlDoc<M>>) {
    const model = modelOf(new.target)
    super(options.collection === undefined ? { ...options, collection: model.table } : options)
    this.model = model as M
    this.key = model.keyOf(this.spec, `${new.target.name} spec`)
    this.doc = checkDoc(model, options.doc ?? {}, `${new.target.name} doc`) as SqlDoc<M>
  }

  /**
   * Folds another update of the same row into this one, column by column; atomic (a total past
   * the exact range changes nothing).
   * @throws {@link ArgumentError} for an update of another class or row, or an overflowing total.
   */
  merge(other: SqlUpdate<M>): void {
    if (!(other instanceof SqlUpdate) || other.constructor !== this.constructor) {
      throw new ArgumentError(`cannot merge ${describe(other)} into a ${this.constructor.name}`)
    }
    if (other.resourceId !== this.resourceId) {
      throw new ArgumentError(`cannot merge ${other.resourceId} into ${this.resourceId}`)
    }
    this.#fold(other.doc as Record<string, number>)
  }

  /**
   * Folds raw values in: `merge(new Update({ id, doc: values }))` without the update.
   * @returns this update.
   * @throws {@link ArgumentError} for a bad column or number, or an overflowing total.
   */
  add(values: SqlDoc<M>): this {
    this.#fold(checkDoc(this.model, values, `${this.constructor.name}.add`))
    return this
  }

  #fold(values: Record<string, number>): void {
    const doc = this.doc as Record<string, number>
    const next: Record<string, number> = {}
    for (const [name, value] of Object.entries(values)) {
      const column = this.model.column(name)
      const held = doc[name]
      const path = `${this.resourceId} ${name}`
      next[name] =
        held === undefined
          ? value
          : column.merge === 'max'
            ? Math.max(held, value)
            : column.merge === 'min'
              ? Math.min(held, value)
              : column.kind === 'float'
                ? checkFinite(held + value, path)
                : checkInteger(held + value, path)
    }
    Object.assign(doc, next)
  }

  /** @throws {@link ArgumentError} when `state` is not a valid doc of the model. */
  override restore(state: Json): void {
    this.doc = checkDoc(this.model, state, `${this.constructor.name} state`) as SqlDoc<M>
  }

  /**
   * Writes the aggregate as one upsert-with-merge, under `execution` when given (the executing
   * layer passes its claim): recorded in `phonon_executions` in the same transaction, so the same
   * `(resourceId, epoch)` never applies twice.
   *
   * @throws {@link ArgumentError} when no sink is bound (`static sink`, or the model's), or the
   * execution is invalid or of another resource.
   * @throws {@link StaleFencingToken} when the row holds a higher fencing token; nothing changed.
   */
  async execute(execution?: Execution): Promise<void> {
    const sink = (this.constructor as typeof SqlUpdate).sink ?? this.model.sink
    if (sink === undefined) {
      throw new ArgumentError(
        `${this.constructor.name} has no sink: set static sink, or bind one to ${this.model.table}`,
      )
    }
    await sink.execute(this, execution)
  }

  /** @internal The row this update writes. */
  [SQL_ROW](): RowWrite {
    return {
      model: this.model,
      key: this.key,
      deltas: this.model.deltasOf(this.doc, `${this.resourceId} doc`),
    }
  }
}

function modelOf(target: unknown): AnySqlModel {
  const model = (target as typeof SqlUpdate).model
  if (!(model instanceof SqlModel)) {
    throw new ArgumentError(
      `${(target as { name?: string }).name ?? 'SqlUpdate'} needs static model = a table from defineTable()`,
    )
  }
  return model
}

/**
 * A fresh doc checked against the model: numeric non-key columns, safe integers for integer and
 * bigint columns, finite numbers for float ones.
 * @throws {@link ArgumentError} naming the first bad entry.
 */
function checkDoc(model: AnySqlModel, doc: unknown, path: string): Record<string, number> {
  const checked: Record<string, number> = {}
  for (const [name, value] of Object.entries(checkRecord(doc, path, 'an object of numbers'))) {
    const column = model.column(name, path)
    if (model.key.includes(name) || !['integer', 'bigint', 'float'].includes(column.kind)) {
      throw new ArgumentError(`${path}: ${name} is not a numeric value column of ${model.table}`)
    }
    checked[name] =
      column.kind === 'float'
        ? checkFinite(value, `${path}.${name}`)
        : checkInteger(value, `${path}.${name}`)
  }
  return checked
}
