#!/usr/bin/env node
/**
 * `phonon-streams`: put lines from stdin into a stream, or print a stream's records.
 * Exit status: 0 done, 1 the backend failed or cannot be reached (Redis or Kinesis: within 5 s,
 * checked before anything is read), 2 a usage error (one line on stderr, no stack trace).
 */
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { PhononError } from '@phonon/core'
import type { Backend } from './Backend.js'
import { KinesisBackend } from './backends/kinesis.js'
import { MemoryBackend } from './backends/memory.js'
import { RedisBackend } from './backends/redis.js'
import { type BackendKind, loadConfig, type StreamDefinition } from './config.js'
import type { StartPosition } from './Iterator.js'
import { getStream } from './Stream.js'

const HELP = `usage: phonon-streams <put|get> -s <stream> [options]

  put -s <stream>          put each line of stdin as a record (a JSON object as is; any other
                           line as {"<partition key>": line, "data": line}); prints shard and sequence
  get -s <stream>          print records as "<shardId> <sequence> <json>", until interrupted

options:
  -s, --stream <name>      the logical stream (required)
  -c, --config <file>      the streams YAML file (default: $STREAMS_CONFIG or streams.yaml)
  -b, --backend <kind>     redis, kinesis or memory (default: the stream's backend in the config)
      --redis <url>        Redis (default: $REDIS_URL or redis://127.0.0.1:6379)
      --region <region>    Kinesis: the AWS region (default: the config's, else the SDK's)
      --endpoint <url>     Kinesis: an endpoint (default: the config's, else AWS's), e.g. a local
                           implementation's http://127.0.0.1:4567; credentials: the SDK's chain
      --from <position>    get: latest (default), all, or a sequence number (read after it)
      --shards <list>      get: shard indexes, e.g. 0,1 (default: all)
      --count <n>          get: stop after n records
  -h, --help               this help

The memory backend keeps records in this process only: put shows where records are routed.
Exit status: 0 done, 1 the backend failed or cannot be reached (within 5 s), 2 a usage error.
`

const KINDS: readonly BackendKind[] = ['redis', 'kinesis', 'memory']

/** A mistake of the user's: one line, exit 2. */
class UsageError extends Error {}

function parse(argv: readonly string[]) {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true })
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0])
  }
  const { values, positionals } = parsed
  if (values.help) return undefined
  const [command, ...extra] = positionals
  if (command !== 'put' && command !== 'get') {
    throw new UsageError(
      command === undefined
        ? 'a command is required: put or get'
        : `unknown command ${command}: use put or get`,
    )
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`)
  if (values.stream === undefined) throw new UsageError('--stream (-s) is required')
  if (command === 'put' && (values.from ?? values.shards ?? values.count) !== undefined) {
    throw new UsageError('--from, --shards and --count are options of get')
  }
  const backend = values.backend as BackendKind | undefined
  if (backend !== undefined && !KINDS.includes(backend)) {
    usage(`--backend must be ${KINDS.join(', ')}, got ${backend}`)
  }
  if (values.endpoint !== undefined && !/^https?:\/\/\S+$/.test(values.endpoint)) {
    usage(`--endpoint must be an http(s):// URL, got ${values.endpoint}`)
  }
  if (values.region !== undefined && !/^[a-z][a-z0-9-]{0,31}$/.test(values.region)) {
    usage(`--region must be an AWS region such as eu-west-1, got ${values.region}`)
  }
  const from: StartPosition =
    values.from === undefined || values.from === 'latest'
      ? 'latest'
      : values.from === 'all'
        ? 'all'
        : /^\d+(-\d+)?$/.test(values.from)
          ? { after: values.from }
          : usage(`--from must be latest, all or a sequence number, got ${values.from}`)
  const shards = values.shards?.split(',').map((s) => {
    if (!/^\d+$/.test(s))
      usage(`--shards must be indexes separated by commas, got ${values.shards}`)
    return Number(s)
  })
  const count = values.count === undefined ? undefined : Number(values.count)
  if (count !== undefined && !(Number.isSafeInteger(count) && count >= 1)) {
    usage(`--count must be an integer ≥ 1, got ${values.count}`)
  }
  return {
    command,
    stream: values.stream,
    config: values.config ?? process.env.STREAMS_CONFIG ?? 'streams.yaml',
    redis: values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    backend,
    region: values.region,
    endpoint: values.endpoint,
    from,
    shards,
    count,
  }
}

const OPTIONS = {
  stream: { type: 'string', short: 's' },
  config: { type: 'string', short: 'c' },
  backend: { type: 'string', short: 'b' },
  redis: { type: 'string' },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  from: { type: 'string' },
  shards: { type: 'string' },
  count: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

function usage(message: string): never {
  throw new UsageError(message)
}

/** How long the backend may take to answer: the connection check, and each Kinesis call. */
const ANSWER_MS = 5_000

/** Connects to Redis, failing within 5 s when it cannot be reached. */
async function connectRedis(url: string): Promise<RedisBackend> {
  if (!/^rediss?:\/\//.test(url)) usage(`--redis must be a redis:// URL, got ${url}`)
  const backend = new RedisBackend({
    redis: url,
    redisOptions: {
      connectTimeout: ANSWER_MS,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    },
  })
  backend.redis.on('error', () => {}) // reported by the ping below
  let timer: NodeJS.Timeout | undefined
  try {
    // A server that accepts the connection but never answers fails the same way, within 5 s.
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no reply within 5 s')), ANSWER_MS)
    })
    await Promise.race([backend.redis.connect().then(() => backend.redis.ping()), silent])
  } catch (error) {
    backend.redis.disconnect()
    throw new Error(
      `cannot reach Redis at ${url.replace(/\/\/[^@]*@/, '//')}: ${(error as Error).message}`,
    )
  } finally {
    clearTimeout(timer)
  }
  return backend
}

/**
 * A Kinesis backend whose every call fails within 5 s, once it has answered: the stream's shards
 * are listed (and checked against the config) and one is pinned before anything is read, so an
 * endpoint nobody listens on, or one that never answers, fails the run at once (exit status 1).
 */
async function connectKinesis(definition: StreamDefinition): Promise<KinesisBackend> {
  const backend = new KinesisBackend({ requestTimeoutMs: ANSWER_MS })
  try {
    await backend.pin(definition, 0)
  } catch (error) {
    await backend.close()
    throw error
  }
  return backend
}

async function main(argv: readonly string[]): Promise<number> {
  const options = parse(argv)
  if (options === undefined) {
    process.stdout.write(HELP)
    return 0
  }
  const config = loadConfig(options.config)
  const found = config.get(options.stream)
  if (found === undefined) usage(`no stream ${options.stream} in ${options.config}`)
  // Flags override the config's backend, region and endpoint.
  const definition: StreamDefinition = {
    ...found,
    backend: options.backend ?? found.backend,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
  }
  if (definition.backend !== 'kinesis' && (options.region ?? options.endpoint) !== undefined) {
    usage('--region and --endpoint are options of the kinesis backend')
  }
  const backend: Backend =
    definition.backend === 'redis'
      ? await connectRedis(options.redis)
      : definition.backend === 'kinesis'
        ? await connectKinesis(definition)
        : new MemoryBackend()
  try {
    const stream = getStream<unknown>(
      options.stream,
      new Map([[options.stream, definition]]),
      backend,
    )
    if (options.command === 'put') {
      const key = stream.definition.partitionKey
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
        if (line === '') continue
        const record = asRecord(line) ?? { [key]: line, data: line }
        const { shard, sequence } = await stream.put(record)
        process.stdout.write(`${shard} ${sequence}\n`)
      }
    } else {
      const iterator = await stream.iterator({
        from: options.from,
        ...(options.shards ? { shards: options.shards } : {}),
      })
      const stop = () => iterator.stop()
      process.once('SIGINT', stop).once('SIGTERM', stop)
      let printed = 0
      for await (const record of iterator) {
        process.stdout.write(
          `${record.shardId} ${record.sequence} ${JSON.stringify(record.data)}\n`,
        )
        if (++printed === options.count) iterator.stop()
      }
    }
  } finally {
    await backend.close()
  }
  return 0
}

function asRecord(line: string): object | undefined {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined
  } catch {
    return undefined
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error)
    // One line: a usage error points at --help, no stack trace.
    const line = message.replace(/\s*\n\s*/g, ' ')
    process.stderr.write(
      `phonon-streams: ${line}${error instanceof UsageError ? ' (see phonon-streams --help)' : ''}\n`,
    )
    // A config or record the user got wrong is a usage error; the backend failing is not.
    process.exitCode =
      error instanceof UsageError ||
      (error instanceof PhononError && error._tag === 'ArgumentError')
        ? 2
        : 1
  },
)
