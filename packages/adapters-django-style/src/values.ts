/**
 * Checks of every value before it reaches SQL, and the decoding of values read back. Each check
 * throws {@link ArgumentError} naming where the value sits.
 *
 * @internal
 * @module
 */
import { ArgumentError, assertJson, type Json, type Stamped } from '@phonon/core'
import type { Column } from './columns.js'

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value)
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object'
    ? `an object (${value.constructor?.name ?? 'null prototype'})`
    : typeof value
}

/**
 * @throws {@link ArgumentError} unless `input` is an object (not null, not an array).
 * @param what - what it must be, for the message (default `an object`).
 */
export function checkRecord(
  input: unknown,
  path: string,
  what = 'an object',
): Readonly<Record<string, unknown>> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ArgumentError(`${path} must be ${what}, got ${describe(input)}`)
  }
  return input as Readonly<Record<string, unknown>>
}

/** Lone surrogates would be replaced on the way to UTF-8, silently changing the value. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * @throws {@link ArgumentError} unless `input` is a well-formed string of at most `maxLength`
 * characters without NUL (PostgreSQL cannot store it).
 */
export function checkText(input: unknown, path: string, maxLength: number): string {
  if (typeof input !== 'string') {
    throw new ArgumentError(`${path} must be a string, got ${describe(input)}`)
  }
  if (input.length > maxLength) {
    throw new ArgumentError(`${path} is longer than ${maxLength} characters`)
  }
  if (input.includes('\0') || LONE_SURROGATE.test(input)) {
    throw new ArgumentError(`${path} must not contain NUL characters or lone surrogates`)
  }
  return input
}

/** @throws {@link ArgumentError} unless `input` is a safe integer. */
export function checkInteger(input: unknown, path: string): number {
  if (typeof input !== 'number' || !Number.isSafeInteger(input)) {
    throw new ArgumentError(`${path} must be a safe integer, got ${describe(input)}`)
  }
  return input === 0 ? 0 : input
}

/** @throws {@link ArgumentError} unless `input` is a finite number. */
export function checkFinite(input: unknown, path: string): number {
  if (typeof input !== 'number' || !Number.isFinite(input)) {
    throw new ArgumentError(`${path} must be a finite number, got ${describe(input)}`)
  }
  return input === 0 ? 0 : input
}

/** @throws {@link ArgumentError} unless `input` is a bigint or safe integer in the int64 range. */
export function checkBigint(input: unknown, path: string): bigint {
  const value = typeof input === 'bigint' ? input : BigInt(checkInteger(input, path))
  if (value < INT64_MIN || value > INT64_MAX) {
    throw new ArgumentError(`${path} ${value} is outside the signed 64-bit integer range`)
  }
  return value
}

/** A safe integer given as a number or as its canonical decimal text (an update's string id). */
function integerKey(input: unknown, path: string): number {
  if (typeof input === 'string' && /^-?(0|[1-9]\d{0,15})$/.test(input)) {
    return checkInteger(Number(input), path)
  }
  return checkInteger(input, path)
}

/** A value a key column accepts: text, or an integer given as a number or decimal text. */
export type KeyValue = string | number | bigint

/**
 * Checks the value of a key column.
 * @throws {@link ArgumentError} for a value of the wrong type, too long, or out of range.
 */
export function keyValue(column: Column, path: string, input: unknown): KeyValue {
  switch (column.kind) {
    case 'text':
      return checkText(input, path, column.maxLength)
    case 'integer':
      return integerKey(input, path)
    case 'bigint':
      return typeof input === 'string' && /^-?\d{1,19}$/.test(input)
        ? checkBigint(BigInt(input), path)
        : checkBigint(input, path)
    default:
      throw new ArgumentError(`${path}: a ${column.kind} column cannot be a key`)
  }
}

/** A number column's value: exact integer, bigint or double, by kind. */
export function numberValue(column: Column, path: string, input: unknown): number | bigint {
  if (column.kind === 'integer') return checkInteger(input, path)
  if (column.kind === 'bigint') return checkBigint(input, path)
  return checkFinite(input, path)
}

/** A last-write register's value as stored: its time and its JSON text. */
export interface StampedText {
  readonly at: number
  readonly json: string
}

/** A checked delta of one column of an upsert. */
export type Delta = number | bigint | StampedText | readonly string[] | null

/**
 * Checks what an update writes into one column (a delta, merged by the column's rule).
 * `null` (and `undefined`) means nothing to merge for max, min and lastWrite columns.
 *
 * @throws {@link ArgumentError} for a value the column does not take.
 */
export function deltaValue(column: Column, path: string, input: unknown): Delta {
  switch (column.kind) {
    case 'integer':
    case 'bigint':
    case 'float':
      if (input == null && column.merge !== 'sum') return null
      return numberValue(column, path, input)
    case 'lastWrite':
      return input == null ? null : stampedText(input, path, column.maxLength)
    case 'set':
      return input == null ? [] : members(input, path, column.maxLength)
    default:
      throw new ArgumentError(`${path}: a ${column.kind} column is not merged by updates`)
  }
}

function stampedText(input: unknown, path: string, maxLength: number): StampedText {
  if (typeof input !== 'object' || input === null || !('at' in input) || !('value' in input)) {
    throw new ArgumentError(`${path} must be { at, value }, got ${describe(input)}`)
  }
  const at = checkFinite(input.at, `${path}.at`)
  const json = JSON.stringify(assertJson(input.value, `${path}.value`))
  return { at, json: checkText(json, `${path}.value as JSON`, maxLength) }
}

function members(input: unknown, path: string, maxLength: number): string[] {
  if (!Array.isArray(input) && !(input instanceof Set)) {
    throw new ArgumentError(`${path} must be an array or a Set of strings, got ${describe(input)}`)
  }
  const unique = new Set<string>()
  let i = 0
  for (const member of input) unique.add(checkText(member, `${path}[${i++}]`, maxLength))
  return [...unique]
}

/**
 * Checks a value assigned as it is (`getOrCreate` defaults, `filter().update()`).
 * @throws {@link ArgumentError} for a value the column does not take, or `null` in a column
 * that cannot hold it.
 */
export function assignedValue(column: Column, path: string, input: unknown): KeyValue | null {
  if (input === null) {
    if (column.nullable) return null
    throw new ArgumentError(`${path} cannot be null`)
  }
  switch (column.kind) {
    case 'text':
      return checkText(input, path, column.maxLength)
    case 'integer':
    case 'bigint':
    case 'float':
      return numberValue(column, path, input)
    default:
      throw new ArgumentError(
        `${path}: a ${column.kind} column cannot be assigned; write it with an update`,
      )
  }
}

/** A value as a query parameter: bigints as decimal text (every driver takes that). */
export function param(value: KeyValue | null): string | number | null {
  return typeof value === 'bigint' ? value.toString() : value
}

/**
 * Decodes a value read back from SQL: drivers return 64-bit integers as strings (pg), bigints
 * (PGlite, large values) or numbers (mysql2).
 *
 * @throws {@link ArgumentError} when an `integer` column holds a value past 2^53 − 1.
 */
export function decodeValue(column: Column, path: string, raw: unknown): unknown {
  if (raw === null || raw === undefined) return null
  switch (column.kind) {
    case 'integer': {
      const value = Number(raw)
      if (!Number.isSafeInteger(value)) {
        throw new ArgumentError(`${path} holds ${raw}, past the exact integer range; use bigint()`)
      }
      return value
    }
    case 'bigint':
      return BigInt(raw as string)
    case 'float':
      return Number(raw)
    default:
      return raw
  }
}

/** Decodes a last-write register from its two SQL columns. */
export function decodeStamped(at: unknown, json: unknown): Stamped<Json> | null {
  if (at === null || at === undefined || typeof json !== 'string') return null
  return { at: Number(at), value: JSON.parse(json) as Json }
}
