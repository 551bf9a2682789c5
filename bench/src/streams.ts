/**
 * `@phonon/streams` on a private redis-server, against raw ioredis in the same run:
 * - put: `stream.putMany` (validation, MD5 routing, batching per shard) vs pipelined `XADD` of
 *   the same JSON to the same 16 keys;
 * - consume: an iterator over the 16 shards from the start vs `XREAD COUNT` over the same keys,
 *   each record's data `JSON.parse`d (the baseline); also vs the same reads unparsed, and
 *   vs `XREAD` with Buffer replies (the cheapest raw ioredis reader), runs interleaved.
 * - aggregated (`aggregate: true`, records packed per shard as the KPL does): the same put and
 *   consume in user records/s, against raw XADD / XREAD of the same records one per entry;
 * - source: `Worker` + `phononSource` (into a `MemoryShard`) over the aggregated stream, from
 *   its start until every record was processed and the sink holds every count, against raw
 *   XREAD of the same records stored plain (records/s and Node CPU µs per record).
 * - Kinesis: the Kinesis backend against a private kinesalite (a local Kinesis implementation, so
 *   for regressions only: it says nothing of AWS's rates) vs the SDK's own `PutRecords` /
 *   `GetRecords` of the same JSON on the same server.
 * Each figure is the best of `--runs` runs (the machine is shared); Redis commands per record from
 * `INFO commandstats`. Writes bench/results/streams.json.
 *
 * Run: pnpm --filter @phonon/bench bench:streams [-- --records N --runs R --kinesis-records K]
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis'
import { Codec, defineModel, id, sum } from '@phonon/core'
import { MemoryShard } from '@phonon/redis-shard'
import {
  defineStreams,
  getStream,
  KinesisBackend,
  phononSource,
  RedisBackend,
  Worker,
} from '@phonon/streams'
import { startKinesalite, startRedis, zipfSample } from '@phonon/testkit'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { formatRate, printTable, readFlags, writeResult } from './report.js'

const flags = readFlags({
  records: '100000',
  runs: '3',
  'kinesis-records': '5000',
  widgets: '10000',
})
const RECORDS = flags.integer('records')
const KINESIS_RECORDS = flags.integer('kinesis-records')
const RUNS = flags.integer('runs')
const SHARDS = 16
const CHUNK = 5_000

const server = await startRedis()
const backend = new RedisBackend({ redis: server.url })
const redis = backend.redis
const WIDGETS = flags.integer('widgets')
const ranks = zipfSample({ n: WIDGETS, s: 1.1, seed: 5, count: RECORDS })
const records = Array.from(ranks, (rank, i) => ({
  widget: `w${rank}`,
  click: i % 10 === 0 ? 1 : 0,
}))

/** Best rate (records/s) and CPU µs per record of `runs` runs of `body` (after `setup`, untimed). */
async function best(body: () => Promise<void>, setup?: () => Promise<void>) {
  return (await interleaved({ only: setup === undefined ? { body } : { body, setup } })).only
}

/**
 * {@link best} of several bodies, their runs interleaved (run 1 of each, then run 2 of each, …),
 * so a figure and its baselines are measured under the same load of the shared machine.
 */
async function interleaved<K extends string>(
  variants: Record<K, { body: () => Promise<void>; setup?: () => Promise<void> }>,
) {
  const figures = new Map<K, { rate: number; cpu: number }>()
  for (let run = 0; run < RUNS; run++) {
    for (const [name, { body, setup }] of Object.entries(variants) as Array<
      [K, { body: () => Promise<void>; setup?: () => Promise<void> }]
    >) {
      await redis.flushall()
      await setup?.()
      const started = performance.now()
      const usage = process.cpuUsage()
      await body()
      const used = process.cpuUsage(usage)
      const was = figures.get(name) ?? { rate: 0, cpu: Number.POSITIVE_INFINITY }
      figures.set(name, {
        rate: Math.max(was.rate, RECORDS / ((performance.now() - started) / 1000)),
        cpu: Math.min(was.cpu, (used.user + used.system) / RECORDS),
      })
    }
  }
  return Object.fromEntries(
    [...figures].map(([name, { rate, cpu }]) => [
      name,
      { recordsPerSec: Math.round(rate), nodeCpuMicrosPerRecord: Number(cpu.toFixed(2)) },
    ]),
  ) as Record<K, { recordsPerSec: number; nodeCpuMicrosPerRecord: number }>
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
const packed = getStream<(typeof records)[number]>('widgets', config, backend, {
  aggregate: true,
})
async function putAggregated() {
  for (let i = 0; i < RECORDS; i += CHUNK) await packed.putMany(records.slice(i, i + CHUNK))
}
async function consume() {
  const iterator = await stream.iterator({ from: 'all', batch: 1_000 })
  let read = 0
  for await (const _ of iterator) if (++read === RECORDS) iterator.stop()
}

const Widget = defineModel('Widget', { id: id(), clicks: sum(), views: sum() })
const codec = new Codec([Widget])
let sourceRuns = 0
/**
 * A worker with the phonon source reads the stream from its start, until every record was
 * processed and (after its graceful stop) the sink holds every record's count exactly.
 */
async function source() {
  let counted = 0
  const processor = phononSource<(typeof records)[number]>({
    shard: new MemoryShard({ codec, rememberExecuted: true }),
    codec,
    max: 20_000,
    toUpdates: ({ data }) =>
      Widget.create({ id: data.widget, clicks: data.click, views: 1 - data.click }),
    executeBatch: async (claims) => {
      for (const claim of claims) {
        const { clicks, views } = (
          claim.update as unknown as { aggregate(): { clicks: number; views: number } }
        ).aggregate()
        counted += clicks + views
      }
    },
  })
  const worker = new Worker({
    stream,
    application: `bench-${++sourceRuns}`,
    name: 'bench',
    processor,
    idleMs: 1,
  })
  const run = worker.run()
  while (worker.processed < RECORDS) await new Promise((resolve) => setTimeout(resolve, 1))
  worker.stop()
  await run
  if (counted !== RECORDS) throw new Error(`the sink counted ${counted} of ${RECORDS} records`)
}
/** A raw `XREAD` reply: per key, its entries as `[id, [field, value, …]]`. */
type XreadReply<P> = Array<[P, Array<[P, P[]]>]> | null

/** How a raw reader reads: the `XREAD` call, and the conversion of its reply's parts to text. */
interface XreadDecoder<P> {
  read(ids: readonly string[]): Promise<XreadReply<P>>
  /** An id or a key (ASCII). */
  id(part: P): string
  /** A record's data. */
  data(part: P): string
}

/** ioredis' string replies: its parts are text already. */
const stringReplies: XreadDecoder<string> = {
  read: (ids) =>
    redis.xread('COUNT', 1_000, 'STREAMS', ...keys, ...ids) as Promise<XreadReply<string>>,
  id: (part) => part,
  data: (part) => part,
}

/**
 * Buffer replies (no copy of the reply into strings by ioredis), each record's id and data
 * converted once — what the Redis backend does since it reads Buffers.
 */
const bufferReplies: XreadDecoder<Buffer> = {
  read: (ids) =>
    redis.xreadBuffer('COUNT', 1_000, 'STREAMS', ...keys, ...ids) as Promise<XreadReply<Buffer>>,
  id: (part) => part.toString('latin1'),
  data: (part) => part.toString('utf8'),
}

/**
 * Reads the 16 keys from their start until `RECORDS` records were read, one `XREAD COUNT 1000`
 * over all of them at a time, each record's data `JSON.parse`d when `parse`.
 */
async function rawXread<P>(decoder: XreadDecoder<P>, parse: boolean) {
  const ids = keys.map(() => '0')
  let read = 0
  while (read < RECORDS) {
    for (const [key, entries] of (await decoder.read(ids)) ?? []) {
      let last: string | undefined
      for (const [id, fields] of entries) {
        last = decoder.id(id)
        if (parse) JSON.parse(decoder.data(fields[1] as P))
      }
      read += entries.length
      if (last !== undefined) ids[keys.indexOf(decoder.id(key))] = last
    }
  }
}
/**
 * The issue's baseline: one `XREAD COUNT 1000` over the 16 keys at a time (ioredis' string
 * replies), each record's data `JSON.parse`d, as the iterator does.
 */
async function rawConsume() {
  await rawXread(stringReplies, true)
}
/** The same reads without parsing the data: what reading alone costs. */
async function rawConsumeUnparsed() {
  await rawXread(stringReplies, false)
}
/** The cheapest raw reader ioredis allows: the same `XREAD` with Buffer replies, data parsed. */
async function rawConsumeBuffers() {
  await rawXread(bufferReplies, true)
}

/**
 * The Kinesis backend against a private kinesalite, vs the SDK alone, `KINESIS_RECORDS` records
 * over 4 shards, best of `RUNS` (a fresh stream per run). Only for regressions: kinesalite is a
 * local implementation, its rates are not AWS's.
 */
async function kinesis() {
  const SHARDS = 4
  const server = await startKinesalite()
  const options = { region: 'us-east-1', endpoint: server.endpoint }
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' }
  const backend = new KinesisBackend({ ...options, credentials, createStreams: true })
  const client = new KinesisClient({
    ...options,
    credentials,
    requestHandler: new NodeHttpHandler(),
  })
  const slice = records.slice(0, KINESIS_RECORDS)
  let n = 0
  const fresh = async () => {
    const name = `bench-${++n}`
    const s = getStream<(typeof records)[number]>(
      'k',
      defineStreams({ k: { name, partitionKey: 'widget', shards: SHARDS, backend: 'kinesis' } }),
      backend,
    )
    await s.putMany(slice.slice(0, 1)) // creates the stream, untimed
    return s
  }
  const timed = async (
    body: (s: Awaited<ReturnType<typeof fresh>>) => Promise<void>,
    filled: boolean,
  ) => {
    let rate = 0
    let cpu = Number.POSITIVE_INFINITY
    for (let run = 0; run < RUNS; run++) {
      const s = await fresh()
      if (filled) await s.putMany(slice.slice(1))
      const started = performance.now()
      const usage = process.cpuUsage()
      await body(s)
      const used = process.cpuUsage(usage)
      rate = Math.max(rate, KINESIS_RECORDS / ((performance.now() - started) / 1000))
      cpu = Math.min(cpu, (used.user + used.system) / KINESIS_RECORDS)
    }
    return { recordsPerSec: Math.round(rate), nodeCpuMicrosPerRecord: Number(cpu.toFixed(1)) }
  }
  const put = await timed(async (s) => {
    for (let i = 0; i < KINESIS_RECORDS; i += 500) await s.putMany(slice.slice(i, i + 500))
  }, false)
  const sdkPut = await timed(async (s) => {
    for (let i = 0; i < KINESIS_RECORDS; i += 500) {
      await client.send(
        new PutRecordsCommand({
          StreamName: s.definition.name,
          Records: slice.slice(i, i + 500).map((r) => ({
            PartitionKey: r.widget,
            Data: Buffer.from(JSON.stringify(r)),
          })),
        }),
      )
    }
  }, false)
  const consume = await timed(async (s) => {
    const iterator = await s.iterator({ from: 'all', batch: 1_000 })
    let read = 0
    for await (const _ of iterator) if (++read === KINESIS_RECORDS) iterator.stop()
  }, true)
  const sdkConsume = await timed(async (s) => {
    const { Shards = [] } = await client.send(
      new ListShardsCommand({ StreamName: s.definition.name }),
    )
    let read = 0
    for (const shard of Shards) {
      let { ShardIterator: iterator } = await client.send(
        new GetShardIteratorCommand({
          StreamName: s.definition.name,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
      for (;;) {
        const out = await client.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: 1_000 }),
        )
        for (const r of out.Records ?? []) JSON.parse(Buffer.from(r.Data ?? []).toString('utf8'))
        read += out.Records?.length ?? 0
        iterator = out.NextShardIterator
        if ((out.Records?.length ?? 0) === 0) break
      }
    }
    if (read !== KINESIS_RECORDS) throw new Error(`the SDK read ${read} of ${KINESIS_RECORDS}`)
  }, true)
  client.destroy()
  await backend.close()
  await server.stop()
  return {
    note: 'against kinesalite, a local Kinesis implementation: for regressions only, not AWS rates',
    records: KINESIS_RECORDS,
    shards: SHARDS,
    put,
    sdkPut,
    consume,
    sdkConsume,
    ratioPutToSdk: Number((put.recordsPerSec / sdkPut.recordsPerSec).toFixed(2)),
    ratioConsumeToSdk: Number((consume.recordsPerSec / sdkConsume.recordsPerSec).toFixed(2)),
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

const ratio = (a: { recordsPerSec: number }, b: { recordsPerSec: number }) =>
  Number((a.recordsPerSec / b.recordsPerSec).toFixed(2))
const { put: putResult, rawPut: rawPutResult } = await interleaved({
  put: { body: put },
  rawPut: { body: rawPut },
})
const putAggregatedResult = await best(putAggregated)
const {
  consume: consumeResult,
  rawConsume: rawConsumeResult,
  rawConsumeUnparsed: rawConsumeUnparsedResult,
  rawConsumeBuffers: rawConsumeBuffersResult,
} = await interleaved({
  consume: { body: consume, setup: rawPut },
  rawConsume: { body: rawConsume, setup: rawPut },
  rawConsumeUnparsed: { body: rawConsumeUnparsed, setup: rawPut },
  rawConsumeBuffers: { body: rawConsumeBuffers, setup: rawPut },
})
const consumeAggregatedResult = await best(consume, putAggregated)
const sourceResult = await best(source, putAggregated)
const result = {
  records: RECORDS,
  shards: SHARDS,
  runs: RUNS,
  widgets: WIDGETS,
  put: { ...putResult, redisCommandsPerRecord: await commandsPerRecord(put) },
  rawPut: { ...rawPutResult, redisCommandsPerRecord: await commandsPerRecord(rawPut) },
  consume: { ...consumeResult, redisCommandsPerRecord: await commandsPerRecord(consume, rawPut) },
  rawConsume: {
    ...rawConsumeResult,
    redisCommandsPerRecord: await commandsPerRecord(rawConsume, rawPut),
  },
  rawConsumeUnparsed: rawConsumeUnparsedResult,
  rawConsumeBuffers: rawConsumeBuffersResult,
  consumeNote:
    'rawConsume is the issue baseline: XREAD COUNT 1000 over the 16 keys (string replies), each record JSON.parsed as the iterator does; rawConsumeUnparsed: the same without parsing; rawConsumeBuffers: XREAD with Buffer replies, id and data converted once, data parsed (the cheapest raw ioredis reader). Runs of consume and its baselines interleaved.',
  ratioPutToRaw: ratio(putResult, rawPutResult),
  ratioConsumeToRaw: ratio(consumeResult, rawConsumeResult),
  ratioConsumeToRawUnparsed: ratio(consumeResult, rawConsumeUnparsedResult),
  ratioConsumeToRawBuffers: ratio(consumeResult, rawConsumeBuffersResult),
  /** Node CPU per record of the iterator ÷ that of the raw baseline (lower is better). */
  cpuRatioConsumeToRaw: Number(
    (consumeResult.nodeCpuMicrosPerRecord / rawConsumeResult.nodeCpuMicrosPerRecord).toFixed(2),
  ),
  aggregated: {
    note: 'aggregate: true (500 records per stored record); user records/s vs raw XADD / XREAD of the same records one per entry',
    put: {
      ...putAggregatedResult,
      redisCommandsPerRecord: await commandsPerRecord(putAggregated),
    },
    consume: {
      ...consumeAggregatedResult,
      redisCommandsPerRecord: await commandsPerRecord(consume, putAggregated),
    },
    ratioPutToRaw: ratio(putAggregatedResult, rawPutResult),
    ratioConsumeToRaw: ratio(consumeAggregatedResult, rawConsumeResult),
  },
  source: {
    note: 'Worker + phononSource (MemoryShard, Zipf widgets) over the aggregated stream, until the sink counted every record; vs raw XREAD of the plain stream',
    ...sourceResult,
    redisCommandsPerRecord: await commandsPerRecord(source, putAggregated),
    ratioToRawConsume: ratio(sourceResult, rawConsumeResult),
    cpuRatioToRawConsume: Number(
      (sourceResult.nodeCpuMicrosPerRecord / rawConsumeResult.nodeCpuMicrosPerRecord).toFixed(2),
    ),
  },
  kinesis: await kinesis(),
}
/** The target: put and consume through @phonon/streams at ≥ 0.7× raw XADD / XREAD. */
const RAW_RATIO_TARGET = 0.7
const targets = [
  ['put ÷ raw pipelined XADD', result.ratioPutToRaw],
  ['consume ÷ raw XREAD', result.ratioConsumeToRaw],
  ['aggregated put ÷ raw pipelined XADD', result.aggregated.ratioPutToRaw],
  ['aggregated consume ÷ raw XREAD', result.aggregated.ratioConsumeToRaw],
  ['Worker + phononSource ÷ raw XREAD', result.source.ratioToRawConsume],
].map(([what, value]) => ({ what, value, goal: RAW_RATIO_TARGET, better: 'higher', ratio: true }))
printTable(
  ['', 'records/s', 'vs raw'],
  [
    ['put (putMany, 16 shards)', formatRate(putResult.recordsPerSec), `${result.ratioPutToRaw}×`],
    ['raw pipelined XADD', formatRate(rawPutResult.recordsPerSec), '1×'],
    [
      `consume (iterator, from all; ${consumeResult.nodeCpuMicrosPerRecord} vs ${rawConsumeResult.nodeCpuMicrosPerRecord} µs CPU/record raw)`,
      formatRate(consumeResult.recordsPerSec),
      `${result.ratioConsumeToRaw}×`,
    ],
    ['raw XREAD COUNT 1000 + JSON.parse', formatRate(rawConsumeResult.recordsPerSec), '1×'],
    [
      'raw XREAD COUNT 1000, no parsing',
      formatRate(rawConsumeUnparsedResult.recordsPerSec),
      `${result.ratioConsumeToRawUnparsed}× (consume ÷)`,
    ],
    [
      'raw XREAD COUNT 1000, Buffer replies + JSON.parse',
      formatRate(rawConsumeBuffersResult.recordsPerSec),
      `${result.ratioConsumeToRawBuffers}× (consume ÷)`,
    ],
    [
      'aggregated put',
      formatRate(putAggregatedResult.recordsPerSec),
      `${result.aggregated.ratioPutToRaw}×`,
    ],
    [
      'aggregated consume (iterator)',
      formatRate(consumeAggregatedResult.recordsPerSec),
      `${result.aggregated.ratioConsumeToRaw}×`,
    ],
    [
      `Worker + phononSource (${sourceResult.nodeCpuMicrosPerRecord} µs CPU/record)`,
      formatRate(sourceResult.recordsPerSec),
      `${result.source.ratioToRawConsume}×`,
    ],
    [
      'Kinesis put (kinesalite)',
      formatRate(result.kinesis.put.recordsPerSec),
      `${result.kinesis.ratioPutToSdk}×`,
    ],
    ['SDK PutRecords (kinesalite)', formatRate(result.kinesis.sdkPut.recordsPerSec), '1×'],
    [
      'Kinesis consume (kinesalite)',
      formatRate(result.kinesis.consume.recordsPerSec),
      `${result.kinesis.ratioConsumeToSdk}×`,
    ],
    ['SDK GetRecords (kinesalite)', formatRate(result.kinesis.sdkConsume.recordsPerSec), '1×'],
  ],
)
console.log(writeResult('streams', { ...result, targets }))
await backend.close()
await server.stop()
