import { ArgumentError } from '../errors.js'
import type { Field } from '../Field.js'
import { assertJson, compareCodePoints, describe, type Json } from '../json.js'
import { finiteNumber, parseJson, replyStrings } from './checks.js'
import { SEMILATTICE } from './numeric.js'

/** The identity of a model instance; `''` until set. */
export type IdField = Field<string | number, string>

/** Turns an id given as a string or a safe integer into its string form. */
export function idString(input: unknown, path: string): string {
  if (typeof input === 'number' && Number.isSafeInteger(input)) return String(input)
  if (typeof input === 'string' && input.length > 0) return input
  throw new ArgumentError(
    `${path} must be a non-empty string or a safe integer, got ${describe(input)}`,
  )
}

function sameId(a: string, b: string): string {
  if (a === '' || a === b) return b
  if (b === '') return a
  throw new ArgumentError(
    `cannot merge updates of different ids ${JSON.stringify(a)} and ${JSON.stringify(b)}`,
  )
}

const idField: IdField = {
  kind: 'id',
  laws: SEMILATTICE,
  redis: { op: 'none' },
  fallible: false,
  empty: () => '',
  combine: sameId,
  absorb: sameId,
  lift: idString,
  output: (value) => value,
  encode: (value) => value,
  decode: (json, path) => (json === '' ? '' : idString(json, path)),
  redisArgs: () => [],
  readTotal: () => '',
  isEmpty: (value) => value === '',
}

/**
 * The model's identity. Merging two instances with different ids throws an
 * {@link ArgumentError}; nothing is stored in Redis for it (the id is part of the key).
 */
export function id(): IdField {
  return idField
}

/** A value stamped with the time it was written. */
export type Stamped<V> = {
  /** When the value was written (any finite number, usually epoch milliseconds). */
  readonly at: number
  readonly value: V
}

/** A last-write-wins register; `null` until written. */
export type LastWriteField<V extends Json> = Field<Stamped<V>, Stamped<V> | null>

/** Later `at` wins; equal `at` is broken by the larger JSON text in UTF-8 byte order. */
function later<V extends Json>(a: Stamped<V> | null, b: Stamped<V> | null): Stamped<V> | null {
  if (a === null) return b
  if (b === null || a.at > b.at) return a
  if (b.at > a.at) return b
  return compareCodePoints(JSON.stringify(a.value), JSON.stringify(b.value)) >= 0 ? a : b
}

function liftStamped<V extends Json>(input: unknown, path: string): Stamped<V> {
  if (typeof input !== 'object' || input === null || !('at' in input) || !('value' in input)) {
    throw new ArgumentError(`${path} must be { at, value }, got ${describe(input)}`)
  }
  const at = finiteNumber(input.at, `${path}.at`)
  const value = assertJson(input.value, `${path}.value`) as V
  return { at, value }
}

/**
 * Last write wins, by timestamp. Ties go to the value with the larger JSON text (compared by code
 * point, which is Redis' byte order), so every replica picks the same winner.
 *
 * @example
 * const Profile = defineModel('Profile', { id: id(), email: lastWrite<string>() })
 * Profile.create({ id: 'u1', email: { at: Date.now(), value: 'a@example.com' } })
 */
export function lastWrite<V extends Json = Json>(): LastWriteField<V> {
  return {
    kind: 'lastWrite',
    laws: SEMILATTICE,
    redis: { op: 'lastWrite' },
    fallible: false,
    empty: () => null,
    combine: later,
    absorb: later,
    lift: liftStamped,
    output: (value) => value,
    encode: (value) => value,
    decode: (json, path) => (json === null ? null : liftStamped(json, path)),
    redisArgs: (value) => (value === null ? [] : [String(value.at), JSON.stringify(value.value)]),
    readTotal: (reply, path) => {
      const stored = replyStrings(reply, path)
      if (stored.length === 0) return null
      return liftStamped({ at: Number(stored[0]), value: parseJson(stored[1], path) }, path)
    },
    isEmpty: (value) => value === null,
  }
}
