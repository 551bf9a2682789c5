/**
 * `@phonon/streams` on a private redis-server, against raw ioredis in the same run:
 * - put: `stream.putMany` (validation, MD5 routing, batching per shard) vs pipelined `XADD` of
 *   the same JSON to the same 16 keys;
 * - consume: an iterator over the 16 shards from the start vs `XREAD COUNT` over the same keys.
 * Each figure is the best of `--runs` runs (the machine is shared); Redis commands per record from
 * `INFO commandstats`. Writes bench/results/streams.json.
 *
 * Run: pnpm --filter @phonon/bench bench:streams [-- --records N --runs R]
 */
import { defineStreams, getStream, RedisBackend } from '@phonon/streams'
import { startRedis, zipfSample } from '@phonon/testkit'
import { formatRate, printTable, readFlags, writeResult } from './report.js'

const flags = readFlags({ records: '100000', runs: '3' })
const RECORDS = flags.integer('records')
const RUNS = flags.integer('runs')
const SHARDS = 16
const CHUNK = 5_000

const server = await startRedis()
const backend = new RedisBackend({ redis: server.url })
const redis = backend.redis
const ranks = zipfSample({ n: 100_000, s: 1.1, seed: 5, count: RECORDS })
const records = Array.from(ranks, (rank, i) => ({
  widget: `w${rank}`,
  click: i % 10 === 0 ? 1 : 0,
}))

/** Best rate (records/s) and CPU µs per record of `runs` runs of `body` (after `setup`, untimed). */
async function best(body: () => Promise<void>, setup?: () => Promise<void>) {
  let rate = 0
  let cpu = Number.POSITIVE_INFINITY
  for (let run = 0; run < RUNS; run++) {
    await redis.flushall()
    await setup?.()
    const started = performance.now()
    const usage = process.cpuUsage()
    await body()
    const used = process.cpuUsage(usage)
    rate = Math.max(rate, RECORDS / ((performance.now() - started) / 1000))
    cpu = Math.min(cpu, (used.user + used.system) / RECORDS)
  }
  return { recordsPerSec: Math.round(rate), nodeCpuMicrosPerRecord: Number(cpu.toFixed(2)) }
}

const config = defineStreams({ widgets: { name: 'bench', partitionKey: 'widget', shards: SHARDS } })
const stream = getStream<(typeof records)[number]>('widgets', config, backend)
const keys = Array.from({ length: SHARDS }, (_, i) => `{triton:bench:${i}}`)

async function put() {
  for (let i = 0; i < RECORDS; i += CHUNK) await stream.putMany(records.slice(i, i + CHUNK))
}
async function rawPut() {
  for (let i = 0; i < RECORDS; i += CHUNK) {
    const pipeline = redis.pipeline()
    for (let j = i; j < Math.min(RECORDS, i + CHUNK); j++) {
      pipeline.xadd(keys[j % SHARDS] as string, '*', 'd', JSON.stringify(records[j]))
    }
    await pipeline.exec()
  }
}
async function consume() {
  const iterator = await stream.iterator({ from: 'all', batch: 1_000 })
  let read = 0
  for await (const _ of iterator) if (++read === RECORDS) iterator.stop()
}
async function rawConsume() {
  const ids = keys.map(() => '0')
  let read = 0
  while (read < RECORDS) {
    const reply = (await redis.xread('COUNT', 1_000, 'STREAMS', ...keys, ...ids)) as Array<
      [string, Array<[string, string[]]>]
    > | null
    for (const [key, entries] of reply ?? []) {
      for (const [, fields] of entries) JSON.parse(fields[1] as string)
      read += entries.length
      const last = entries.at(-1)
      if (last !== undefined) ids[keys.indexOf(key)] = last[0]
    }
  }
}

/** Runs `body` once more to count the Redis commands it sends per record. */
async function commandsPerRecord(body: () => Promise<void>, setup?: () => Promise<void>) {
  await redis.flushall()
  await setup?.()
  await redis.config('RESETSTAT')
  await body()
  const stats = (await redis.info('commandstats')).split('\n')
  const calls = stats
    .filter(
      (line) =>
        line.startsWith('cmdstat_') &&
        !line.startsWith('cmdstat_info') &&
        !line.startsWith('cmdstat_config'),
    )
    .reduce((n, line) => n + Number(/calls=(\d+)/.exec(line)?.[1] ?? 0), 0)
  return Number((calls / RECORDS).toFixed(4))
}

const putResult = await best(put)
const rawPutResult = await best(rawPut)
const consumeResult = await best(consume, rawPut)
const rawConsumeResult = await best(rawConsume, rawPut)
const result = {
  records: RECORDS,
  shards: SHARDS,
  runs: RUNS,
  put: { ...putResult, redisCommandsPerRecord: await commandsPerRecord(put) },
  rawPut: { ...rawPutResult, redisCommandsPerRecord: await commandsPerRecord(rawPut) },
  consume: { ...consumeResult, redisCommandsPerRecord: await commandsPerRecord(consume, rawPut) },
  rawConsume: {
    ...rawConsumeResult,
    redisCommandsPerRecord: await commandsPerRecord(rawConsume, rawPut),
  },
  ratioPutToRaw: Number((putResult.recordsPerSec / rawPutResult.recordsPerSec).toFixed(2)),
  ratioConsumeToRaw: Number(
    (consumeResult.recordsPerSec / rawConsumeResult.recordsPerSec).toFixed(2),
  ),
  kinesis: 'not measured: the Kinesis backend is not built yet',
}
printTable(
  ['', 'records/s', 'vs raw'],
  [
    ['put (putMany, 16 shards)', formatRate(putResult.recordsPerSec), `${result.ratioPutToRaw}×`],
    ['raw pipelined XADD', formatRate(rawPutResult.recordsPerSec), '1×'],
    [
      'consume (iterator, from all)',
      formatRate(consumeResult.recordsPerSec),
      `${result.ratioConsumeToRaw}×`,
    ],
    ['raw XREAD COUNT 1000', formatRate(rawConsumeResult.recordsPerSec), '1×'],
  ],
)
console.log(writeResult('streams', result))
await backend.close()
await server.stop()
