import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { resourceKey } from '../src/keys.js'
import { runSessions, type WorkerReport } from './fixtures/sessions.js'
import { redisFixture, WORKER } from './shards.js'

const run = promisify(execFile)
const redis = redisFixture()
const RESOURCES = 5

/** Checks the invariants over the reports of every worker of one run. */
async function checkInvariants(namespace: string, reports: WorkerReport[]) {
  const offered: Record<string, number> = {}
  const executed: Record<string, number> = {}
  const epochs = new Set<string>()
  for (const report of reports) {
    for (const [resource, clicks] of Object.entries(report.offered))
      offered[resource] = (offered[resource] ?? 0) + clicks
    for (const { resourceId, epoch, clicks } of report.executed) {
      executed[resourceId] = (executed[resourceId] ?? 0) + clicks
      const execution = `${resourceId}@${epoch}`
      expect(epochs.has(execution), `${execution} executed twice`).toBe(false)
      epochs.add(execution)
    }
  }
  // Invariant 1: every offered delta was executed exactly once.
  expect(executed).toEqual(offered)
  // No holder left behind, nothing pending, nothing claimed.
  for (const resource of Object.keys(offered)) {
    for (const name of ['holders', 'mods', 'exec'] as const) {
      expect(
        await redis.server.cli('exists', resourceKey(namespace, resource, name)),
        `${resource} ${name}`,
      ).toBe('0')
    }
  }
}

describe('concurrent workers on one redis-server', () => {
  it('8 workers on separate connections: total executed == total offered, each epoch once', async () => {
    const namespace = 'conc'
    const shards = await Promise.all(Array.from({ length: 8 }, () => redis.worker({ namespace })))
    const reports = await Promise.all(
      shards.map((shard, i) => runSessions(shard, i + 1, 60, RESOURCES)),
    )
    expect(reports.reduce((n, r) => n + r.executed.length, 0)).toBeGreaterThan(0)
    await checkInvariants(namespace, reports)
  }, 60_000)

  it('8 worker processes: the same invariants across OS processes', async () => {
    const namespace = 'procs'
    const outputs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        run(process.execPath, [
          '--import',
          'tsx',
          '--conditions=@phonon/source',
          WORKER,
          'sessions',
          redis.server.url,
          namespace,
          String(100 + i),
          '40',
          String(RESOURCES),
        ]),
      ),
    )
    await checkInvariants(
      namespace,
      outputs.map(({ stdout }) => JSON.parse(stdout) as WorkerReport),
    )
  }, 120_000)
})
