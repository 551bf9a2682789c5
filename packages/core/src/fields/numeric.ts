import { ArgumentError } from '../errors.js'
import type { Field, Laws } from '../Field.js'
import { describe } from '../json.js'
import { addSafe, finiteNumber, replyNumber, safeInteger } from './checks.js'

/** Laws of addition: associative and commutative, not idempotent. */
const ADDITIVE: Laws = { associative: true, commutative: true, idempotent: false }
/** Laws of a semilattice (max, min, union, last-write-wins). */
export const SEMILATTICE: Laws = { associative: true, commutative: true, idempotent: true }

/** Redis' INCRBY works on signed 64-bit integers. */
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** The numeric representation of a `sum` or `diff` field. */
export type NumericType = 'int' | 'float' | 'bigint'

/** A sum over numbers (`int`: exact safe integers, `float`: doubles). */
export type NumberSumField = Field<number, number>
/** A sum over bigints, exact in Redis' signed 64-bit range. */
export type BigintSumField = Field<bigint | number, bigint>

const identity = <T>(value: T): T => value

const intSum: NumberSumField = {
  kind: 'sum:int',
  laws: ADDITIVE,
  redis: { op: 'incrby' },
  fallible: true,
  empty: () => 0,
  combine: (a, b) => addSafe(a, b),
  absorb: (a, b) => addSafe(a, b),
  lift: safeInteger,
  output: identity,
  encode: identity,
  decode: safeInteger,
  redisArgs: (value) => [String(value)],
  readTotal: (reply, path) => safeInteger(replyNumber(reply, path, 0), path),
  isEmpty: (value) => value === 0,
}

function addFinite(a: number, b: number): number {
  const total = a + b
  if (!Number.isFinite(total)) throw new ArgumentError(`sum ${a} + ${b} overflows to ${total}`)
  return total
}

const floatSum: NumberSumField = {
  ...intSum,
  kind: 'sum:float',
  redis: { op: 'incrbyfloat' },
  combine: addFinite,
  absorb: addFinite,
  lift: finiteNumber,
  decode: finiteNumber,
  readTotal: (reply, path) => replyNumber(reply, path, 0),
}

function int64(value: bigint, path: string): bigint {
  if (value < INT64_MIN || value > INT64_MAX) {
    throw new ArgumentError(`${path} ${value} is outside Redis' signed 64-bit integer range`)
  }
  return value
}

function liftBigint(input: unknown, path: string): bigint {
  if (typeof input === 'bigint') return int64(input, path)
  return BigInt(safeInteger(input, path))
}

function addInt64(a: bigint, b: bigint): bigint {
  return int64(a + b, 'sum')
}

const bigintSum: BigintSumField = {
  kind: 'sum:bigint',
  laws: ADDITIVE,
  redis: { op: 'incrby' },
  fallible: true,
  empty: () => 0n,
  combine: addInt64,
  absorb: addInt64,
  lift: liftBigint,
  output: identity,
  encode: (value) => value.toString(),
  decode: (json, path) => {
    if (typeof json !== 'string' || !/^-?\d{1,20}$/.test(json)) {
      throw new ArgumentError(`${path} must be a decimal integer string, got ${describe(json)}`)
    }
    return int64(BigInt(json), path)
  },
  redisArgs: (value) => [value.toString()],
  readTotal: (reply, path) => (reply === null ? 0n : bigintSum.decode(reply, path)),
  isEmpty: (value) => value === 0n,
}

/**
 * A sum. `'int'` (default) keeps exact integers and rejects a total past ±(2^53 − 1) with an
 * {@link ArgumentError}; `'bigint'` is exact over Redis' signed 64-bit range; `'float'` adds
 * doubles (associative up to rounding) and rejects overflow to ±Infinity.
 * Folds with `INCRBY` / `INCRBYFLOAT`.
 *
 * @example
 * const Widget = defineModel('Widget', { id: id(), clicks: sum(), revenue: sum('float') })
 */
export function sum(type?: 'int' | 'float'): NumberSumField
export function sum(type: 'bigint'): BigintSumField
export function sum(type: NumericType = 'int'): NumberSumField | BigintSumField {
  return type === 'bigint' ? bigintSum : type === 'float' ? floatSum : intSum
}

/**
 * A running difference: each input is an amount to subtract, so the aggregate is the (negative)
 * net change, e.g. stock taken out of a warehouse. Same types and folds as {@link sum}.
 *
 * @example
 * const Stock = defineModel('Stock', { id: id(), taken: diff() })
 * Stock.create({ id: 'sku-1', taken: 3 }) // contributes -3
 */
export function diff(type?: 'int' | 'float'): NumberSumField
export function diff(type: 'bigint'): BigintSumField
export function diff(type: NumericType = 'int'): NumberSumField | BigintSumField {
  if (type === 'bigint') {
    return { ...bigintSum, kind: 'diff:bigint', lift: (input, path) => -liftBigint(input, path) }
  }
  const base = sum(type)
  return { ...base, kind: `diff:${type}`, lift: (input, path) => 0 - base.lift(input, path) }
}

/** A field keeping the largest or smallest number seen; `null` until a number arrives. */
export type ExtremumField = Field<number, number | null>

function extremum(kind: 'max' | 'min'): ExtremumField {
  const pick = kind === 'max' ? Math.max : Math.min
  const combine = (a: number | null, b: number | null): number | null =>
    a === null ? b : b === null ? a : pick(a, b)
  const decode = (json: unknown, path: string) => (json === null ? null : finiteNumber(json, path))
  return {
    kind,
    laws: SEMILATTICE,
    redis: { op: kind },
    fallible: false,
    empty: () => null,
    combine,
    absorb: combine,
    lift: finiteNumber,
    output: identity,
    encode: identity,
    decode,
    redisArgs: (value) => (value === null ? [] : [String(value)]),
    readTotal: (reply, path) => replyNumber(reply, path, null),
    isEmpty: (value) => value === null,
  }
}

const maxField = extremum('max')
const minField = extremum('min')

/** The largest number seen (`GREATEST` in SQL, compare-and-set in Redis). */
export function max(): ExtremumField {
  return maxField
}

/** The smallest number seen (`LEAST` in SQL, compare-and-set in Redis). */
export function min(): ExtremumField {
  return minField
}
