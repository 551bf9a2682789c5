import { randomUUID } from 'node:crypto'
import type * as Sdk from '@aws-sdk/client-kinesis'
import { ArgumentError, PhononError } from '@phonon/core'
import type { Backend, Coordinator, ReadFrom, StoredRecord } from '../Backend.js'
import type { StreamDefinition } from '../config.js'
import { StreamConfigError, StreamError } from '../errors.js'
import { hashKeyRange } from '../routing.js'
import { MemoryBackend } from './memory.js'

/** An optional peer dependency needed by what was asked is not installed. */
export class MissingPackage extends PhononError {
  readonly _tag = 'MissingPackage' as const
  constructor(
    readonly packageName: string,
    why: string,
  ) {
    super(`${why} needs the package ${packageName}: install it (pnpm add ${packageName})`)
  }
}

/** Records of one PutRecords call still failing after the retries; the others were written. */
export class KinesisPutError extends StreamError {
  constructor(
    message: string,
    /** Each failed record: its index in the call, Kinesis's error code and message. */
    readonly failures: ReadonlyArray<{ index: number; code: string; message: string }>,
  ) {
    super(message)
  }
}

/** Options of {@link KinesisBackend}. */
export interface KinesisBackendOptions {
  /** The region of streams whose definition has none (default: the SDK's, from the environment). */
  readonly region?: string
  /**
   * An endpoint for streams whose definition has none, e.g. a local Kinesis implementation
   * (`http://127.0.0.1:4567`); it is then spoken to over HTTP/1.1.
   */
  readonly endpoint?: string
  /** Credentials (default: the SDK's chain). Local implementations take any. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string }
  /** Creates a missing stream with the definition's shard count (default false: it must exist). */
  readonly createStreams?: boolean
  /**
   * Where leases and checkpoints live (Kinesis has none; the KCL uses DynamoDB): another
   * backend's coordinators, e.g. a {@link RedisBackend}. Default: memory, one process only.
   */
  readonly coordination?: Backend
  /** Attempts of a PutRecords for records Kinesis refused (throttled, internal failure). Default 4. */
  readonly putAttempts?: number
  /**
   * How long one Kinesis call may take, the SDK's retries included, before it is abandoned and
   * fails with a {@link StreamError} (default: no bound, the SDK's own). An endpoint that accepts
   * connections and never answers otherwise blocks a call for ever.
   */
  readonly requestTimeoutMs?: number
}

type Client = { send: Sdk.KinesisClient['send']; destroy(): void }
type SdkModule = typeof Sdk

/** Kinesis takes up to 500 records and 5 MiB per PutRecords and 10,000 records per GetRecords. */
const PUT_LIMIT = 500
const PUT_BYTES = 5 << 20
const GET_LIMIT = 10_000
/** How many next-iterators are kept to continue reads without a GetShardIterator. */
const CURSORS = 4_096
/** How long a stream created by the backend may take to become ACTIVE. */
const CREATE_TIMEOUT_MS = 120_000

/**
 * Streams on AWS Kinesis through the AWS SDK v3 (`@aws-sdk/client-kinesis`, an optional peer
 * dependency loaded on first use). Shard index i is the stream's i-th open shard by starting
 * hash key, and records are put with that shard's starting hash key as explicit hash key, so a
 * partition key lands on the same index as on the other backends.
 *
 * Producers are at least once here: Kinesis has no idempotent producer, so a `PutRecords` whose
 * reply was lost, sent again (by the SDK's retries, this backend's `putAttempts`, or the caller),
 * stores its records twice; the producer id and sequence numbers of a {@link Producer} are
 * ignored. Dedupe downstream (e.g. by a key of your own in the record) where that matters.
 */
export class KinesisBackend implements Backend {
  /** Kinesis has no idempotent producer: appends are at least once. */
  readonly idempotent = false
  /** A record's data and partition key (up to 256 bytes; ours are ≤ 39) take 1 MiB at most. */
  readonly maxRecordBytes = (1 << 20) - 256
  readonly #options: KinesisBackendOptions
  readonly #coordination: Backend
  readonly #clients = new Map<string, Promise<Client>>()
  readonly #shards = new Map<string, Promise<Array<{ id: string; start: string }>>>()
  /** Position key → the shard iterator continuing from it (kept fresh by every read). */
  readonly #cursors = new Map<string, string>()
  #sdk: Promise<SdkModule> | undefined

  /** @throws ArgumentError for a `requestTimeoutMs` that is not a positive integer. */
  constructor(options: KinesisBackendOptions = {}) {
    const ms = options.requestTimeoutMs
    if (ms !== undefined && !(Number.isSafeInteger(ms) && ms >= 1))
      throw new ArgumentError(`KinesisBackend: requestTimeoutMs must be an integer ≥ 1, got ${ms}`)
    this.#options = options
    this.#coordination = options.coordination ?? new MemoryBackend()
  }

  /**
   * @throws {@link KinesisPutError} for records still refused after the retries.
   * @throws {@link StreamError} when Kinesis fails; {@link StreamConfigError} when the stream's
   * shards are not the definition's; {@link MissingPackage} without the SDK.
   */
  async append(stream: StreamDefinition, shard: number, payloads: readonly string[]) {
    const { start } = await this.#shard(stream, shard)
    const sequences: string[] = []
    for (let i = 0; i < payloads.length; ) {
      let end = i
      for (let bytes = 0; end < payloads.length && end - i < PUT_LIMIT; end++) {
        bytes += Buffer.byteLength(payloads[end] as string) + start.length
        if (bytes > PUT_BYTES && end > i) break
      }
      sequences.push(...(await this.#put(stream, start, payloads.slice(i, end), i)))
      i = end
    }
    return sequences
  }

  async #put(stream: StreamDefinition, start: string, payloads: readonly string[], offset: number) {
    const sdk = await this.#load()
    const sequences: string[] = []
    let pending = payloads.map((_, index) => index)
    let failures: Array<{ index: number; code: string; message: string }> = []
    for (
      let attempt = 0;
      pending.length > 0 && attempt < (this.#options.putAttempts ?? 4);
      attempt++
    ) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt))
      const out = await this.#send(stream, 'PutRecords', (c) =>
        c.send(
          new sdk.PutRecordsCommand({
            StreamName: stream.name,
            Records: pending.map((index) => ({
              Data: Buffer.from(payloads[index] as string),
              PartitionKey: start,
              ExplicitHashKey: start,
            })),
          }),
        ),
      )
      failures = []
      pending = pending.filter((index, i) => {
        const result = out.Records?.[i]
        if (result?.SequenceNumber !== undefined) {
          sequences[index] = result.SequenceNumber
          return false
        }
        const code = result?.ErrorCode ?? 'Missing'
        failures.push({ index: offset + index, code, message: result?.ErrorMessage ?? '' })
        return true
      })
    }
    if (pending.length > 0) {
      const first = failures[0]
      throw new KinesisPutError(
        `${pending.length} of ${payloads.length} records refused by Kinesis stream ${stream.name} (${first?.code}: ${first?.message})`,
        failures,
      )
    }
    return sequences
  }

  /**
   * The shard's last record, found by reading the whole shard (Kinesis has no call for it; a
   * `latest` iterator uses {@link KinesisBackend.pin} instead).
   */
  async last(stream: StreamDefinition, shard: number) {
    let last: StoredRecord | undefined
    for (;;) {
      const from: ReadFrom = last === undefined ? 'all' : { after: last.sequence }
      const records = await this.read(stream, shard, from, GET_LIMIT)
      if (records.length === 0) {
        this.#cursors.delete(this.#key(stream, shard, from))
        return last
      }
      last = records.at(-1)
    }
  }

  /**
   * A LATEST shard iterator, as a cursor: it is pinned now, and every read of it continues it
   * (an iterator left unread for 5 minutes expires).
   */
  async pin(stream: StreamDefinition, shard: number): Promise<ReadFrom> {
    const from = { cursor: randomUUID() }
    const iterator = await this.#iterator(stream, shard, { ShardIteratorType: 'LATEST' })
    this.#remember(this.#key(stream, shard, from), iterator)
    return from
  }

  /**
   * @throws {@link StreamError} when Kinesis fails, or for a cursor expired or not made here.
   */
  async read(stream: StreamDefinition, shard: number, from: ReadFrom, limit: number) {
    if (typeof from === 'object' && 'timestamp' in from && from.timestamp > Date.now()) return []
    const key = this.#key(stream, shard, from)
    const cached = this.#cursors.get(key)
    this.#cursors.delete(key)
    const fresh = () => this.#iterator(stream, shard, position(stream, from))
    try {
      return await this.#fetch(stream, shard, key, cached ?? (await fresh()), limit)
    } catch (error) {
      // An iterator lives 5 minutes: an expired one is made again from its position, once.
      const expired =
        ((error as Error).cause as Error | undefined)?.name === 'ExpiredIteratorException'
      if (!expired || cached === undefined || (typeof from === 'object' && 'cursor' in from))
        throw error
      return this.#fetch(stream, shard, key, await fresh(), limit)
    }
  }

  async #fetch(
    stream: StreamDefinition,
    shard: number,
    key: string,
    iterator: string,
    limit: number,
  ) {
    const sdk = await this.#load()
    const out = await this.#send(stream, 'GetRecords', (c) =>
      c.send(
        new sdk.GetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(limit, GET_LIMIT) }),
      ),
    )
    const records = (out.Records ?? []).map(
      (r): StoredRecord => ({
        sequence: r.SequenceNumber as string,
        timestamp: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
        data: Buffer.from(r.Data ?? []).toString('utf8'),
      }),
    )
    // The next read continues from here: with the next iterator, no GetShardIterator call.
    const last = records.at(-1)
    if (out.NextShardIterator !== undefined) {
      const next = last === undefined ? key : this.#key(stream, shard, { after: last.sequence })
      this.#remember(next, out.NextShardIterator)
    }
    return records
  }

  /** Leases and checkpoints of the coordination backend (see {@link KinesisBackendOptions}). */
  coordinator(stream: StreamDefinition, application: string): Coordinator {
    return this.#coordination.coordinator(stream, application)
  }

  /** This process's clock: Kinesis has no clock call (arrival times are the service's). */
  async now() {
    return Date.now()
  }

  /** Closes the SDK clients, and the coordination backend when it is the default memory one. */
  async close() {
    for (const client of this.#clients.values()) (await client.catch(() => undefined))?.destroy()
    this.#clients.clear()
    if (this.#options.coordination === undefined) await this.#coordination.close()
  }

  #key(stream: StreamDefinition, shard: number, from: ReadFrom) {
    return `${stream.name}\0${shard}\0${JSON.stringify(from)}`
  }

  #remember(key: string, iterator: string) {
    this.#cursors.set(key, iterator)
    if (this.#cursors.size > CURSORS)
      this.#cursors.delete(this.#cursors.keys().next().value as string)
  }

  async #iterator(stream: StreamDefinition, shard: number, position: Position): Promise<string> {
    const sdk = await this.#load()
    const { id } = await this.#shard(stream, shard)
    const out = await this.#send(stream, 'GetShardIterator', (c) =>
      c.send(
        new sdk.GetShardIteratorCommand({ StreamName: stream.name, ShardId: id, ...position }),
      ),
    )
    return out.ShardIterator as string
  }

  /** The shard's id and starting hash key; checks the stream's shards once per stream. */
  async #shard(stream: StreamDefinition, shard: number) {
    let shards = this.#shards.get(stream.name)
    if (shards === undefined) {
      shards = this.#listShards(stream)
      this.#shards.set(stream.name, shards)
      shards.catch(() => this.#shards.delete(stream.name))
    }
    return (await shards)[shard] as { id: string; start: string }
  }

  /**
   * The open shards by starting hash key, checked to be the definition's count of equal ranges
   * (else a key would not land on the same index as elsewhere).
   * @throws {@link StreamConfigError} when they are not.
   */
  async #listShards(stream: StreamDefinition) {
    const sdk = await this.#load()
    let listed: Sdk.Shard[]
    try {
      listed = await this.#list(stream, sdk)
    } catch (error) {
      const missing = (error as Error).cause instanceof sdk.ResourceNotFoundException
      if (!missing || this.#options.createStreams !== true) throw error
      await this.#send(stream, 'CreateStream', (c) =>
        c.send(new sdk.CreateStreamCommand({ StreamName: stream.name, ShardCount: stream.shards })),
      )
      await this.#untilActive(stream, sdk)
      listed = await this.#list(stream, sdk)
    }
    const open = listed
      .filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)
      .map((s) => ({ id: s.ShardId as string, start: s.HashKeyRange?.StartingHashKey as string }))
      .sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : 1))
    const equal = open.every((s, i) => BigInt(s.start) === hashKeyRange(i, stream.shards).start)
    if (open.length !== stream.shards || !equal) {
      const found =
        open.length === stream.shards
          ? 'shards of unequal hash key ranges'
          : `${open.length} open shards`
      throw new StreamConfigError(
        `stream ${stream.logical}: Kinesis stream ${stream.name} has ${found}, the config ${stream.shards} equal ones: keys would not land on the same shard index as on the other backends`,
      )
    }
    return open
  }

  /** Polls (the SDK's waiter sleeps 10 s between polls) until a created stream is ACTIVE. */
  async #untilActive(stream: StreamDefinition, sdk: SdkModule) {
    const deadline = Date.now() + CREATE_TIMEOUT_MS
    for (;;) {
      const out = await this.#send(stream, 'DescribeStreamSummary', (c) =>
        c.send(new sdk.DescribeStreamSummaryCommand({ StreamName: stream.name })),
      )
      if (out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return
      if (Date.now() > deadline) {
        throw new StreamError(
          `Kinesis stream ${stream.name} not ACTIVE ${CREATE_TIMEOUT_MS} ms after its creation`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  async #list(stream: StreamDefinition, sdk: SdkModule) {
    const shards: Sdk.Shard[] = []
    let token: string | undefined
    do {
      const out = await this.#send(stream, 'ListShards', (c) =>
        c.send(
          new sdk.ListShardsCommand(
            token === undefined ? { StreamName: stream.name } : { NextToken: token },
          ),
        ),
      )
      shards.push(...(out.Shards ?? []))
      token = out.NextToken
    } while (token !== undefined)
    return shards
  }

  /** Runs a call on the stream's client; an SDK error becomes a {@link StreamError} (its cause). */
  async #send<T>(stream: StreamDefinition, what: string, call: (c: Client) => Promise<T>) {
    const client = await this.#client(stream)
    const ms = this.#options.requestTimeoutMs
    const signal = ms === undefined ? undefined : AbortSignal.timeout(ms)
    const bounded: Client =
      signal === undefined
        ? client
        : {
            send: ((command: Parameters<Client['send']>[0]) =>
              client.send(command, { abortSignal: signal })) as Client['send'],
            destroy: () => client.destroy(),
          }
    try {
      return await call(bounded)
    } catch (error) {
      const endpoint = stream.endpoint ?? this.#options.endpoint
      const reason = signal?.aborted
        ? `no answer within ${ms} ms${endpoint === undefined ? '' : ` from ${endpoint}`}`
        : (error as Error).message
      throw new StreamError(`Kinesis ${what} on stream ${stream.name} failed: ${reason}`, {
        cause: error,
      })
    }
  }

  #client(stream: StreamDefinition): Promise<Client> {
    const region = stream.region ?? this.#options.region
    const endpoint = stream.endpoint ?? this.#options.endpoint
    const key = `${region}\0${endpoint}`
    let client = this.#clients.get(key)
    if (client === undefined) {
      client = this.#makeClient(region, endpoint)
      this.#clients.set(key, client)
      client.catch(() => this.#clients.delete(key))
    }
    return client
  }

  async #makeClient(region: string | undefined, endpoint: string | undefined): Promise<Client> {
    const sdk = await this.#load()
    return new sdk.KinesisClient({
      ...(region === undefined ? {} : { region }),
      ...(endpoint === undefined ? {} : { endpoint, requestHandler: await http1() }),
      ...(this.#options.credentials === undefined
        ? {}
        : { credentials: this.#options.credentials }),
    })
  }

  #load(): Promise<SdkModule> {
    this.#sdk ??= load<SdkModule>('@aws-sdk/client-kinesis', 'the Kinesis backend')
    return this.#sdk
  }
}

type Position = Pick<
  Sdk.GetShardIteratorCommandInput,
  'ShardIteratorType' | 'StartingSequenceNumber' | 'Timestamp'
>

/**
 * The GetShardIterator position of a read position.
 * @throws {@link StreamError} for a cursor: it cannot be made again (expired, or not ours).
 */
function position(stream: StreamDefinition, from: ReadFrom): Position {
  if (from === 'all') return { ShardIteratorType: 'TRIM_HORIZON' }
  if ('after' in from) {
    return { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: from.after }
  }
  if ('at' in from)
    return { ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: from.at }
  if ('timestamp' in from)
    return { ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(from.timestamp) }
  throw new StreamError(
    `Kinesis stream ${stream.name}: cursor ${from.cursor} is unknown here (unread for 5 minutes, or made by another backend)`,
  )
}

/** The SDK speaks HTTP/2 to Kinesis by default; local implementations speak HTTP/1.1. */
async function http1() {
  const { NodeHttpHandler } = await load<typeof import('@smithy/node-http-handler')>(
    '@smithy/node-http-handler',
    'a Kinesis endpoint override',
  )
  return new NodeHttpHandler()
}

/**
 * Imports an optional peer dependency.
 * @throws {@link MissingPackage} when it is not installed.
 */
async function load<T>(name: string, why: string): Promise<T> {
  try {
    return (await import(name)) as T
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new MissingPackage(name, why)
    }
    throw error
  }
}
