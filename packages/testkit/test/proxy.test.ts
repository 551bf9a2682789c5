import {
  type FaultProxy,
  frameEnd,
  type ProxiedCommand,
  type RedisServer,
  randomFaults,
  respCommand,
  startFaultProxy,
  startRedis,
  waitFor,
} from '@phonon/testkit'
import fc from 'fast-check'
import { Redis, type RedisOptions } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

let redis: RedisServer
let proxy: FaultProxy
const clients: Redis[] = []
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect()
  await proxy?.close()
})

async function through(options: RedisOptions = {}): Promise<Redis> {
  proxy = await startFaultProxy({ target: redis })
  // The cast bridges ioredis' option types and exactOptionalPropertyTypes.
  const client = new Redis(proxy.port, proxy.host, { lazyConnect: true, ...options } as never)
  clients.push(client)
  await client.connect()
  return client
}

/** A client that neither resends nor retries: a lost reply surfaces as an error. */
const noRetry: RedisOptions = {
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => 20,
}

const direct = (...args: string[]) => redis.command(...args)
const isIncr = (command: ProxiedCommand) => command.name === 'INCR'

describe('frameEnd', () => {
  it('frames RESP2 and RESP3 values split at any byte', () => {
    const values = [
      '+OK\r\n',
      '-ERR x\r\n',
      ':42\r\n',
      '$5\r\nhe\r\nl\r\n',
      '$-1\r\n',
      '*2\r\n$1\r\na\r\n*1\r\n:1\r\n',
      '_\r\n',
      '%1\r\n+k\r\n~2\r\n#t\r\n,1.5\r\n',
      '|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n',
      '>2\r\n+invalidate\r\n*0\r\n',
      'PING\r\n',
    ]
    const stream = Buffer.from(values.join(''))
    const ends = values.map((_, i) => Buffer.byteLength(values.slice(0, i + 1).join('')))
    let start = 0
    for (const end of ends) {
      for (let cut = start; cut < end; cut++)
        expect(frameEnd(stream.subarray(0, cut), start)).toBeUndefined()
      expect(frameEnd(stream, start)).toBe(end)
      start = end
    }
  })
})

describe('startFaultProxy', () => {
  it('forwards both ways: ioredis commands, a pipeline of 2,000, a 3 MB value, RESP3 maps', async () => {
    const client = await through()
    await client.set('k', 'v')
    expect(await client.get('k')).toBe('v')
    const pipeline = client.pipeline()
    for (let i = 0; i < 2_000; i++) pipeline.incr('counter')
    const results = (await pipeline.exec()) ?? []
    expect(results.map(([, value]) => value)).toEqual(
      Array.from({ length: 2_000 }, (_, i) => i + 1),
    )
    const big = 'x'.repeat(3 * 2 ** 20)
    await client.set('big', big)
    expect(await client.get('big')).toBe(big)
    await client.hset('h', 'a', '1', 'b', '2')
    expect(await client.hgetall('h')).toEqual({ a: '1', b: '2' })
    expect(proxy.stats()).toMatchObject({ connections: 1, open: 1, droppedReplies: 0, cuts: 0 })
    expect(proxy.stats().commands).toBeGreaterThan(2_006)
  })

  it('drop-reply: the command ran in Redis, the client only sees its connection cut', async () => {
    const client = await through(noRetry)
    await client.set('n', '0')
    const lost = proxy.failNext('drop-reply', isIncr)
    await expect(client.incr('n')).rejects.toThrow()
    expect((await lost).name).toBe('INCR')
    expect(await direct('GET', 'n')).toBe('1')
    expect(proxy.stats()).toMatchObject({ droppedReplies: 1, cuts: 1 })
    // The client reconnects through the proxy and goes on.
    await waitFor('the client to reconnect', async () => (await client.incr('n')) === 2, 10_000)
  })

  it('drop-reply with ioredis defaults: it resends the unanswered command, which runs twice', async () => {
    const client = await through()
    await client.set('twice', '0')
    const lost = proxy.failNext('drop-reply', isIncr)
    expect(await client.incr('twice')).toBe(2)
    await lost
    expect(await direct('GET', 'twice')).toBe('2')
  })

  it('drop-command: the connection is cut before Redis sees the command', async () => {
    const client = await through(noRetry)
    await client.set('m', '0')
    const dropped = proxy.failNext('drop-command', isIncr)
    await expect(client.incr('m')).rejects.toThrow()
    await dropped
    expect(await direct('GET', 'm')).toBe('0')
    expect(proxy.stats()).toMatchObject({ droppedCommands: 1, cuts: 1 })
  })

  it('a delay holds a reply back (and the replies behind it) without reordering', async () => {
    const client = await through()
    const delayed = proxy.failNext({ delayMs: 300 }, (command) => command.name === 'SET')
    const started = performance.now()
    const order: string[] = []
    await Promise.all([
      client.set('d', '1').then(() => order.push('set')),
      client.get('d').then(() => order.push('get')),
    ])
    await delayed
    expect(performance.now() - started).toBeGreaterThanOrEqual(295)
    expect(order).toEqual(['set', 'get'])
    expect(proxy.stats().delayedReplies).toBe(1)
  })

  it('cut() ends every connection; refuse() keeps new ones out until allow() or its time', async () => {
    const client = await through(noRetry)
    await client.ping()
    proxy.refuse()
    expect(proxy.cut()).toBe(1)
    await expect(respCommand(proxy.host, proxy.port, ['PING'], 2_000)).rejects.toThrow()
    expect(proxy.stats().refused).toBeGreaterThanOrEqual(1)
    proxy.allow()
    await waitFor('the client to reconnect', async () => (await client.ping()) === 'PONG', 10_000)
    proxy.refuse(200)
    await waitFor(
      'the refusal to end',
      async () => (await respCommand(proxy.host, proxy.port, ['PING'], 2_000)) === 'PONG',
      10_000,
    )
  })

  it('randomFaults: the same seed gives the same faults; a bad probability is a RangeError', () => {
    const command = (i: number): ProxiedCommand => ({
      name: 'INCR',
      args: [`k${i}`],
      connection: 1,
    })
    const draw = (seed: number) => {
      const policy = randomFaults({ seed, dropReply: 0.2, dropCommand: 0.1, delay: 0.2 })
      return Array.from({ length: 200 }, (_, i) => policy(command(i)))
    }
    expect(draw(5)).toEqual(draw(5))
    expect(draw(5)).not.toEqual(draw(6))
    const kinds = new Set(draw(5).map((fault) => (typeof fault === 'object' ? 'delay' : fault)))
    expect(kinds).toEqual(new Set(['pass', 'drop-reply', 'drop-command', 'delay']))
    const onlySet = randomFaults({ seed: 1, dropReply: 1, match: (c) => c.name === 'SET' })
    expect(onlySet(command(0))).toBe('pass')
    expect(() => randomFaults({ seed: 1, dropReply: 0.7, dropCommand: 0.7 })).toThrow(RangeError)
    expect(() => randomFaults({ seed: 1, delay: -1 })).toThrow(RangeError)
  })

  it('under a random policy, what Redis ran is exactly what was acked plus the dropped replies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const client = await through(noRetry)
        const key = `acct:${seed}`
        proxy.policy = randomFaults({
          seed,
          dropReply: 0.1,
          dropCommand: 0.1,
          delay: 0.1,
          maxDelayMs: 5,
          match: isIncr,
        })
        let acked = 0
        for (let i = 0; i < 60; i++) {
          // One command in flight at a time: each cut loses exactly one command or reply.
          const ok = await client.incr(key).then(
            () => true,
            () => false,
          )
          if (ok) acked++
          else await waitFor('reconnect', async () => client.status === 'ready', 10_000)
        }
        const { droppedReplies, droppedCommands } = proxy.stats()
        // A command sent while ioredis was still closing never reached the proxy: not counted.
        expect(acked + droppedReplies + droppedCommands).toBeLessThanOrEqual(60)
        expect(Number(await direct('GET', key))).toBe(acked + droppedReplies)
        client.disconnect()
        await proxy.close()
      }),
      { numRuns: 4 },
    )
  }, 60_000)
})
