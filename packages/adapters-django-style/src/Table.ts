import { ArgumentError } from '@phonon/core'
import { type Column, type Columns, isColumn, type TypeOf } from './columns.js'
import { checkRecord, type Delta, deltaValue, describe, type KeyValue, keyValue } from './values.js'

/** The longest identifier PostgreSQL keeps (it silently truncates longer ones). */
const MAX_IDENTIFIER = 63
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The column every table gets for fenced writes: the highest fencing token written. */
export const FENCE_COLUMN = 'phonon_fence'

/**
 * @throws {@link ArgumentError} unless `name` is a letter or `_` followed by letters, digits and
 * `_`, at most 63 characters (identifiers are still quoted by Kysely; this keeps them portable).
 */
export function checkIdentifier(name: unknown, what: string): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name) || name.length > MAX_IDENTIFIER) {
    throw new ArgumentError(
      `${what} must match /^[A-Za-z_][A-Za-z0-9_]*$/ and be at most ${MAX_IDENTIFIER} characters, got ${describe(name)}`,
    )
  }
  return name
}

/** What a key column accepts in a spec. */
type KeyInput<C> = C extends Column<'bigint'> ? bigint | number : NonNullable<TypeOf<C>>

/** The unique key of a row: a value for each key column. */
export type SpecOf<C extends Columns, K extends keyof C> = { readonly [P in K]: KeyInput<C[P]> }

/** What an update may merge into each non-key column. */
type DeltaInput<C> =
  C extends Column<'set'>
    ? Iterable<string>
    : C extends Column<'bigint'>
      ? TypeOf<C> | number
      : TypeOf<C>

/** The values an upsert merges into a row: any subset of the non-key columns. */
export type DeltaOf<C extends Columns, K extends keyof C> = {
  readonly [P in Exclude<keyof C, K>]?: DeltaInput<C[P]>
}

/** A row as read back: every column, key columns never null. */
export type RowOf<C extends Columns, K extends keyof C> = {
  -readonly [P in keyof C]: P extends K ? NonNullable<TypeOf<C[P]>> : TypeOf<C[P]>
}

/** Columns that can be assigned as they are (text and numbers). */
export type Assignable<C extends Columns> = {
  [P in keyof C & string]: C[P]['kind'] extends 'lastWrite' | 'set' ? never : P
}[keyof C & string]

/** An equality filter: a value (or `null`) for any text or numeric columns. */
export type FilterOf<C extends Columns> = { readonly [P in Assignable<C>]?: TypeOf<C[P]> | null }

/** A checked row an execution writes: its key and the deltas of its non-key columns. */
export interface RowWrite {
  readonly model: AnyTable
  /** Values of the key columns, in key order. */
  readonly key: readonly KeyValue[]
  /** Deltas by column name (never a key column). */
  readonly deltas: ReadonlyMap<string, Delta>
}

/** A table of any columns: what the SQL layer accepts. */
// biome-ignore lint/suspicious/noExplicitAny: every table, whatever its columns (row types vary)
export type AnyTable = Table<any, any>

/**
 * A SQL table: its name, its columns and the unique key a spec names, and the checks of what is
 * written to it. What the SQL layer works with; users declare one with `defineSqlModel`.
 *
 * @typeParam C - the columns.
 * @typeParam K - the names of the key columns.
 */
export class Table<C extends Columns = Columns, K extends keyof C & string = keyof C & string> {
  /** The key columns, in key order. */
  readonly keyColumns: ReadonlyArray<readonly [K, Column]>
  /** The other columns stored in the table itself (not `set` columns). */
  readonly valueColumns: ReadonlyArray<readonly [string, Column]>
  /** The `set` columns, each stored in its child table. */
  readonly setColumns: ReadonlyArray<readonly [string, Column]>
  /** Prefer `defineSqlModel`, which checks the declaration with {@link checkTable}. */
  constructor(
    /** The table's name. */
    readonly table: string,
    /** The columns, as declared. */
    readonly columns: C,
    /** The names of the key columns, in order. */
    readonly key: readonly K[],
    /** What joins the parts of an id of a key of several columns (`3:7`). */
    readonly keySeparator = ':',
  ) {
    this.keyColumns = key.map((name) => [name, columns[name] as Column] as const)
    const others = Object.entries(columns).filter(([name]) => !key.includes(name as K))
    this.valueColumns = others.filter(([, c]) => c.kind !== 'set')
    this.setColumns = others.filter(([, c]) => c.kind === 'set')
  }

  /** The child table of a `set` column. */
  childTable(column: string): string {
    return `${this.table}__${column}`
  }

  /**
   * The key values of a spec, in key order.
   * @throws {@link ArgumentError} unless `spec` is an object naming exactly the key columns, each
   * with a value its column takes.
   */
  keyOf(spec: unknown, path = `${this.table} spec`): KeyValue[] {
    const values = checkRecord(spec, path)
    for (const name of Object.keys(values)) {
      if (!this.key.includes(name as K)) {
        throw new ArgumentError(
          `${path}: ${name} is not a key column of ${this.table} (key: ${this.key.join(', ')})`,
        )
      }
    }
    return this.keyColumns.map(([name, column]) =>
      keyValue(column, `${path}.${name}`, values[name]),
    )
  }

  /**
   * The key values of an update's id: the id itself for a key of one column; for a key of
   * several, its parts joined by {@link Table.keySeparator}, in key order (`'3:7'` →
   * `parent = 3, target = 7`).
   * @throws {@link ArgumentError} for an id with another number of parts, or a part its key
   * column rejects (text for an integer column, too long…).
   */
  keyOfId(id: string, path = `${this.table} id`): KeyValue[] {
    const [only] = this.keyColumns
    if (this.keyColumns.length === 1 && only !== undefined) {
      return [keyValue(only[1], `${path} (${only[0]})`, id)]
    }
    const parts = id.split(this.keySeparator)
    if (parts.length !== this.keyColumns.length) {
      throw new ArgumentError(
        `${path} ${describe(id)} must be ${this.keyColumns.length} parts joined by ${JSON.stringify(this.keySeparator)} (${this.key.join(this.keySeparator)})`,
      )
    }
    return this.keyColumns.map(([name, column], i) =>
      keyValue(column, `${path} (${name})`, parts[i]),
    )
  }

  /**
   * Checks a delta: an object of non-key columns and the values merged into them.
   * @throws {@link ArgumentError} for an unknown or key column, or a value its column rejects.
   */
  deltasOf(delta: unknown, path = `${this.table} values`): Map<string, Delta> {
    const deltas = new Map<string, Delta>()
    for (const [name, value] of Object.entries(checkRecord(delta, path))) {
      const column = this.column(name, path)
      if (this.key.includes(name as K)) {
        throw new ArgumentError(`${path}: ${name} is a key column; name it in the spec`)
      }
      if (value !== undefined) deltas.set(name, deltaValue(column, `${path}.${name}`, value))
    }
    return deltas
  }

  /**
   * A checked row write: the spec's key and the deltas.
   * @throws {@link ArgumentError} as {@link Table.keyOf} and {@link Table.deltasOf} do.
   */
  rowWrite(spec: unknown, delta: unknown): RowWrite {
    return {
      model: this as unknown as AnyTable,
      key: this.keyOf(spec),
      deltas: this.deltasOf(delta),
    }
  }

  /**
   * The column of that name.
   * @throws {@link ArgumentError} when the table has no such column.
   */
  column(name: string, path: string = this.table): Column {
    if (!Object.hasOwn(this.columns, name)) {
      throw new ArgumentError(`${path}: ${this.table} has no column ${JSON.stringify(name)}`)
    }
    return this.columns[name] as Column
  }
}

/**
 * Checks a table's declaration.
 * @returns the key columns, in order.
 * @throws {@link ArgumentError} for a name that is not a portable identifier (letters, digits,
 * `_`; at most 63 characters, child tables included), a value that is not a column, a key that
 * is empty, repeated or names a column that is not text, integer or bigint, or a column whose
 * name collides with `phonon_fence` or a lastWrite column's `_at` companion.
 */
export function checkTable<C extends Columns, K extends keyof C & string>(
  table: string,
  columns: C,
  keyOption: K | readonly K[],
): K[] {
  checkIdentifier(table, 'table name')
  if (typeof columns !== 'object' || columns === null) {
    throw new ArgumentError(`table ${table} needs an object of columns`)
  }
  const names = new Set<string>()
  for (const [name, value] of Object.entries(columns)) {
    checkIdentifier(name, `column name of ${table}`)
    if (!isColumn(value)) {
      throw new ArgumentError(
        `${table}.${name} must be a column (column.text(), column.integer()…)`,
      )
    }
    if (name === FENCE_COLUMN) throw new ArgumentError(`${table}.${FENCE_COLUMN} is reserved`)
    if (value.kind === 'set')
      checkIdentifier(`${table}__${name}`, `child table of ${table}.${name}`)
    if (value.kind === 'lastWrite') {
      checkIdentifier(`${name}_at`, `companion column of ${table}.${name}`)
      names.add(`${name}_at`)
    }
  }
  for (const name of Object.keys(columns)) {
    if (names.has(name))
      throw new ArgumentError(`${table}.${name} collides with a lastWrite column's _at`)
  }
  const key = (Array.isArray(keyOption) ? keyOption : [keyOption]) as K[]
  if (key.length === 0 || new Set(key).size !== key.length) {
    throw new ArgumentError(
      `table ${table} needs a key of distinct columns, got ${describe(keyOption)}`,
    )
  }
  for (const name of key) {
    const column = Object.hasOwn(columns, name) ? columns[name] : undefined
    if (column === undefined || !['text', 'integer', 'bigint'].includes(column.kind)) {
      throw new ArgumentError(
        `key ${describe(name)} of ${table} must name a text, integer or bigint column`,
      )
    }
  }
  return key
}
