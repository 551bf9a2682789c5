import { afterEach, expect, it, vi } from 'vitest'
import {
  BaseUpdate,
  FooUpdate,
  runDjangoStyle,
  UserUpdate,
  WidgetUpdate,
} from '../src/django-style.js'

afterEach(() => {
  vi.restoreAllMocks()
})

it('WidgetUpdate, UserUpdate and FooUpdate share BaseUpdate’s execute; each table equals the ground truth', async () => {
  const execute = vi.spyOn(BaseUpdate.prototype, 'execute')
  const summary = await runDjangoStyle({ events: 2_000, max: 100, seed: 5 })
  expect(summary.tables).toEqual({
    widgets: { rows: expect.any(Number), exact: true },
    users: { rows: expect.any(Number), exact: true },
    foos: { rows: 50, exact: true },
  })
  expect(summary.check).toBe(true)
  // Every execution went through the one shared execute, for all three classes.
  expect(execute).toHaveBeenCalledTimes(summary.executions)
  const classes = new Set(execute.mock.contexts.map((update) => (update as object).constructor))
  expect(classes).toEqual(new Set([WidgetUpdate, UserUpdate, FooUpdate]))
  // Merged locally: far fewer upserts than updates, about one SQL statement each.
  expect(summary.executions).toBeLessThan(summary.updates / 2)
  expect(summary.sqlStatements).toBeLessThan(summary.executions * 1.1)
}, 60_000)
