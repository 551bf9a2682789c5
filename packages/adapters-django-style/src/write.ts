/**
 * The write path: an execution's row compiled into one upsert-with-merge statement per table
 * (`INSERT … ON CONFLICT … DO UPDATE SET c = t.c + excluded.c` on PostgreSQL and PGlite,
 * `INSERT … ON DUPLICATE KEY UPDATE c = c + VALUES(c)` on MySQL/MariaDB), the execution ids
 * recorded in the same transaction, and fencing tokens checked by the database.
 *
 * @internal
 * @module
 */
import { randomUUID } from 'node:crypto'
import { StaleFencingToken } from '@phonon/core'
import { type RawBuilder, sql } from 'kysely'
import { type Column, sqlType } from './columns.js'
import type { CheckedExecution } from './execution.js'
import {
  chunks,
  compare,
  type Db,
  extremum,
  keyIn,
  keyText,
  type Target,
  unnestRows,
} from './sql.js'
import { type AnyTable, FENCE_COLUMN, type RowWrite } from './Table.js'
import { type KeyValue, param, type StampedText } from './values.js'

/** One execution to write: its row, and the execution id and fence it carries, if any. */
export interface Job {
  readonly row: RowWrite
  readonly execution: CheckedExecution | undefined
}

/** What a write of one execution did. */
export interface ExecuteResult {
  /** False when the execution had been recorded already: nothing was written. */
  readonly applied: boolean
}

/** What a write of several executions did. */
export interface Written {
  /** Executions written. */
  readonly applied: number
  /** Executions skipped: recorded already (by an earlier call, or earlier in the same batch). */
  readonly skipped: number
}

/** A row of a statement: its key's text (for ordering and matching) and its fence. */
interface Planned {
  readonly row: RowWrite
  readonly keyText: string
  readonly fence: number | undefined
}

/** The SQL type of a column of `model`, or of a lastWrite's `_at` / the fence. */
function columnType(model: AnyTable, name: string): string {
  const column: Column | undefined = Object.hasOwn(model.columns, name)
    ? model.columns[name]
    : undefined
  if (column === undefined)
    return name === 'member' ? 'text' : name === FENCE_COLUMN ? 'bigint' : 'double precision'
  return column.kind === 'lastWrite' ? 'text' : sqlType(column)
}

/**
 * Writes jobs atomically: either every execution not yet recorded is recorded and written, or
 * (on an error) nothing is. A lone job without set columns is one statement, which needs no
 * transaction, when it has no execution id, or (PostgreSQL, PGlite) an execution id but no fence.
 *
 * @throws {@link StaleFencingToken} when a fenced row holds a higher token; nothing changed.
 */
export async function writeJobs(sink: Target, jobs: readonly Job[]): Promise<Written> {
  const seen = new Set<string>()
  const unique: Job[] = []
  for (const job of jobs) {
    if (job.execution !== undefined) {
      const id = executionText(job.execution)
      if (seen.has(id)) continue
      seen.add(id)
    }
    unique.push(job)
  }
  const duplicates = jobs.length - unique.length
  const only = unique[0]
  if (
    unique.length === 1 &&
    only?.execution !== undefined &&
    only.execution.fencingToken === undefined &&
    sink.flavor === 'postgres' &&
    only.row.model.setColumns.length === 0
  ) {
    const applied = await upsertRecorded(
      sink,
      only.row.model,
      only as Job & { execution: CheckedExecution },
    )
    return { applied: applied ? 1 : 0, skipped: jobs.length - (applied ? 1 : 0) }
  }
  if (
    unique.length === 1 &&
    only !== undefined &&
    only.execution === undefined &&
    only.row.model.setColumns.length === 0
  ) {
    await writeRows(sink, sink.db, [only])
    return { applied: 1, skipped: duplicates }
  }
  if (unique.length === 0) return { applied: 0, skipped: duplicates }
  return sink.retrying(async (trx) => {
    const executions = unique.flatMap((job) => (job.execution ? [job.execution] : []))
    const recorded =
      executions.length === 0 ? new Set<string>() : await recordExecutions(sink, trx, executions)
    const todo = unique.filter(
      (job) => job.execution === undefined || recorded.has(executionText(job.execution)),
    )
    await writeRows(sink, trx, todo)
    return { applied: todo.length, skipped: jobs.length - todo.length }
  })
}

/**
 * Writes one checked row under its execution, if any: {@link writeJobs} of one job.
 * @returns whether it was applied (false: the execution had been recorded already).
 */
export async function writeOne(
  sink: Target,
  row: RowWrite,
  execution: CheckedExecution | undefined,
): Promise<ExecuteResult> {
  const result = await writeJobs(sink, [{ row, execution }])
  return { applied: result.applied === 1 }
}

function executionText(execution: CheckedExecution): string {
  return `${execution.resourceId}\u0000${execution.epoch}`
}

/**
 * Inserts the execution ids not recorded yet; returns those this transaction inserted. A
 * concurrent transaction inserting the same id makes this one wait for it, then skip the id.
 */
async function recordExecutions(
  sink: Target,
  trx: Db,
  executions: readonly CheckedExecution[],
): Promise<Set<string>> {
  const table = sink.executionsTable
  const sorted = [...executions].sort((a, b) => compare(executionText(a), executionText(b)))
  const inserted = new Set<string>()
  if (sink.flavor === 'postgres') {
    const records = sorted.map((e) => ({ resource_id: e.resourceId, epoch: e.epoch }))
    const { columns, rows } = unnestRows(records, (c) => (c === 'epoch' ? 'bigint' : 'text'))
    const recorded = await trx
      .insertInto(table)
      .columns(columns)
      .expression(rows)
      .onConflict((oc) => oc.columns(['resource_id', 'epoch']).doNothing())
      .returning(['resource_id', 'epoch'])
      .execute()
    for (const row of recorded) inserted.add(`${row.resource_id}\u0000${row.epoch}`)
    return inserted
  }
  // MySQL cannot say which rows of a multi-row insert were new: each transaction tags its rows
  // with a token of its own, then reads back (locking, so the latest committed rows) whose they are.
  const token = randomUUID().replaceAll('-', '')
  for (const part of chunks(sorted, 3)) {
    await trx
      .insertInto(table)
      .values(part.map((e) => ({ resource_id: e.resourceId, epoch: e.epoch, token })))
      .onDuplicateKeyUpdate({ epoch: sql.ref('epoch') })
      .execute()
    const rows = await trx
      .selectFrom(table)
      .select(['resource_id', 'epoch', 'token'])
      .where(
        keyIn(
          ['resource_id', 'epoch'],
          part.map((e) => [e.resourceId, e.epoch]),
        ),
      )
      .forUpdate()
      .execute()
    for (const row of rows) {
      if (row.token === token) inserted.add(`${row.resource_id}\u0000${Number(row.epoch)}`)
    }
  }
  return inserted
}

/**
 * Writes the rows of `jobs`, per table, in rounds: a key's n-th row goes to round n, so each
 * statement names a key once (PostgreSQL refuses to update a row twice in one statement) and
 * fenced writes apply in the order given. Usually one round: one statement per table.
 */
async function writeRows(sink: Target, db: Db, jobs: readonly Job[]) {
  const byModel = new Map<AnyTable, Planned[][]>()
  const counts = new Map<string, number>()
  for (const job of jobs) {
    const { model } = job.row
    const text = keyText(job.row.key)
    const countKey = `${model.table}\u0000${text}`
    const round = counts.get(countKey) ?? 0
    counts.set(countKey, round + 1)
    const rounds = byModel.get(model) ?? []
    byModel.set(model, rounds)
    const planned = { row: job.row, keyText: text, fence: job.execution?.fencingToken }
    const inRound = rounds[round]
    if (inRound === undefined) rounds[round] = [planned]
    else inRound.push(planned)
  }
  for (const [model, rounds] of byModel) {
    for (const round of rounds) {
      round.sort((a, b) => compare(a.keyText, b.keyText))
      const perRow = model.keyColumns.length + model.valueColumns.length + 2
      const parts = sink.flavor === 'postgres' ? [round] : chunks(round, perRow)
      for (const part of parts) await upsert(sink, db, model, part)
    }
    for (const [name] of model.setColumns) {
      await insertMembers(sink, db, model, name, rounds.flat())
    }
  }
}

/** The identity of a column's merge: what a row that does not write the column contributes. */
function identity(column: Column): number | bigint | null {
  if (column.merge !== 'sum') return null
  return column.kind === 'bigint' ? 0n : 0
}

/** The parts of an upsert-with-merge: the rows' values, the SET list, whether it is fenced. */
interface CompiledUpsert {
  readonly values: Array<Record<string, unknown>>
  readonly set: Record<string, RawBuilder<unknown>>
  readonly fenced: boolean
  readonly fenceOk: RawBuilder<boolean>
}

/**
 * Compiles the rows (distinct keys) into values and a SET list merging each written column:
 * `sum` adds, `max`/`min` keep the extremum, lastWrite replaces only with a later write, the
 * fence keeps the highest token.
 */
function compileUpsert(
  postgres: boolean,
  model: AnyTable,
  rows: readonly Planned[],
): CompiledUpsert {
  const written = model.valueColumns.filter(([name]) => rows.some((r) => r.row.deltas.has(name)))
  const fenced = rows.some((r) => r.fence !== undefined)
  const values = rows.map(({ row, fence }) => {
    const record: Record<string, unknown> = {}
    model.keyColumns.forEach(([name], i) => {
      record[name] = param(row.key[i] as KeyValue)
    })
    for (const [name, column] of written) {
      const delta = row.deltas.get(name)
      if (column.kind === 'lastWrite') {
        record[name] = (delta as StampedText | null | undefined)?.json ?? null
        record[`${name}_at`] = (delta as StampedText | null | undefined)?.at ?? null
      } else record[name] = param((delta ?? identity(column)) as number | bigint | null)
    }
    if (fenced) record[FENCE_COLUMN] = fence ?? null
    return record
  })

  // The stored value (`t.c`) and the value of the row proposed (`excluded.c`). MySQL evaluates
  // its SET list left to right with the row as updated so far, hence the order below: a
  // lastWrite's value before its `_at`, the fence last.
  const stored = (c: string) => (postgres ? sql.ref(`${model.table}.${c}`) : sql.ref(c))
  const proposed = (c: string) => (postgres ? sql.ref(`excluded.${c}`) : sql`VALUES(${sql.ref(c)})`)
  const style = postgres ? 'ignoresNull' : 'nullWins'
  const set: Record<string, RawBuilder<unknown>> = {}
  for (const [name, column] of written) {
    if (column.kind === 'lastWrite') {
      const at = `${name}_at`
      const greater = postgres
        ? sql`${proposed(name)} COLLATE "C" > ${stored(name)} COLLATE "C"`
        : sql`CAST(${proposed(name)} AS BINARY) > CAST(${stored(name)} AS BINARY)`
      const newer = sql`(${proposed(at)} IS NOT NULL AND (${stored(at)} IS NULL OR ${proposed(at)} > ${stored(at)} OR (${proposed(at)} = ${stored(at)} AND ${greater})))`
      set[name] = sql`CASE WHEN ${newer} THEN ${proposed(name)} ELSE ${stored(name)} END`
      set[at] = sql`CASE WHEN ${newer} THEN ${proposed(at)} ELSE ${stored(at)} END`
    } else if (column.merge === 'sum') {
      set[name] = sql`COALESCE(${stored(name)}, 0) + ${proposed(name)}`
    } else {
      const fn = column.merge === 'max' ? 'greatest' : 'least'
      set[name] = extremum(fn, stored(name), proposed(name), style)
    }
  }
  const fenceOk = sql<boolean>`(${proposed(FENCE_COLUMN)} IS NULL OR ${stored(FENCE_COLUMN)} IS NULL OR ${stored(FENCE_COLUMN)} <= ${proposed(FENCE_COLUMN)})`
  if (fenced) {
    if (!postgres) {
      for (const name of Object.keys(set)) {
        set[name] = sql`CASE WHEN ${fenceOk} THEN ${set[name]} ELSE ${stored(name)} END`
      }
    }
    set[FENCE_COLUMN] = extremum('greatest', stored(FENCE_COLUMN), proposed(FENCE_COLUMN), style)
  }
  return { values, set, fenced, fenceOk }
}

/** One multi-row upsert-with-merge of rows with distinct keys. */
async function upsert(
  sink: Target,
  db: Db,
  model: AnyTable,
  rows: readonly Planned[],
): Promise<void> {
  const postgres = sink.flavor === 'postgres'
  const { values, set, fenced, fenceOk } = compileUpsert(postgres, model, rows)
  const keyNames = model.key as string[]
  if (postgres) {
    const { columns, rows: selected } = unnestRows(values, (c) => columnType(model, c))
    const query = db
      .insertInto(model.table)
      .columns(columns)
      .expression(selected)
      .onConflict((oc) => {
        const target = oc.columns(keyNames)
        if (Object.keys(set).length === 0) return target.doNothing()
        const update = target.doUpdateSet(set)
        return fenced ? update.where(fenceOk) : update
      })
    if (!fenced) {
      await query.execute()
      return
    }
    const returned = await query.returning(keyNames).execute()
    const written = new Set(returned.map((r) => keyText(keyNames.map((k) => r[k]))))
    const stale = rows.find((r) => r.fence !== undefined && !written.has(r.keyText))
    if (stale) throw staleToken(model, stale)
    return
  }
  const firstKey = keyNames[0] as string
  await db
    .insertInto(model.table)
    .values(values)
    .onDuplicateKeyUpdate(Object.keys(set).length === 0 ? { [firstKey]: sql.ref(firstKey) } : set)
    .execute()
  if (!fenced) return
  const current = await db
    .selectFrom(model.table)
    .select([...keyNames, FENCE_COLUMN])
    .where(
      keyIn(
        keyNames,
        rows.map((r) => r.row.key.map(param)),
      ),
    )
    .forUpdate()
    .execute()
  const fences = new Map(current.map((r) => [keyText(keyNames.map((k) => r[k])), r[FENCE_COLUMN]]))
  const stale = rows.find((r) => {
    const held = fences.get(r.keyText)
    return r.fence !== undefined && held !== null && held !== undefined && Number(held) > r.fence
  })
  if (stale) throw staleToken(model, stale)
}

/**
 * PostgreSQL and PGlite: one execution (unfenced, no set columns) as ONE statement, atomic by
 * itself: a data-modifying CTE records `(resourceId, epoch)` and the upsert selects its row from
 * that CTE, so it writes only when the id was new. A concurrent statement recording the same id
 * waits for this one and then writes nothing.
 *
 * @returns whether it was applied.
 */
async function upsertRecorded(
  sink: Target,
  model: AnyTable,
  job: Job & { readonly execution: CheckedExecution },
): Promise<boolean> {
  const planned = { row: job.row, keyText: keyText(job.row.key), fence: undefined }
  const { values, set } = compileUpsert(true, model, [planned])
  const record = values[0] as Record<string, unknown>
  const keyNames = model.key as string[]
  const firstKey = keyNames[0] as string
  if (Object.keys(set).length === 0) set[firstKey] = sql.ref(`excluded.${firstKey}`)
  // Parameters selected from a CTE have no column to take their type from: cast them.
  const cast = (name: string) =>
    sql`CAST(${record[name]} AS ${sql.raw(columnType(model, name))})`.as(name)
  const { resourceId, epoch } = job.execution
  const rows = await sink.db
    .with('recorded', (db) =>
      db
        .insertInto(sink.executionsTable)
        .values({ resource_id: resourceId, epoch })
        .onConflict((oc) => oc.columns(['resource_id', 'epoch']).doNothing())
        .returning('epoch'),
    )
    .insertInto(model.table)
    .columns(Object.keys(record))
    .expression((eb) => eb.selectFrom('recorded').select(Object.keys(record).map(cast)))
    .onConflict((oc) => oc.columns(keyNames).doUpdateSet(set))
    .returning(sql<number>`1`.as('applied'))
    .execute()
  return rows.length === 1
}

function staleToken(model: AnyTable, row: Planned): StaleFencingToken {
  const key = model.key.map((name, i) => `${name}=${JSON.stringify(String(row.row.key[i]))}`)
  return new StaleFencingToken(
    `fencing token ${row.fence} is lower than one already written to ${model.table} (${key.join(', ')}); nothing was written`,
  )
}

/** Inserts the members of a set column not there yet (union), one statement per chunk. */
async function insertMembers(
  sink: Target,
  db: Db,
  model: AnyTable,
  name: string,
  rows: readonly Planned[],
): Promise<void> {
  const byText = new Map<string, Record<string, unknown>>()
  for (const { row, keyText: text } of rows) {
    for (const member of (row.deltas.get(name) as readonly string[] | undefined) ?? []) {
      const record: Record<string, unknown> = { member }
      model.keyColumns.forEach(([key], i) => {
        record[key] = param(row.key[i] as KeyValue)
      })
      byText.set(`${text}\u0000${member}`, record)
    }
  }
  // In one order for every transaction, so that concurrent writers lock rows in the same order.
  const sorted = [...byText].sort((a, b) => compare(a[0], b[0])).map(([, record]) => record)
  if (sorted.length === 0) return
  if (sink.flavor === 'postgres') {
    const { columns, rows } = unnestRows(sorted, (c) => columnType(model, c))
    await db
      .insertInto(model.childTable(name))
      .columns(columns)
      .expression(rows)
      .onConflict((oc) => oc.doNothing())
      .execute()
    return
  }
  for (const part of chunks(sorted, model.keyColumns.length + 1)) {
    await db
      .insertInto(model.childTable(name))
      .values(part)
      .onDuplicateKeyUpdate({ member: sql.ref('member') })
      .execute()
  }
}
