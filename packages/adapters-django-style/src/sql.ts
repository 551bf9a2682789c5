/**
 * The bottom of the SQL layer: the handle's type, what the write path needs of a sink, and the
 * small SQL builders shared by reads and writes (keys as text, `IN` lists, chunks under the
 * placeholder limit, `unnest` rows, `GREATEST`/`LEAST` with PostgreSQL's NULL rule).
 *
 * @internal
 * @module
 */
import { type Kysely, type RawBuilder, sql } from 'kysely'

// biome-ignore lint/suspicious/noExplicitAny: tables are declared at run time, not as a Kysely DB type
type AnyDB = any

/** A Kysely handle (or transaction) on a sink's database, tables declared at run time. */
export type Db = Kysely<AnyDB>

/** The databases a sink speaks to. */
export type Dialect = 'postgres' | 'mysql' | 'pglite'

/** The SQL family: PGlite speaks PostgreSQL. */
export type Flavor = 'postgres' | 'mysql'

/** What the write path needs of a sink (a {@link Sink} is one). */
export interface Target {
  readonly db: Db
  readonly flavor: Flavor
  /** The table of recorded executions. */
  readonly executionsTable: string
  /** Runs `fn` in a transaction, retried when it loses a deadlock; the driver's errors as they are. */
  retrying<T>(fn: (trx: Db) => Promise<T>): Promise<T>
}

/** Placeholders per statement stay under this (PostgreSQL and MySQL allow 65,535). */
const MAX_PARAMS = 30_000

/** The text of a key, equal for equal keys whatever the driver returned (`5`, `'5'`, `5n`). */
export function keyText(key: readonly unknown[]): string {
  return JSON.stringify(key.map(String))
}

/**
 * `(k1, k2) IN ((?, ?), …)` (or `k IN (?, …)` for one column), values as parameters. Callers
 * never pass an empty list.
 */
export function keyIn(
  columns: readonly string[],
  tuples: ReadonlyArray<readonly unknown[]>,
): RawBuilder<boolean> {
  if (columns.length === 1) {
    return sql<boolean>`${sql.ref(columns[0] as string)} IN (${sql.join(tuples.map((t) => t[0]))})`
  }
  const refs = sql.join(columns.map((c) => sql.ref(c)))
  const rows = sql.join(tuples.map((t) => sql`(${sql.join(t)})`))
  return sql<boolean>`(${refs}) IN (${rows})`
}

/**
 * PostgreSQL: rows as `SELECT * FROM unnest($1::type[], $2::type[], …)`, one array parameter per
 * column whatever the number of rows. Cheaper to parse and plan than `VALUES` with a placeholder
 * per value (about twice as fast for 500 rows), and never near the 65,535-placeholder limit.
 */
export function unnestRows(
  records: ReadonlyArray<Record<string, unknown>>,
  typeOf: (column: string) => string,
): { columns: string[]; rows: RawBuilder<unknown> } {
  const columns = Object.keys(records[0] ?? {})
  const arrays = columns.map(
    (c) => sql`${records.map((r) => r[c] ?? null)}::${sql.raw(typeOf(c))}[]`,
  )
  return { columns, rows: sql`SELECT * FROM unnest(${sql.join(arrays)})` }
}

/** Splits rows into chunks whose placeholders stay under {@link MAX_PARAMS}. */
export function chunks<T>(items: readonly T[], paramsPerItem: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_PARAMS / Math.max(1, paramsPerItem)))
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Code-unit order of two strings (one order for every transaction). */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Whether the SQL dialect ignores NULL in GREATEST/LEAST (PostgreSQL) or returns NULL (MySQL). */
export type GreatestStyle = 'ignoresNull' | 'nullWins'

/**
 * `GREATEST(a, b)` / `LEAST(a, b)` with PostgreSQL's semantics everywhere: `NULL` arguments are
 * ignored (MySQL returns NULL, so there both sides are `COALESCE`d with the other).
 */
export function extremum(
  fn: 'greatest' | 'least',
  a: RawBuilder<unknown>,
  b: RawBuilder<unknown>,
  style: GreatestStyle,
): RawBuilder<unknown> {
  const name = sql.raw(fn === 'greatest' ? 'GREATEST' : 'LEAST')
  return style === 'ignoresNull'
    ? sql`${name}(${a}, ${b})`
    : sql`${name}(COALESCE(${a}, ${b}), COALESCE(${b}, ${a}))`
}
