import { ArgumentError } from './errors.js'
import { finiteNumber } from './fields/checks.js'
import { assertPlainObject, assertSafeKey, type Json } from './json.js'
import { Update, type UpdateOptions } from './Update.js'

/** A document of numeric increments. */
export type Increments = Record<string, number>

/**
 * An update whose doc is a set of numeric increments, merged by addition: no merge code to write,
 * only `execute`. Every value must be a finite number.
 *
 * @example
 * class ClickUpdate extends ConflictFreeUpdate {
 *   async execute() { await sink.increment(this.spec, this.doc) }
 * }
 * const update = new ClickUpdate({ id: 'w1', collection: 'widgets', doc: { clicks: 1 } })
 */
export abstract class ConflictFreeUpdate extends Update<Increments> {
  /** @throws {@link ArgumentError} when the doc is not an object of finite numbers. */
  constructor(options: UpdateOptions<Increments>) {
    super(options)
    this.doc = options.doc === undefined ? {} : increments(options.doc, 'doc')
  }

  /**
   * Adds every increment of `other` to this doc.
   * @throws {@link ArgumentError} when a total overflows to ±Infinity; the doc is then unchanged.
   */
  merge(other: ConflictFreeUpdate): void {
    addInto(this.doc, other.doc)
  }

  /**
   * Adds raw increments to this doc: `merge(new Update({ id, doc: increments }))` without
   * building an update, the fast path for events of a key already held.
   * @returns this update.
   * @throws {@link ArgumentError} when `increments` is not an object of finite numbers or a
   *   total overflows; the doc is then unchanged.
   */
  add(increments: Readonly<Increments>): this {
    addInto(this.doc, checkIncrements(increments, 'increments'))
    return this
  }

  /** @throws {@link ArgumentError} when `state` is not an object of finite numbers. */
  override restore(state: Json): void {
    this.doc = increments(state, 'state')
  }
}

/** A fresh copy of `input` checked to be an object of finite numbers. */
function increments(input: unknown, path: string): Increments {
  return Object.assign({}, checkIncrements(input, path))
}

/** @throws {@link ArgumentError} unless `input` is a plain object of finite numbers. */
function checkIncrements(input: unknown, path: string): Increments {
  assertPlainObject(input, path)
  for (const key in input) {
    if (key === '__proto__') assertSafeKey(key, path)
    finiteNumber((input as Increments)[key], `${path}.${key}`)
  }
  return input as Increments
}

/** Adds `from` into `doc`, all totals checked before any is written. */
function addInto(doc: Increments, from: Readonly<Increments>): void {
  for (const key in from) {
    const total = (doc[key] ?? 0) + (from[key] as number)
    if (!Number.isFinite(total)) throw new ArgumentError(`doc.${key} overflows to ${total}`)
  }
  for (const key in from) doc[key] = (doc[key] ?? 0) + (from[key] as number)
}
