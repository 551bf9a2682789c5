/**
 * `@phonon/lru-update`'s `executeBatch` handed `sink.executeMany`'s per-row report: on each
 * backend (PGlite, and the shared PostgreSQL and MariaDB servers in a schema of their own), a row
 * the database refuses (a CHECK constraint) fails alone; every other claim of the flush is
 * written and completed at once, and only the refused one is retried, until the constraint is
 * lifted; then the table is exactly what was offered.
 */
import { Codec, id, sum } from '@phonon/core'
import { createAggregator } from '@phonon/lru-update'
import { MemoryShard } from '@phonon/redis-shard'
import { waitFor } from '@phonon/testkit'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { defineSqlModel } from '../src/index.js'
import { type OpenBackend, openMariaDB, openPGlite, openPostgres } from './backends.js'

const backends: Array<[string, OpenBackend]> = [
  ['PGlite', openPGlite],
  ['PostgreSQL', openPostgres],
  ['MariaDB', openMariaDB],
]

describe.each(backends)('executeBatch with per-row failures: %s', (_, open) => {
  it('one refused row does not hold back the others, and is retried alone', async () => {
    const Widget = defineSqlModel(
      'Widget',
      { id: id(), clicks: sum(), impressions: sum() },
      { table: 'widgets' },
    )
    const backend = await open([Widget.sqlModel])
    const { sink } = backend
    Widget.sqlModel.bind(sink)
    try {
      await sink.db.schema
        .alterTable('widgets')
        .addCheckConstraint('widgets_not_bad', sql`id <> 'bad'`)
        .execute()
      const calls: string[][] = []
      const aggregator = createAggregator({
        shard: new MemoryShard({ codec: new Codec([Widget]) }),
        max: 100,
        retry: { attempts: 1_000, baseDelayMs: 5, maxDelayMs: 50 },
        executeBatch: (claims) => {
          calls.push(claims.map((c) => c.resourceId))
          return sink.executeMany(claims)
        },
      })
      const keys = ['a', 'b', 'bad', 'c', 'd', 'e']
      for (let i = 0; i < 60; i++) {
        aggregator.offer(Widget.create({ id: keys[i % keys.length] as string, clicks: 1 }))
      }
      const closed = aggregator.close()
      // The five good rows are written while the bad one is still refused and retried.
      await waitFor('the good rows', async () => (await Widget.objects.all()).length === 5)
      const withBad = () => calls.filter((ids) => ids.includes('Widget.bad'))
      await waitFor('a retry of the bad row', async () => withBad().length >= 2)
      expect(await Widget.objects.getOrUndefined({ id: 'bad' })).toBeUndefined()
      for (const ids of withBad().slice(1)) expect(ids).toEqual(['Widget.bad'])

      await sink.db.schema.alterTable('widgets').dropConstraint('widgets_not_bad').execute()
      await closed
      expect(aggregator.failures()).toEqual([])
      const rows = await Widget.objects.all()
      expect(rows.map((r) => [r.id, r.clicks])).toEqual(keys.map((key) => [key, 10]))
      // Each good row's claim was passed to executeBatch once: none waited for the bad one.
      for (const key of ['a', 'b', 'c', 'd', 'e']) {
        expect(calls.flat().filter((r) => r === `Widget.${key}`)).toHaveLength(1)
      }
    } finally {
      await backend.drop()
    }
  }, 60_000)
})
