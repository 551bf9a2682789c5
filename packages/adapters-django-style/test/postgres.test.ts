import { id, SinkError, sum } from '@phonon/core'
import { postgresConfig, uniqueName } from '@phonon/testkit'
import { sql } from 'kysely'
import { expect, it } from 'vitest'
import { createSink, defineSqlModel } from '../src/index.js'
import { openPostgres } from './backends.js'
import { conformanceSuite } from './conformance.js'

conformanceSuite('PostgreSQL', openPostgres, { propertyRuns: 25 })

it('openPostgres drops the schema it made when migrate() fails, and rethrows', async () => {
  // Table "clash_pkey" is created first; then "clash"'s primary key constraint, also named
  // "clash_pkey", is refused: the schema exists by then, with a table in it.
  const first = defineSqlModel('First', { id: id(), n: sum() }, { table: 'clash_pkey' })
  const second = defineSqlModel('Second', { id: id(), n: sum() }, { table: 'clash' })
  const schema = uniqueName()
  const error = await openPostgres([first.sqlModel, second.sqlModel], schema).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(SinkError)
  expect((error as Error).message).toMatch(/clash_pkey/)
  const probe = await createSink({ dialect: 'postgres', pool: { ...postgresConfig() } })
  try {
    const { rows } = await sql`
      SELECT schema_name FROM information_schema.schemata WHERE schema_name = ${schema}
    `.execute(probe.db)
    expect(rows).toEqual([])
  } finally {
    await probe.close()
  }
})
