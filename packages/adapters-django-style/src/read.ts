/**
 * Reading rows back: the table's columns (a lastWrite column from its two SQL columns, bigints
 * exact on every driver) and the members of its `set` columns from their child tables.
 *
 * @internal
 * @module
 */
import { compareCodePoints } from '@phonon/core'
import {
  type Expression,
  type ExpressionBuilder,
  type SelectQueryBuilder,
  type SqlBool,
  sql,
} from 'kysely'
import { chunks, type Db, type Flavor, keyIn, keyText } from './sql.js'
import type { AnyTable } from './Table.js'
import { decodeStamped, decodeValue, param } from './values.js'

// biome-ignore lint/suspicious/noExplicitAny: tables are declared at run time
type Any = any
type AnySelect = SelectQueryBuilder<Any, Any, Any>

/** A WHERE condition over a table declared at run time. */
export type Where = (eb: ExpressionBuilder<Any, Any>) => Expression<SqlBool>

/**
 * The rows of `model` matching `where`, ordered by key, decoded.
 * @throws {@link ArgumentError} when an `integer` column holds a value past 2^53 − 1.
 */
export async function selectRows(
  db: Db,
  flavor: Flavor,
  model: AnyTable,
  where: Where,
): Promise<Array<Record<string, unknown>>> {
  const columns = [...model.keyColumns, ...model.valueColumns]
  const selections = columns.flatMap(([name, column]) => {
    if (column.kind === 'lastWrite')
      return [sql.ref(name).as(name), sql.ref(`${name}_at`).as(`${name}_at`)]
    // mysql2 returns BIGINT as a JavaScript number unless told otherwise: read it as text.
    if (column.kind === 'bigint' && flavor === 'mysql')
      return [sql`CAST(${sql.ref(name)} AS CHAR)`.as(name)]
    return [sql.ref(name).as(name)]
  })
  let query: AnySelect = db.selectFrom(model.table).select(selections).where(where)
  for (const name of model.key) query = query.orderBy(name)
  const raw = await query.execute()
  const rows = raw.map((record) => {
    const row: Record<string, unknown> = {}
    for (const [name, column] of columns) {
      row[name] =
        column.kind === 'lastWrite'
          ? decodeStamped(record[`${name}_at`], record[name])
          : decodeValue(column, `${model.table}.${name}`, record[name])
    }
    return row
  })
  for (const [name] of model.setColumns) await loadMembers(db, model, name, rows)
  return rows
}

/** Fills `rows[name]` with the members of a set column, sorted by code point. */
async function loadMembers(
  db: Db,
  model: AnyTable,
  name: string,
  rows: Array<Record<string, unknown>>,
): Promise<void> {
  const byKey = new Map<string, string[]>()
  for (const row of rows) {
    const members: string[] = []
    row[name] = members
    byKey.set(keyText(model.key.map((k) => row[k])), members)
  }
  const keys = model.key as string[]
  for (const part of chunks(rows, keys.length)) {
    const found = await db
      .selectFrom(model.childTable(name))
      .select([...keys, 'member'])
      .where(
        keyIn(
          keys,
          part.map((row) => keys.map((k) => param(row[k] as string))),
        ),
      )
      .execute()
    for (const record of found) {
      byKey.get(keyText(keys.map((k) => record[k])))?.push(record.member as string)
    }
  }
  for (const members of byKey.values()) members.sort(compareCodePoints)
}
