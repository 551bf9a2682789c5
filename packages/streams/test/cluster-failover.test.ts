/**
 * The stream, its coordination and phonon's shard on a real Redis Cluster (3 primaries, each
 * with a replica), two worker processes consuming Zipf events into a SQL table, and primaries
 * failing over under them:
 * - `CLUSTER FAILOVER` (graceful: the replica catches up with its primary before they swap, so
 *   nothing acknowledged is lost): first of the primary holding the application's coordination
 *   (leases, checkpoints, the round log), then of one holding phonon's workers: the table must
 *   equal the truth exactly, nothing left held, claimed or logged, no lease held;
 * - a primary SIGKILLed (its replica promoted by the Cluster): not exact, and not asserted so.
 *   Redis replicates asynchronously: the promoted replica can miss the primary's last
 *   acknowledged writes. A record put and lost, or a fold lost, is never counted; a commit lost
 *   after its folds were applied has its records read again, and a claim lost after its
 *   execution is claimed again under a new epoch — both count records twice. What is asserted:
 *   no crash loop, per widget at least what was put after the promotion and at most what was put
 *   in all (on one machine replication lags far less than a commit's round trip to the sink, so
 *   a double count is not expected here), nothing left held, claimed or logged. The test prints
 *   how many events went missing.
 */
import type { Sink } from '@phonon/adapters-django-style'
import {
  type RedisCluster,
  type RedisServer,
  startRedisCluster,
  uniqueName,
  waitFor,
} from '@phonon/testkit'
import { afterEach, expect, test } from 'vitest'
import { coordinationKeys, shardKey } from '../src/backends/redis.js'
import { defineStreams, getStream, RedisBackend } from '../src/index.js'
import { drainAndCheck, killWorkers, startWorker } from './fixtures/loop.js'
import { clusterUrl, redisClient } from './fixtures/redis.js'
import { createSchema, executionCount, sinkTotals } from './fixtures/sink.js'
import { truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

const LEASE_MS = 3_000
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  await killWorkers()
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** A Cluster, a schema of the shared PostgreSQL and the stream over the Cluster. */
async function setUp(name: string) {
  const cluster = await startRedisCluster()
  cleanup.push(() => cluster.stop())
  const url = clusterUrl(cluster.nodes)
  const schema = uniqueName(name)
  const sink = await createSchema(schema)
  cleanup.push(() => sink.drop())
  const config = defineStreams({ widgets: { name: 'widgets', partitionKey: 'widget', shards: 16 } })
  const client = redisClient(url)
  client.on('error', () => {}) // while a primary fails over
  const backend = new RedisBackend({ redis: client })
  cleanup.push(async () => {
    await client.quit().catch(() => client.disconnect())
  })
  const stream = getStream<WidgetEvent>('widgets', config, backend)
  return { cluster, url, schema, sink, backend, stream }
}

/** The running primary serving `key` (the others answer MOVED). */
async function primaryOf(cluster: RedisCluster, key: string): Promise<RedisServer> {
  for (const primary of await cluster.primaries()) {
    const owns = await primary.command('EXISTS', key).then(
      () => true,
      () => false,
    )
    if (owns) return primary
  }
  throw new Error(`no primary serves ${key}`)
}

/** A running replica of `primary`. */
async function replicaOf(cluster: RedisCluster, primary: RedisServer): Promise<RedisServer> {
  for (const server of cluster.servers.filter((s) => s.running && s !== primary)) {
    const info = String(await server.command('INFO', 'replication'))
    if (info.includes('role:slave') && info.includes(`master_port:${primary.port}\r`)) return server
  }
  throw new Error(`no replica of ${primary.port}`)
}

/** Whether every running node sees the Cluster ok with three primaries, `promoted` one of them. */
async function settled(cluster: RedisCluster, promoted: RedisServer): Promise<boolean> {
  const live = cluster.servers.filter((server) => server.running)
  const infos = await Promise.all(live.map((server) => server.command('CLUSTER', 'INFO')))
  const primaries = await cluster.primaries()
  return (
    infos.every((info) => String(info).includes('cluster_state:ok')) &&
    primaries.length === 3 &&
    primaries.includes(promoted)
  )
}

/** Puts `events` in batches while the workers consume, then waits for an execution more. */
async function feed(
  stream: ReturnType<typeof getStream<WidgetEvent>>,
  sink: Sink,
  events: readonly WidgetEvent[],
) {
  const before = await executionCount(sink)
  for (let i = 0; i < events.length; i += 1_000) await stream.putMany(events.slice(i, i + 1_000))
  await waitFor('an execution', async () => (await executionCount(sink)) > before, 60_000)
}

test('CLUSTER FAILOVER of the coordination’s and of phonon’s primaries under two workers: table == truth', async () => {
  const { cluster, url, schema, sink, backend, stream } = await setUp('streams_cluster_failover')
  const events = [...widgetEvents(30_000, 2_000, 11)]
  const workers = ['c1', 'c2'].map((name) => startWorker(url, name, LEASE_MS, schema))
  const coordination = coordinationKeys(stream.definition, 'widgets-test').leases
  const parts = [events.slice(0, 10_000), events.slice(10_000, 20_000), events.slice(20_000)]
  // Each failover while the workers are in the middle of a part: rounds, commits and folds in
  // flight on the primary that swaps.
  const keys = [coordination, '{phonon}:workers']
  for (const [i, key] of keys.entries()) {
    await feed(stream, sink, parts[i] as WidgetEvent[])
    const primary = await primaryOf(cluster, key)
    const replica = await replicaOf(cluster, primary)
    expect(await replica.command('CLUSTER', 'FAILOVER')).toBe('OK')
    await waitFor('the replica promoted', () => settled(cluster, replica), 30_000)
  }
  for (const part of parts.slice(keys.length)) await stream.putMany(part)
  // Every record stored (a graceful failover loses no write).
  let stored = 0
  for (let i = 0; i < stream.definition.shards; i++)
    stored += await backend.redis.xlen(shardKey(stream.definition, i))
  expect(stored).toBe(events.length)
  // No crash loop: both workers still run (and exit 0 when stopped, in the drain).
  expect(workers.map((child) => child.exitCode)).toEqual([null, null])
  await drainAndCheck(url, backend, stream, workers, truthOf(events), sink)
}, 180_000)

test('a primary SIGKILLed, its replica promoted, under two workers: no over-count, nothing left held; only records put before the promotion may be missing', async () => {
  const { cluster, url, schema, sink, backend, stream } = await setUp('streams_cluster_kill')
  const before = [...widgetEvents(20_000, 2_000, 13)]
  const after = [...widgetEvents(10_000, 2_000, 17)]
  const workers = ['k1', 'k2'].map((name) => startWorker(url, name, LEASE_MS, schema))
  const coordination = coordinationKeys(stream.definition, 'widgets-test').leases
  await feed(stream, sink, before)
  // The primary of the coordination (leases, checkpoints, the round log): killed mid-run, with
  // most records still to read. (Nothing is put while it is down: a put of a batch that failed
  // on one primary and is put again stores the others' records twice — the producer is at least
  // once — which would hide an over-count.)
  const victim = await primaryOf(cluster, coordination)
  const replica = await replicaOf(cluster, victim)
  victim.kill('SIGKILL')
  await waitFor('the replica promoted', () => settled(cluster, replica), 30_000)
  await victim.restart() // back as a replica of the promoted one
  await feed(stream, sink, after)
  expect(workers.map((child) => child.exitCode)).toEqual([null, null])
  await drainAndCheck(
    url,
    backend,
    stream,
    workers,
    { atLeast: truthOf(after), atMost: truthOf([...before, ...after]) },
    sink,
    // It takes 10–30 s; once in about ten runs it did not catch up within the test's timeout
    // (cause not found): this prints where each shard stood before the timeout.
    100_000,
  )
  // What the kill cost (Redis replicates asynchronously: the writes of its last moments).
  const table = await sinkTotals(sink)
  let missing = 0
  for (const [widget, expected] of truthOf([...before, ...after])) {
    const [c, v] = expected.split('/').map(Number) as [number, number]
    const [gc, gv] = (table.get(widget) ?? '0/0').split('/').map(Number) as [number, number]
    missing += c - gc + v - gv
  }
  console.log(`events missing after the SIGKILL: ${missing} of ${before.length + after.length}`)
}, 240_000)
