import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { startRedis } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { runWidgets, type WidgetsSummary, widgetEvents } from '../src/widgets.js'

const small = { events: 6_000, widgets: 800, skew: 1.1, capacity: 100, seed: 7 }
const run = promisify(execFile)
const cwd = fileURLToPath(new URL('..', import.meta.url))
const job = ['--import', 'tsx', '--conditions=@phonon/source', 'src/widgets.ts']

/** What every run must show: an exact table, written in far fewer statements than events. */
function expectExact(summary: WidgetsSummary): void {
  expect(summary.differences).toEqual([])
  expect(summary.check).toBe(true)
  expect(summary.interrupted).toBe(false)
  expect(summary.events).toBe(small.events)
  expect(summary.sqlStatements).toBeGreaterThan(0)
  expect(summary.sqlStatements).toBeLessThan(summary.events / 5)
  expect(summary.executions).toBeGreaterThan(0)
  expect(summary.startupMs).toBeGreaterThan(0)
  expect(summary.steadyEventsPerSec).toBeGreaterThan(0)
}

describe('the widgets job', () => {
  it('runs three worker processes leasing a private Redis stream into PGlite: the table is exact', async () => {
    // A small LRU: sessions end by eviction all along, so executions happen while the stream runs.
    const summary = await runWidgets({ ...small, workers: 3, shards: 8, progress: false })
    expect(summary.redis).toMatch(/private redis-server/)
    expect(summary.sql).toMatch(/PGlite/)
    expectExact(summary)
    expect(summary.redisRoundTrips).toBeGreaterThan(0)
    expect(summary.redisCommandsPerEvent).toBeGreaterThan(0)
    expect(summary.cpu.map((c) => c.process)).toEqual([
      'parent (generator, producer, PGlite)',
      'worker-1',
      'worker-2',
      'worker-3',
      'redis-server',
    ])
    expect(summary.redisLeft).toMatch(/private redis-server, stopped/)
  }, 120_000)

  it('writes to PostgreSQL directly from the workers with DATABASE_URL', async () => {
    const summary = await runWidgets({
      ...small,
      workers: 2,
      shards: 4,
      progress: false,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
    })
    expect(summary.sql).toMatch(/^PostgreSQL, schema phonon_widgets_/)
    expectExact(summary)
  }, 120_000)

  it("deletes the run's keys from a user's Redis (REDIS_URL) and says so", async () => {
    const server = await startRedis()
    const client = new Redis(server.url)
    try {
      await client.set('users-own-key', '1')
      const summary = await runWidgets({
        ...small,
        workers: 2,
        shards: 4,
        redisUrl: server.url,
        progress: false,
      })
      expectExact(summary)
      expect(summary.redisLeft).toMatch(/^none \(the run's [\d,]+ keys deleted\)$/)
      expect(await client.keys('*')).toEqual(['users-own-key'])
    } finally {
      client.disconnect()
      await server.stop()
    }
  }, 120_000)

  it('runs in process on a memory backend and MemoryShards with --memory', async () => {
    const summary = await runWidgets({
      ...small,
      workers: 4,
      shards: 8,
      memory: true,
      progress: false,
    })
    expect(summary.redis).toMatch(/memory backend/)
    expect(summary.redisCommandsPerEvent).toBeUndefined()
    expectExact(summary)
  }, 120_000)

  it('is what `pnpm start -- --json` prints, with exit status 0', async () => {
    const { stdout } = await run(
      process.execPath,
      [...job, '--events', '3000', '--widgets', '300', '--workers', '2', '--shards', '4', '--json'],
      { cwd },
    )
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) as string) as WidgetsSummary
    expect(summary).toMatchObject({ events: 3000, workers: 2, shards: 4, check: true })
    expect(summary.wallMs).toBeGreaterThan(0)
  }, 120_000)

  it('DATABASE_URL that is not postgres://: one line, exit status 2, nothing started', async () => {
    const result = await run(process.execPath, [...job, '--events', '100'], {
      cwd,
      env: { ...process.env, DATABASE_URL: 'mysql://root@127.0.0.1/test' },
    }).catch((error: { code: number; stdout: string; stderr: string }) => error)
    expect(result).toMatchObject({
      code: 2,
      stdout: '',
      stderr:
        'pnpm start: ArgumentError: DATABASE_URL must be a postgres:// URL, got mysql:… (see --help)\n',
    })
  }, 120_000)

  it('stops its workers on SIGTERM: one line, exit status 143, no stack trace', async () => {
    const child = spawn(process.execPath, [...job, '--events', '5000000', '--workers', '2'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let stdout = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    // Signalled once events flow (a progress line on stderr), i.e. with workers running.
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (chunk) => {
        stderr += chunk
        if (/widgets: [1-9][\d,]* of/.test(stderr)) resolve()
      }),
    )
    child.kill('SIGTERM')
    expect(await exited).toBe(143)
    const lines = stderr.trim().split('\n')
    expect(lines.at(-1)).toMatch(
      /^pnpm start: interrupted by SIGTERM: workers stopped, Redis left none/,
    )
    expect(lines.filter((l) => !l.startsWith('widgets: '))).toHaveLength(1)
    expect(stderr).not.toMatch(/ERR_IPC_CHANNEL_CLOSED|\n\s+at /)
    expect(stdout).toBe('')
  }, 120_000)

  it('fails with one line when a worker dies: exit status 1, no stack trace', async () => {
    const child = spawn(process.execPath, [...job, '--events', '5000000', '--workers', '2'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (chunk) => {
        stderr += chunk
        if (/widgets: [1-9][\d,]* of/.test(stderr)) resolve()
      }),
    )
    const { stdout: ps } = await run('ps', ['-o', 'pid=,args=', '--ppid', String(child.pid)])
    const worker = ps.split('\n').find((line) => line.includes('worker'))
    expect(worker).toBeDefined()
    process.kill(Number.parseInt(worker as string, 10), 'SIGKILL')
    expect(await exited).toBe(1)
    const lines = stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('widgets: '))
    expect(lines).toEqual([
      expect.stringMatching(/^pnpm start: JobFailed: worker-\d exited with SIGKILL/),
    ])
  }, 120_000)

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
