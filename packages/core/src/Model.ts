import type { UpdateType } from './Codec.js'
import { type ModelOps, modelOps } from './compile.js'
import { ArgumentError, CacheError } from './errors.js'
import type { AnyField, InputOf, Laws, OutputOf, RedisReply, ValueOf } from './Field.js'
import { type IdField, idString } from './fields/scalar.js'
import { assertPlainObject, describe, type Json } from './json.js'
import { Update, type UpdateOptions } from './Update.js'

/** The fields of a model: an `id()` field and any others. */
export type Fields = { readonly id: IdField } & { readonly [name: string]: AnyField }

/** What `Model.create` accepts: the id, and any subset of the other fields' inputs. */
export type ModelInput<F extends Fields> = { readonly id: string | number } & {
  readonly [K in Exclude<keyof F, 'id'>]?: InputOf<F[K]>
}

/** What `add` accepts: any subset of the fields' inputs, and optionally the update's own id. */
export type ModelValues<F extends Fields> = { readonly id?: string | number } & {
  readonly [K in Exclude<keyof F, 'id'>]?: InputOf<F[K]>
}

/** The partial aggregate of a model: each field's value. */
export type ModelDoc<F extends Fields> = { [K in keyof F]: ValueOf<F[K]> }

/** What a sink sees of a model: each field's output. */
export type Aggregate<F extends Fields> = { [K in keyof F]: OutputOf<F[K]> }

/** Called with the global aggregate on the last holder (phonon's model `execute`). */
export type OnComplete<F extends Fields, Args extends unknown[]> = (
  aggregate: Aggregate<F>,
  ...args: Args
) => void | Promise<void>

/** Options of {@link defineModel}. */
export interface ModelOptions<F extends Fields, Args extends unknown[]> {
  /** The collection of its updates (default: the model's name). */
  readonly collection?: string
  /** The version of its encoded state (default 1); bump it when the fields change. */
  readonly version?: number
  /** Writes the aggregate to the sink; `execute(...args)` calls it. */
  readonly onComplete?: OnComplete<F, Args>
}

/** Session options for a single `create`. */
export type CreateOptions = Omit<UpdateOptions, 'id' | 'doc' | 'collection'>

/** Options of the {@link Model} constructor beyond {@link ModelOptions}. */
export interface ModelInternals {
  /** Compile the per-event operations (default true); false forces the generic loops. */
  readonly codegen?: boolean
}

/** An update of a model: merge, state and clear come from the model's fields. */
export class ModelUpdate<
  F extends Fields = Fields,
  Args extends unknown[] = unknown[],
> extends Update<ModelDoc<F>> {
  /** The model this update belongs to. */
  readonly model: Model<F, Args>
  /** Global totals read back from the shared tier, which `aggregate()` then returns. */
  #totals: Aggregate<F> | undefined

  constructor(model: Model<F, Args>, options: UpdateOptions<ModelDoc<F>>) {
    super(options.collection === undefined ? { ...options, collection: model.collection } : options)
    this.model = model
    if (options.doc === undefined) this.doc = this.emptyDoc()
  }

  /**
   * Combines every field of `other` into this update, atomically: when a field rejects the result
   * (an integer sum past 2^53 − 1) nothing changes.
   * @throws {@link ArgumentError} when `other` is not an update of this model and id (another
   * model, a `ConflictFreeUpdate`, not an update at all), or a total overflows.
   */
  merge(other: ModelUpdate<F, Args>): void {
    this.assertPartial()
    if (!(other instanceof ModelUpdate) || other.model !== this.model || other.id !== this.id) {
      const from = other instanceof ModelUpdate ? `${other.model.name} update` : describe(other)
      throw new ArgumentError(
        `cannot merge ${from} ${(other as { resourceId?: unknown })?.resourceId} into ${this.resourceId} (${this.model.name})`,
      )
    }
    this.model.ops.fold(this.doc, other.doc)
  }

  /**
   * Folds raw field inputs into this update: the same as `merge(Model.create({ id, ...input }))`
   * without building an update, which makes it the fast path for events of a key already held.
   * Atomic: invalid input or an overflowing total changes nothing.
   *
   * @param input - any subset of the fields' inputs; `id`, when given, must be this update's.
   * @returns this update.
   * @throws {@link ArgumentError} for another id, an unknown field or an input a field rejects.
   */
  add(input: ModelValues<F>): this {
    this.assertPartial()
    if (input.id !== undefined && idString(input.id, `${this.model.name}.id`) !== this.id) {
      throw new ArgumentError(`cannot add ${this.model.name} ${input.id} to ${this.resourceId}`)
    }
    this.model.ops.add(this.doc, input)
    return this
  }

  /** What the sink sees: each field's output (or the totals it was read back with). */
  aggregate(): Aggregate<F> {
    if (this.#totals !== undefined) return this.#totals
    const aggregate: Record<string, unknown> = {}
    for (const [name, field] of this.model.allFields)
      aggregate[name] = field.output(this.value(name))
    return aggregate as Aggregate<F>
  }

  /** Calls the model's `onComplete` with the aggregate; does nothing without one. */
  execute(...args: Args): void | Promise<void> {
    return this.model.onComplete?.(this.aggregate(), ...args)
  }

  /** Each value field's JSON encoding. */
  override state(): Json {
    const state: Record<string, Json> = {}
    for (const [name, field] of this.model.valueFields) state[name] = field.encode(this.value(name))
    return state
  }

  /**
   * Decodes every field; missing fields are empty.
   * @throws {@link ArgumentError} for unknown fields or values a field rejects.
   */
  override restore(state: Json): void {
    assertPlainObject(state, `${this.model.name} state`)
    const encoded = state as Record<string, unknown>
    this.model.checkKnown(encoded, 'state')
    const doc = this.emptyDoc() as Record<string, unknown>
    for (const [name, field] of this.model.valueFields) {
      if (encoded[name] !== undefined)
        doc[name] = field.decode(encoded[name], `${this.model.name}.${name}`)
    }
    this.doc = doc as ModelDoc<F>
  }

  /** Whether every value field is empty. */
  isEmpty(): boolean {
    return this.model.valueFields.every(([name, field]) => field.isEmpty(this.value(name)))
  }

  protected override emptyDoc(): ModelDoc<F> {
    const doc = this.model.ops.createDoc({})
    doc.id = this.id
    return doc as ModelDoc<F>
  }

  /**
   * Makes this update hold global totals read back from the shared tier.
   * @internal used by {@link Model.fromTotals}.
   */
  holdTotals(totals: Aggregate<F>): this {
    this.#totals = totals
    return this
  }

  /** Whether this update holds totals read back from the shared tier (see {@link Model.fromTotals}). */
  get isTotal(): boolean {
    return this.#totals !== undefined
  }

  private assertPartial(): void {
    if (this.#totals !== undefined) {
      throw new CacheError(
        `${this.resourceId} holds totals read back from the shard; it cannot take more`,
      )
    }
  }

  private value(name: string): unknown {
    return (this.doc as Record<string, unknown>)[name]
  }
}

/**
 * A typed model: its fields, and how to create its updates. Also an {@link UpdateType}, so it can
 * be registered with a {@link Codec}.
 */
export class Model<F extends Fields = Fields, Args extends unknown[] = unknown[]>
  implements UpdateType<ModelUpdate<F, Args>>
{
  /** The collection of its updates. */
  readonly collection: string
  /** The version of its encoded state. */
  readonly version: number
  /** Called by `execute` with the aggregate. */
  readonly onComplete: OnComplete<F, Args> | undefined
  /** Every field, as [name, field] pairs, in declaration order. */
  readonly allFields: ReadonlyArray<readonly [string, AnyField]>
  /** Every field but `id`, as [name, field] pairs. */
  readonly valueFields: ReadonlyArray<readonly [string, AnyField]>
  /** The laws its merge obeys: those all of its fields obey. */
  readonly laws: Laws
  /** The per-event operations (create, add, merge), compiled for this model. */
  readonly ops: ModelOps
  /** The class of this model's updates; subclass it to override `execute`. */
  readonly updateClass: new (
    options: UpdateOptions<ModelDoc<F>>,
  ) => ModelUpdate<F, Args>

  /** Prefer {@link defineModel}, which validates its arguments. */
  constructor(
    /** The model's name; also its codec type name. */
    readonly name: string,
    /** The model's fields, as declared. */
    readonly fields: F,
    options: ModelOptions<F, Args> & ModelInternals = {},
  ) {
    this.collection = options.collection ?? name
    this.version = options.version ?? 1
    this.onComplete = options.onComplete
    this.allFields = Object.entries(fields)
    this.valueFields = this.allFields.filter(([fieldName]) => fieldName !== 'id')
    this.laws = {
      associative: true,
      commutative: this.valueFields.every(([, field]) => field.laws.commutative),
      idempotent: this.valueFields.every(([, field]) => field.laws.idempotent),
    }
    const opFields = this.valueFields.map(([fieldName, field]) => ({
      name: fieldName,
      field,
      path: `${name}.${fieldName}`,
    }))
    this.ops = modelOps(opFields, (input) => this.checkKnown(input, 'input'), options.codegen)
    const model = this
    this.updateClass = class extends ModelUpdate<F, Args> {
      constructor(options: UpdateOptions<ModelDoc<F>>) {
        super(model, options)
      }
    }
  }

  /** The codec type name: the model's name. */
  get typeName(): string {
    return this.name
  }

  /**
   * A new update of this model. Fields left out are empty.
   *
   * @param input - the id and the fields' inputs.
   * @param options - session options (`softSessionMs`, `hardSessionMs`, `initCache`, `spec`…).
   * @throws {@link ArgumentError} for a missing id, an unknown field, or an input a field rejects.
   */
  create(input: ModelInput<F>, options?: CreateOptions): ModelUpdate<F, Args> {
    if (typeof input !== 'object' || input === null) {
      throw new ArgumentError(`${this.name}.create needs an object, got ${describe(input)}`)
    }
    if (input.id === undefined || input.id === null)
      throw new ArgumentError(`${this.name}.create: id is required`)
    const doc = this.ops.createDoc(input)
    const update = new this.updateClass(
      options === undefined
        ? { id: input.id, collection: this.collection, doc: doc as ModelDoc<F> }
        : { ...options, id: input.id, collection: this.collection, doc: doc as ModelDoc<F> },
    )
    doc.id = update.id
    return update
  }

  /**
   * An update holding the global aggregate read back from Redis, one reply per value field (the
   * reply of the read its fold description names). Its `aggregate()` returns those totals and
   * `execute` hands them to `onComplete`; it cannot be merged into.
   *
   * @throws {@link ArgumentError} when a reply is not a valid total of its field.
   */
  fromTotals(
    identity: UpdateOptions<never>,
    replies: Readonly<Record<string, RedisReply>>,
  ): ModelUpdate<F, Args> {
    const update = new this.updateClass(identity)
    const totals: Record<string, unknown> = { id: update.id }
    for (const [name, field] of this.valueFields)
      totals[name] = field.readTotal(replies[name] ?? null, `${this.name}.${name}`)
    return update.holdTotals(totals as Aggregate<F>)
  }

  /** Rebuilds an update from its identity and state (codec). */
  revive(identity: UpdateOptions<never>, state: Json): ModelUpdate<F, Args> {
    const update = new this.updateClass(identity)
    update.restore(state)
    return update
  }

  /** @throws {@link ArgumentError} naming the first key that is not a field. */
  checkKnown(values: Record<string, unknown>, where: string): void {
    for (const key in values) {
      if (!Object.hasOwn(this.fields, key))
        throw new ArgumentError(`${this.name}.${where}: unknown field ${key}`)
    }
  }
}

/**
 * Declares a typed model from mergeable fields. Its updates merge, encode and clear field by
 * field; `execute(...args)` calls `onComplete(aggregate, ...args)`.
 *
 * @param name - the model's name (also its codec type name and default collection).
 * @param fields - an `id()` field and any others.
 * @param options - collection, codec version and `onComplete`.
 * @throws {@link ArgumentError} when `fields.id` is not an `id()` field or a name is invalid.
 * @example
 * const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() }, {
 *   onComplete: async (widget) => db.upsert(widget),
 * })
 * const update = Widget.create({ id: 'w1', clicks: 1 })
 */
export function defineModel<F extends Fields, Args extends unknown[] = []>(
  name: string,
  fields: F,
  options?: ModelOptions<F, Args>,
): Model<F, Args> {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ArgumentError(`model name must be a non-empty string, got ${describe(name)}`)
  }
  if (typeof fields !== 'object' || fields === null || fields.id?.kind !== 'id') {
    throw new ArgumentError(`model ${name} needs an id field: { id: id(), ... }`)
  }
  return new Model(name, fields, options)
}
