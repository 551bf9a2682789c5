import { ArgumentError, type Json, type Stamped } from '@phonon/core'

/**
 * How a value written by an update combines with the stored one: added (`sum`), the larger kept
 * (`max`, SQL `GREATEST`) or the smaller kept (`min`, SQL `LEAST`).
 */
export type Merge = 'sum' | 'max' | 'min'

/** The kinds of column a table declares. */
export type ColumnKind = 'text' | 'integer' | 'bigint' | 'float' | 'lastWrite' | 'set'

/**
 * A column of a {@link SqlModel}: its kind, how updates merge into it and, as a phantom type,
 * the JavaScript type of its value in a row. Made by the builders of {@link column}.
 *
 * @typeParam Kind - the column's kind.
 * @typeParam T - the type of its value in rows read back.
 */
export interface Column<Kind extends ColumnKind = ColumnKind, T = unknown> {
  readonly kind: Kind
  /** How an update's value merges into the stored one; `null` for text, lastWrite and set. */
  readonly merge: Merge | null
  /** Whether the column may hold SQL `NULL`. Counters (`merge: 'sum'`) never do. */
  readonly nullable: boolean
  /** The longest text (or set member) accepted, in characters. */
  readonly maxLength: number
  /** Phantom marker carrying the value type; never set at runtime. */
  readonly __type?: T
}

/** The columns of a table, by name. */
export type Columns = { readonly [name: string]: Column }

/** The type of a column's value in a row. */
export type TypeOf<C> = C extends Column<ColumnKind, infer T> ? T : never

/** The names of the numeric columns of `C` (the ones updates merge into and `F()` refers to). */
export type NumericColumn<C extends Columns> = {
  [K in keyof C & string]: C[K]['kind'] extends 'integer' | 'bigint' | 'float' ? K : never
}[keyof C & string]

/** Options of {@link column.text} and {@link column.set}. */
export interface TextOptions {
  /** The longest value accepted, in characters (default 512, the longest phonon id). */
  readonly maxLength?: number
}

/** Options of the numeric columns. */
export interface NumericOptions<M extends Merge = Merge> {
  /** How an update's value merges into the stored one (default `'sum'`). */
  readonly merge?: M
}

/** The longest text value by default: the longest phonon resource id. */
export const DEFAULT_MAX_LENGTH = 512

function makeColumn<Kind extends ColumnKind, T>(
  kind: Kind,
  merge: Merge | null,
  nullable: boolean,
  maxLength = DEFAULT_MAX_LENGTH,
): Column<Kind, T> {
  return Object.freeze({ kind, merge, nullable, maxLength })
}

function mergeOption(options: NumericOptions | undefined): Merge {
  const merge = options?.merge ?? 'sum'
  if (merge !== 'sum' && merge !== 'max' && merge !== 'min') {
    throw new ArgumentError(`merge must be 'sum', 'max' or 'min', got ${JSON.stringify(merge)}`)
  }
  return merge
}

function lengthOption(options: TextOptions | undefined): number {
  const maxLength = options?.maxLength ?? DEFAULT_MAX_LENGTH
  if (!Number.isSafeInteger(maxLength) || maxLength < 1 || maxLength > 16_383) {
    throw new ArgumentError(`maxLength must be an integer in 1..16383, got ${maxLength}`)
  }
  return maxLength
}

function numeric<Kind extends 'integer' | 'bigint' | 'float', T>(
  kind: Kind,
  options: NumericOptions | undefined,
): Column<Kind, T> {
  const merge = mergeOption(options)
  return makeColumn(kind, merge, merge !== 'sum')
}

/**
 * `VARCHAR(maxLength)`: a key column, or a value set by `getOrCreate` defaults and
 * `filter().update()`. Values must be well-formed strings without NUL characters.
 *
 * @throws {@link ArgumentError} when `maxLength` is not an integer in 1..16383.
 */
function text(options?: TextOptions): Column<'text', string | null> {
  return makeColumn('text', null, true, lengthOption(options))
}

/**
 * `BIGINT` holding exact JavaScript numbers (safe integers). A counter by default (`NOT NULL
 * DEFAULT 0`, updates add); with `merge: 'max' | 'min'` a nullable extremum.
 *
 * @throws {@link ArgumentError} for an unknown `merge`.
 */
function integer(options?: NumericOptions<'sum'>): Column<'integer', number>
function integer(options: NumericOptions<'max' | 'min'>): Column<'integer', number | null>
function integer(options?: NumericOptions): Column<'integer', number | null> {
  return numeric('integer', options)
}

/**
 * `BIGINT` read back as a JavaScript `bigint` (exact over the signed 64-bit range).
 *
 * @throws {@link ArgumentError} for an unknown `merge`.
 */
function bigint(options?: NumericOptions<'sum'>): Column<'bigint', bigint>
function bigint(options: NumericOptions<'max' | 'min'>): Column<'bigint', bigint | null>
function bigint(options?: NumericOptions): Column<'bigint', bigint | null> {
  return numeric('bigint', options)
}

/**
 * `DOUBLE PRECISION`. A sum by default; with `merge: 'max' | 'min'` a nullable extremum
 * (`GREATEST` / `LEAST`).
 *
 * @throws {@link ArgumentError} for an unknown `merge`.
 */
function float(options?: NumericOptions<'sum'>): Column<'float', number>
function float(options: NumericOptions<'max' | 'min'>): Column<'float', number | null>
function float(options?: NumericOptions): Column<'float', number | null> {
  return numeric('float', options)
}

/**
 * A last-write-wins register, as two SQL columns: `<name>` (the value's JSON text) and
 * `<name>_at` (`DOUBLE PRECISION`). A write replaces the stored value only when its `at` is
 * later, or equal with a larger JSON text (by code point): the rule of `@phonon/core`'s
 * `lastWrite()` field, so the result does not depend on the order of executions.
 */
function lastWrite<V extends Json = Json>(): Column<'lastWrite', Stamped<V> | null> {
  return makeColumn('lastWrite', null, true, 16_383)
}

/**
 * The longest set member by default: with a 512-character key it keeps the child table's primary
 * key within InnoDB's 3,072-byte limit (4 bytes per utf8mb4 character).
 */
const SET_MAX_LENGTH = 255

/**
 * A set of strings, kept in a child table `<table>__<name>` (the key columns and `member`,
 * primary key on all of them): a write inserts the members not yet there, so merging is a union
 * whatever the order. Rows read back hold the members sorted by code point. Members are at most
 * `maxLength` (default 255) characters.
 *
 * @throws {@link ArgumentError} when `maxLength` is not an integer in 1..16383.
 */
function set(options?: TextOptions): Column<'set', string[]> {
  return makeColumn('set', null, false, lengthOption({ maxLength: SET_MAX_LENGTH, ...options }))
}

/**
 * The column builders: the key columns and other columns of `defineSqlModel`.
 *
 * @example
 * const Pair = defineSqlModel('Pair', { id: id(), clicks: sum(), worst: min() }, {
 *   key: { parent: column.integer(), target: column.integer() },
 *   columns: { worst: column.integer({ merge: 'min' }), label: column.text({ maxLength: 20 }) },
 * })
 */
export const column = { text, integer, bigint, float, lastWrite, set } as const

/** Whether `value` is a column made by {@link column}. */
export function isColumn(value: unknown): value is Column {
  if (typeof value !== 'object' || value === null) return false
  const kind = (value as { kind?: unknown }).kind
  return (
    typeof kind === 'string' &&
    ['text', 'integer', 'bigint', 'float', 'lastWrite', 'set'].includes(kind)
  )
}

/** The SQL type of a column (PostgreSQL and MySQL both accept these spellings). */
export function sqlType(column: Column): 'bigint' | 'double precision' | `varchar(${number})` {
  switch (column.kind) {
    case 'integer':
    case 'bigint':
      return 'bigint'
    case 'float':
      return 'double precision'
    default:
      return `varchar(${column.maxLength})`
  }
}
