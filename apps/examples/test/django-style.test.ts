import { expect, it } from 'vitest'
import { runDjangoStyle } from '../src/django-style.js'

it('WidgetUpdate, UserUpdate and FooUpdate share one execute; each table equals the ground truth', async () => {
  const summary = await runDjangoStyle({ events: 2_000, max: 100, seed: 5 })
  expect(summary.tables).toEqual({
    widgets: { rows: expect.any(Number), exact: true },
    users: { rows: expect.any(Number), exact: true },
    foos: { rows: 50, exact: true },
  })
  expect(summary.check).toBe(true)
  // Every execution went through the one shared execute, for all three models.
  expect(Object.keys(summary.executedBy).sort()).toEqual([
    'FooUpdate',
    'UserUpdate',
    'WidgetUpdate',
  ])
  expect(Object.values(summary.executedBy).reduce((a, b) => a + b, 0)).toBe(summary.executions)
  // Merged locally: far fewer upserts than updates, about one SQL statement each.
  expect(summary.executions).toBeLessThan(summary.updates / 2)
  expect(summary.sqlStatements).toBeLessThan(summary.executions * 1.1)
}, 60_000)
