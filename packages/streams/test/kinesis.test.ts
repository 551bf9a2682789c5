import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis'
import { ArgumentError } from '@phonon/core'
import { type KinesaliteServer, startKinesalite } from '@phonon/testkit'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  getStream,
  KinesisBackend,
  MemoryBackend,
  parseConfig,
  StreamConfigError,
  StreamError,
  shardIdOf,
  shardOf,
} from '../src/index.js'

let server: KinesaliteServer
beforeAll(async () => {
  server = await startKinesalite()
})
afterAll(async () => {
  await server?.stop()
})

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' }
/** A config whose streams reach the local Kinesis through their own region and endpoint. */
const config = (name: string, shards: number) =>
  parseConfig(
    `s:\n  name: ${name}\n  partition_key: k\n  shards: ${shards}\n  backend: kinesis\n  region: eu-west-1\n  endpoint: ${server.endpoint}\n`,
  )

describe('the Kinesis backend', () => {
  test('the YAML region and endpoint reach the client (its signature names the region)', async () => {
    const seen: string[] = []
    const capture = createServer((request, response) => {
      seen.push(request.headers.authorization ?? '')
      response.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' })
      response.end('{"__type":"ValidationException","message":"captured"}')
    })
    await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve))
    const { port } = capture.address() as AddressInfo
    const yaml = `s:\n  name: signed\n  partition_key: k\n  region: ap-south-2\n  endpoint: http://127.0.0.1:${port}\n`
    const backend = new KinesisBackend({ credentials, region: 'us-east-1' })
    await expect(getStream('s', parseConfig(yaml), backend).put({ k: 'a' })).rejects.toThrow(
      /captured/,
    )
    expect(seen[0]).toContain('/ap-south-2/kinesis/aws4_request')
    await backend.close()
    await new Promise((resolve) => capture.close(resolve))
  })

  test('Kinesis itself routes keys to the same shard index', async () => {
    const backend = new KinesisBackend({ credentials, createStreams: true })
    const stream = getStream<{ k: string }>('s', config('routed', 5), backend)
    const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`)
    const put = await stream.putMany(keys.map((k) => ({ k })))
    expect(put.map((r) => r.shard)).toEqual(keys.map((k) => shardOf(k, 5)))
    // The same keys put with the SDK alone, routed by Kinesis by their partition key.
    const client = new KinesisClient({
      region: 'eu-west-1',
      endpoint: server.endpoint,
      credentials,
      requestHandler: new NodeHttpHandler(),
    })
    for (const k of keys) {
      const out = await client.send(
        new PutRecordCommand({ StreamName: 'routed', PartitionKey: k, Data: Buffer.from('{}') }),
      )
      expect(out.ShardId).toBe(shardIdOf(shardOf(k, 5)))
    }
    client.destroy()
    await backend.close()
  })

  test('a stream whose shards are not the config’s is refused, naming both counts', async () => {
    const backend = new KinesisBackend({ credentials, createStreams: true })
    await getStream('s', config('three', 3), backend).put({ k: 'a' })
    const other = new KinesisBackend({ credentials })
    const put = getStream('s', config('three', 4), other).put({ k: 'a' })
    await expect(put).rejects.toThrow(StreamConfigError)
    await expect(put).rejects.toThrow(/has 3 open shards, the config 4/)
    await Promise.all([backend.close(), other.close()])
  })

  test('a missing stream is a StreamError unless the backend may create it', async () => {
    const backend = new KinesisBackend({ credentials })
    await expect(getStream('s', config('missing', 2), backend).put({ k: 'a' })).rejects.toThrow(
      StreamError,
    )
    await backend.close()
  })

  test('lag counts what follows a checkpoint; cursors are refused by other backends', async () => {
    const backend = new KinesisBackend({ credentials, createStreams: true })
    const stream = getStream<{ k: string }>('s', config('lagging', 1), backend)
    const put = await stream.putMany(['a', 'b', 'c'].map((k) => ({ k })))
    const coordinator = backend.coordinator(stream.definition, 'app')
    const token = (await coordinator.acquire(0, 'w', 10_000)) as number
    await coordinator.commit(
      'w',
      10_000,
      [{ shard: 0, token, from: undefined, sequence: put[0]?.sequence }],
      { id: 'r1' },
    )
    const [lag] = await stream.lag('app')
    expect(lag).toMatchObject({ recordsBehind: 2, latest: put[2]?.sequence })
    const cursor = await backend.pin(stream.definition, 0)
    const memory = new MemoryBackend()
    await expect(memory.read(stream.definition, 0, cursor, 1)).rejects.toThrow(ArgumentError)
    await backend.close()
  })

  test('requestTimeoutMs: a call to an endpoint that never answers fails at its bound', async () => {
    const silent = createServer(() => {}) // accepts requests, never responds
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as AddressInfo
    const endpoint = `http://127.0.0.1:${port}`
    const backend = new KinesisBackend({ credentials, region: 'eu-west-1', requestTimeoutMs: 300 })
    const stream = getStream(
      's',
      parseConfig(`s:\n  name: silent\n  partition_key: k\n  endpoint: ${endpoint}\n`),
      backend,
    )
    const started = performance.now()
    const error = await stream.put({ k: 'a' }).catch((e: unknown) => e)
    const took = performance.now() - started
    expect(error).toBeInstanceOf(StreamError)
    expect((error as Error).message).toBe(
      `Kinesis ListShards on stream silent failed: no answer within 300 ms from ${endpoint}`,
    )
    expect(took).toBeGreaterThanOrEqual(290)
    expect(took).toBeLessThan(3_000)
    await backend.close()
    silent.closeAllConnections()
    await new Promise((resolve) => silent.close(resolve))
    expect(() => new KinesisBackend({ requestTimeoutMs: 0 })).toThrow(ArgumentError)
  })

  test('bad endpoints in the YAML name the field', () => {
    expect(() => parseConfig('s:\n  name: x\n  partition_key: k\n  endpoint: 3\n')).toThrow(
      /stream s: endpoint must be a URL/,
    )
  })
})
