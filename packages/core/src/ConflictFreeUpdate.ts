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
    super({ ...options, doc: increments(options.doc ?? {}, 'doc') })
  }

  /** Adds every increment of `other` to this doc. */
  merge(other: ConflictFreeUpdate): void {
    const doc = this.doc
    for (const key in other.doc) {
      const total = (doc[key] ?? 0) + (other.doc[key] as number)
      if (!Number.isFinite(total)) throw new ArgumentError(`doc.${key} overflows to ${total}`)
      doc[key] = total
    }
  }

  /** @throws {@link ArgumentError} when `state` is not an object of finite numbers. */
  override restore(state: Json): void {
    this.doc = increments(state, 'state')
  }
}

/** A fresh copy of `input` checked to be an object of finite numbers. */
function increments(input: unknown, path: string): Increments {
  assertPlainObject(input, path)
  const doc: Increments = {}
  for (const [key, value] of Object.entries(input)) {
    assertSafeKey(key, path)
    doc[key] = finiteNumber(value, `${path}.${key}`)
  }
  return doc
}
