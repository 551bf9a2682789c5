import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { resourceKey } from '../src/keys.js'
import { checkReports, runSessions, type WorkerReport } from './fixtures/sessions.js'
import { redisFixture, WORKER } from './shards.js'

const run = promisify(execFile)
const redis = redisFixture()
const RESOURCES = 5

/** Checks the invariants over the reports of every worker of one run. */
async function checkInvariants(namespace: string, reports: WorkerReport[]) {
  await checkReports(
    reports,
    (key) => redis.server.cli('exists', key).then(Number),
    (resource) => resourceKey(namespace, resource),
  )
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
