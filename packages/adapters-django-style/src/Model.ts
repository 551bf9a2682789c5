import type { Columns } from './columns.js'
import { Manager } from './Manager.js'
import type { Sink } from './Sink.js'
import { Table } from './Table.js'

/** A model of any columns: what a sink or a list of models accepts. */
// biome-ignore lint/suspicious/noExplicitAny: every model, whatever its columns (row types vary)
export type AnySqlModel = SqlModel<any, any>

/**
 * A SQL table declared for phonon, with a Django-style manager in `objects` and the sink it uses
 * by default: the `sqlModel` of a model declared with `defineSqlModel`.
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

  /** Prefer `defineSqlModel`, which checks its arguments. */
  constructor(table: string, columns: C, key: readonly K[], sink?: Sink, keySeparator = ':') {
    super(table, columns, key, keySeparator)
    this.#sink = sink
    this.objects = new Manager<C, K>(this, () => this.#sink)
  }

  /** The sink bound with {@link SqlModel.bind} or `defineSqlModel(…, { sink })`, if any. */
  get sink(): Sink | undefined {
    return this.#sink
  }

  /**
   * Makes `sink` the one `objects` and the model's `execute` use by default.
   * @returns this model.
   */
  bind(sink: Sink): this {
    this.#sink = sink
    return this
  }
}
