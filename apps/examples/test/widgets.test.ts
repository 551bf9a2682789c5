import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { runWidgets, type WidgetsSummary, widgetEvents } from '../src/widgets.js'

const small = { events: 6_000, widgets: 800, skew: 1.1, capacity: 100, seed: 7 }
const run = promisify(execFile)

/** What every run must show: an exact table, written in far fewer statements than events. */
function expectExact(summary: WidgetsSummary): void {
  expect(summary.differences).toEqual([])
  expect(summary.check).toBe(true)
  expect(summary.events).toBe(small.events)
  expect(summary.sqlStatements).toBeGreaterThan(0)
  expect(summary.sqlStatements).toBeLessThan(summary.events / 5)
  expect(summary.redisRoundTrips).toBeGreaterThan(0)
}

describe('the widgets job', () => {
  it('runs worker processes on a private redis-server into PGlite: the table is exact', async () => {
    const summary = await runWidgets({ ...small, workers: 3, progress: false })
    expect(summary.redis).toMatch(/private redis-server/)
    expect(summary.sql).toMatch(/PGlite/)
    expectExact(summary)
  }, 60_000)

  it('writes to PostgreSQL directly from the workers with DATABASE_URL', async () => {
    const summary = await runWidgets({
      ...small,
      workers: 2,
      progress: false,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
    })
    expect(summary.sql).toMatch(/^PostgreSQL, schema phonon_widgets_/)
    expectExact(summary)
  }, 60_000)

  it('falls back to in-process workers on a MemoryShard', async () => {
    const summary = await runWidgets({ ...small, workers: 4, memory: true, progress: false })
    expect(summary.redis).toMatch(/MemoryShard/)
    expectExact(summary)
  }, 60_000)

  it('is what `pnpm start -- --json` prints, with exit status 0', async () => {
    const cwd = fileURLToPath(new URL('..', import.meta.url))
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@phonon/source',
        'src/widgets.ts',
        '--events',
        '3000',
        '--widgets',
        '300',
        '--workers',
        '2',
        '--json',
      ],
      { cwd },
    )
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) as string) as WidgetsSummary
    expect(summary).toMatchObject({ events: 3000, workers: 2, check: true })
    expect(summary.wallMs).toBeGreaterThan(0)
  }, 60_000)

  it("generates the seed's events, deterministically for a seed", () => {
    const events = [...widgetEvents({ events: 1000, widgets: 500, skew: 1.1, seed: 3 })]
    expect(events).toEqual([...widgetEvents({ events: 1000, widgets: 500, skew: 1.1, seed: 3 })])
    for (const e of events) {
      expect(e.parent_post_id).toBeGreaterThanOrEqual(0)
      expect(e.target_post_id).toBeLessThan(100)
      expect(['click', 'impression']).toContain(e.event_type)
    }
    expect(events.filter((e) => e.event_type === 'click')).toHaveLength(100)
  })
})
