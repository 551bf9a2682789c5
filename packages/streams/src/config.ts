import { readFileSync } from 'node:fs'
import { parseDocument } from 'yaml'
import { StreamConfigError } from './errors.js'

/** Where a stream's records live. */
export type BackendKind = 'redis' | 'memory' | 'kinesis'

/** One logical stream, as the YAML file or code defines it (all fields checked). */
export interface StreamDefinition {
  /** The logical name producers and consumers use. */
  readonly logical: string
  /** The physical stream: the Kinesis stream name, or the Redis key prefix. */
  readonly name: string
  /** The record field whose value routes a record to its shard. */
  readonly partitionKey: string
  /** How many shards. */
  readonly shards: number
  readonly backend: BackendKind
  /** Records older than this are trimmed (Redis; Kinesis keeps its own retention). */
  readonly retentionMs: number
  /** The largest encoded record accepted (bytes). */
  readonly maxRecordBytes: number
  /** The AWS region (Kinesis). */
  readonly region?: string
  /** A Kinesis endpoint override, e.g. a local implementation's `http://127.0.0.1:4567`. */
  readonly endpoint?: string
}

/** A stream as written in code: only `name` and `partitionKey` are required. */
export interface StreamInput {
  readonly name: string
  readonly partitionKey: string
  readonly shards?: number
  readonly backend?: BackendKind
  readonly retentionMs?: number
  readonly maxRecordBytes?: number
  readonly region?: string
  readonly endpoint?: string
}

/** Logical name → definition. */
export type StreamsConfig = ReadonlyMap<string, StreamDefinition>

/** Kinesis's default retention (24 h) and largest record (1 MiB). */
const DEFAULTS = {
  shards: 4,
  backend: 'redis',
  retentionMs: 24 * 3_600_000,
  maxRecordBytes: 1 << 20,
}
const NAME = /^[A-Za-z0-9_.-]{1,128}$/
const KEYS: Record<string, keyof StreamInput> = {
  name: 'name',
  partition_key: 'partitionKey',
  shards: 'shards',
  backend: 'backend',
  retention_hours: 'retentionMs',
  max_record_bytes: 'maxRecordBytes',
  region: 'region',
  endpoint: 'endpoint',
}

/**
 * Checks stream definitions written in code.
 * @throws {@link StreamConfigError} naming the stream and field at fault.
 * @example defineStreams({ clicks: { name: 'prod-clicks', partitionKey: 'widget', shards: 16 } })
 */
export function defineStreams(streams: Readonly<Record<string, StreamInput>>): StreamsConfig {
  return new Map(
    Object.entries(streams).map(([logical, input]) => [
      logical,
      checkStream(logical, input, 'code'),
    ]),
  )
}

/**
 * Reads a YAML file mapping logical names to `{ name, partition_key, shards?, backend?,
 * retention_hours?, max_record_bytes?, region?, endpoint? }`.
 * @throws {@link StreamConfigError} naming the file (and the stream and field) at fault.
 */
export function loadConfig(file: string): StreamsConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new StreamConfigError(`${file}: cannot read it (${(error as Error).message})`)
  }
  return parseConfig(text, file)
}

/**
 * Parses a YAML config's text (see {@link loadConfig}).
 * @throws {@link StreamConfigError} naming `file`, the stream and the field at fault.
 */
export function parseConfig(text: string, file = '<config>'): StreamsConfig {
  const doc = parseDocument(text, { uniqueKeys: true })
  const [first] = doc.errors
  if (first !== undefined) {
    throw new StreamConfigError(`${file}: ${first.message.split('\n')[0]}`)
  }
  const root: unknown = doc.toJS()
  if (!isRecord(root)) throw new StreamConfigError(`${file}: expected a mapping of stream names`)
  const config = new Map<string, StreamDefinition>()
  for (const [logical, value] of Object.entries(root)) {
    if (!isRecord(value)) {
      throw new StreamConfigError(`${file}: stream ${logical}: expected a mapping`)
    }
    const input: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(value)) {
      const name = KEYS[key]
      if (name === undefined) {
        throw new StreamConfigError(`${file}: stream ${logical}: unknown field ${key}`)
      }
      input[name] = name === 'retentionMs' && typeof field === 'number' ? field * 3_600_000 : field
    }
    config.set(logical, checkStream(logical, input, file))
  }
  return config
}

function checkStream(logical: string, input: Record<string, unknown> | StreamInput, where: string) {
  const fail = (field: string, what: string, got: unknown): never => {
    throw new StreamConfigError(
      `${where}: stream ${logical}: ${field} must be ${what}, got ${JSON.stringify(got)}`,
    )
  }
  const i = input as Record<string, unknown>
  if (typeof i.name !== 'string' || !NAME.test(i.name)) {
    fail('name', '1-128 letters, digits, _ . -', i.name)
  }
  if (typeof i.partitionKey !== 'string' || i.partitionKey === '') {
    fail('partition_key', 'a field name', i.partitionKey)
  }
  const shards = i.shards ?? DEFAULTS.shards
  if (!Number.isSafeInteger(shards) || (shards as number) < 1 || (shards as number) > 1024) {
    fail('shards', 'an integer from 1 to 1024', shards)
  }
  const backend = i.backend ?? DEFAULTS.backend
  if (backend !== 'redis' && backend !== 'memory' && backend !== 'kinesis') {
    fail('backend', 'redis, memory or kinesis', backend)
  }
  const retentionMs = i.retentionMs ?? DEFAULTS.retentionMs
  if (typeof retentionMs !== 'number' || !(retentionMs > 0)) {
    fail('retention_hours', 'a positive number', retentionMs)
  }
  const maxRecordBytes = i.maxRecordBytes ?? DEFAULTS.maxRecordBytes
  if (!Number.isSafeInteger(maxRecordBytes) || (maxRecordBytes as number) < 1) {
    fail('max_record_bytes', 'a positive integer', maxRecordBytes)
  }
  if (i.region !== undefined && typeof i.region !== 'string') fail('region', 'a string', i.region)
  if (i.endpoint !== undefined && (typeof i.endpoint !== 'string' || !URL.canParse(i.endpoint))) {
    fail('endpoint', 'a URL', i.endpoint)
  }
  return {
    logical,
    name: i.name as string,
    partitionKey: i.partitionKey as string,
    shards: shards as number,
    backend: backend as BackendKind,
    retentionMs: retentionMs as number,
    maxRecordBytes: maxRecordBytes as number,
    ...(i.region === undefined ? {} : { region: i.region as string }),
    ...(i.endpoint === undefined ? {} : { endpoint: i.endpoint as string }),
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
