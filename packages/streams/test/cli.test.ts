/**
 * The CLI end to end, through a child process, against a private redis-server and a private
 * kinesalite (the Kinesis API).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  freePort,
  type KinesaliteServer,
  type RedisServer,
  startKinesalite,
  startRedis,
} from '@phonon/testkit'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { getStream, KinesisBackend, parseConfig, shardOf } from '../src/index.js'

const CLI = new URL('../src/cli.ts', import.meta.url).pathname
let server: RedisServer
let kinesalite: KinesaliteServer
let dir: string
let config: string
let kinesisConfig: string

beforeAll(async () => {
  ;[server, kinesalite] = await Promise.all([startRedis(), startKinesalite()])
  dir = mkdtempSync(join(tmpdir(), 'streams-cli-'))
  config = join(dir, 'streams.yaml')
  writeFileSync(config, 'test_stream:\n  name: cli-test\n  partition_key: user\n  shards: 2\n')
  kinesisConfig = join(dir, 'kinesis.yaml')
  writeFileSync(
    kinesisConfig,
    `clicks:\n  name: cli-clicks\n  partition_key: user\n  shards: 3\n  backend: kinesis\n  region: eu-west-1\n  endpoint: ${kinesalite.endpoint}\n` +
      'other:\n  name: cli-other\n  partition_key: user\n  shards: 2\n',
  )
})
afterAll(async () => {
  await Promise.all([server?.stop(), kinesalite?.stop()])
  rmSync(dir, { recursive: true, force: true })
})

/**
 * The SDK's credentials chain reads these (kinesalite takes any); the SDK's warning about this
 * Node version's support ending (a process warning on stderr) is the SDK's to give, not the CLI's.
 */
const AWS = {
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
}

const readText = (path: string) =>
  import('node:fs/promises').then((fs) => fs.readFile(path, 'utf8'))

/** The arguments of `command` on test_stream with the Kinesis backend at `endpoint`. */
const kinesisAt = (endpoint: string, command: 'put' | 'get') => [
  command,
  '-s',
  'test_stream',
  '-b',
  'kinesis',
  '--region',
  'eu-west-1',
  '--endpoint',
  endpoint,
]

/** Runs the CLI; resolves with its exit code and output once it exits. */
function cli(args: string[], input = '', env: Record<string, string> = {}) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@phonon/source', CLI, ...args],
    { env: { ...process.env, REDIS_URL: server.url, STREAMS_CONFIG: config, ...env } },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  child.stdin.end(input)
  return {
    child,
    stdout: () => stdout,
    done: new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.once('exit', (code) => resolve({ code, stdout, stderr })),
    ),
  }
}

describe('phonon-streams', { timeout: 60_000 }, () => {
  test('put from stdin, get --from all prints shard and sequence', async () => {
    const put = await cli(['put', '-s', 'test_stream'], 'hi\n{"user":"u1","n":1}\n').done
    expect(put.stderr).toBe('')
    expect(put.code).toBe(0)
    const lines = put.stdout.trim().split('\n')
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).toMatch(/^[01] \d+-\d+$/)
    const get = await cli(['get', '-s', 'test_stream', '--from', 'all', '--count', '2']).done
    expect(get.code).toBe(0)
    const printed = get.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(2).join(' '))
    expect(printed.sort()).toEqual(['{"user":"hi","data":"hi"}', '{"user":"u1","n":1}'].sort())
  })

  test('get from latest by default prints what is put after it started', async () => {
    const get = cli(['get', '-s', 'test_stream', '--count', '1'])
    // It has pinned latest once it printed nothing and is waiting; put until it sees one.
    let put = 0
    while (get.stdout() === '' && put < 50) {
      await cli(['put', '-s', 'test_stream'], `{"user":"late${put++}"}\n`).done
    }
    const { code, stdout } = await get.done
    expect(code).toBe(0)
    expect(stdout).toMatch(/^shardId-00000000000[01] \d+-\d+ \{"user":"late\d+"\}\n$/)
  })

  test('get --from <sequence> prints what comes after it; --from latest is the default', async () => {
    const lines = ['{"user":"s1","n":1}', '{"user":"s1","n":2}', '{"user":"s1","n":3}']
    const put = await cli(['put', '-s', 'test_stream'], `${lines.join('\n')}\n`).done
    expect(put.code).toBe(0)
    const [shard, first] = (put.stdout.split('\n')[0] as string).split(' ')
    expect(Number(shard)).toBe(shardOf('s1', 2))
    const get = await cli([
      'get',
      '-s',
      'test_stream',
      '--shards',
      String(shard),
      '--from',
      String(first),
      '--count',
      '2',
    ]).done
    expect(get.code).toBe(0)
    expect(
      get.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ').slice(2).join(' ')),
    ).toEqual(lines.slice(1))
    const latest = cli(['get', '-s', 'test_stream', '--from', 'latest', '--count', '1'])
    let n = 0
    while (latest.stdout() === '' && n < 50) {
      await cli(['put', '-s', 'test_stream'], `{"user":"after${n++}"}\n`).done
    }
    expect((await latest.done).stdout).toMatch(/ \{"user":"after\d+"\}\n$/)
  })

  test('--backend memory: put routes as Kinesis does, in this process only', async () => {
    const users = ['a', 'b', 'c', 'd', 'e', 'f']
    const put = await cli(
      ['put', '-s', 'test_stream', '--backend', 'memory'],
      users.map((u) => JSON.stringify({ user: u })).join('\n'),
      { REDIS_URL: 'redis://127.0.0.1:1' }, // never used
    ).done
    expect(put.stderr).toBe('')
    expect(put.code).toBe(0)
    expect(
      put.stdout
        .trim()
        .split('\n')
        .map((l) => Number(l.split(' ')[0])),
    ).toEqual(users.map((u) => shardOf(u, 2)))
  })

  test('--backend kinesis: put and get against kinesalite, endpoint and region from the config or flags', async () => {
    // Kinesis streams are made by their owners, not by the CLI.
    const setup = new KinesisBackend({
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      createStreams: true,
    })
    const created = getStream<{ user: string }>(
      'clicks',
      parseConfig(await readText(kinesisConfig)),
      setup,
    )
    await created.put({ user: 'setup' })
    await setup.close()

    const env = { ...AWS, STREAMS_CONFIG: kinesisConfig }
    const users = ['k1', 'k2', 'k3', 'k4']
    const put = await cli(
      ['put', '-s', 'clicks'],
      users.map((u) => JSON.stringify({ user: u })).join('\n'),
      env,
    ).done
    expect(put.stderr).toBe('')
    expect(put.code).toBe(0)
    const placed = put.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
    expect(placed.map(([shard]) => Number(shard))).toEqual(users.map((u) => shardOf(u, 3)))
    for (const [, sequence] of placed) expect(sequence).toMatch(/^\d{20,}$/)

    const get = await cli(['get', '-s', 'clicks', '--from', 'all', '--count', '5'], '', env).done
    expect(get.stderr).toBe('')
    expect(get.code).toBe(0)
    const printed = get.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(2).join(' '))
    expect(printed.sort()).toEqual(['setup', ...users].map((u) => `{"user":"${u}"}`).sort())

    // The same through flags: a stream whose config names no Kinesis (backend, region,
    // endpoint from the command line), read after a sequence.
    const [shard, sequence] = placed[0] as [string, string]
    const after = await cli(
      [
        'get',
        '-s',
        'clicks',
        '--backend',
        'kinesis',
        '--region',
        'us-east-1',
        '--endpoint',
        kinesalite.endpoint,
        '--shards',
        shard,
        '--from',
        sequence,
        '--count',
        '1',
      ],
      '',
      env,
    )
    // Something after it in that shard: put one more record routed there.
    const more = users.find((u) => shardOf(u, 3) === Number(shard)) as string
    await cli(['put', '-s', 'clicks'], `{"user":"${more}","again":1}\n`, env).done
    const { code, stdout } = await after.done
    expect(code).toBe(0)
    expect(stdout.split(' ')[0]).toBe(`shardId-00000000000${shard}`)
  })

  test('usage errors: one line, exit 2, no stack trace', async () => {
    const cases = [
      ['get'],
      ['fetch', '-s', 'test_stream'],
      ['get', '-s', 'test_stream', '--from', 'yesterday'],
      ['get', '-s', 'nope'],
      ['get', '-s', 'test_stream', '--bogus'],
      ['get', '-s', 'test_stream', '--config', '/nonexistent/streams.yaml'],
      ['get', '-s', 'test_stream', '--backend', 'kafka'],
      ['get', '-s', 'test_stream', '--region', 'eu-west-1'],
      ['get', '-s', 'test_stream', '-b', 'kinesis', '--endpoint', 'not a url'],
      ['put', '-s', 'test_stream', '--from', 'all'],
      ['get', '-s', 'test_stream', '--count', '0'],
      ['get', '-s', 'test_stream', '--shards', '0,x'],
    ]
    const results = await Promise.all(cases.map((args) => cli(args).done))
    for (const [i, { code, stderr }] of results.entries()) {
      const args = cases[i] as string[]
      expect(code, args.join(' ')).toBe(2)
      expect(stderr, args.join(' ')).toMatch(/^phonon-streams: \S[^\n]*\n$/) // one line
    }
    for (const flag of ['--help', '-h']) {
      const help = await cli([flag]).done
      expect(help.code).toBe(0)
      expect(help.stdout).toMatch(/^usage: phonon-streams/)
      expect(help.stdout).toMatch(/--backend <kind> +redis, kinesis or memory/)
      expect(help.stdout).toMatch(/--from <position> +get: latest \(default\), all/)
    }
  })

  test('unreachable Redis: one line, exit 1, within 5 s', async () => {
    const port = await freePort()
    const started = Date.now()
    const { code, stderr } = await cli([
      'get',
      '-s',
      'test_stream',
      '--redis',
      `redis://127.0.0.1:${port}`,
    ]).done
    expect(code).toBe(1)
    expect(stderr).toMatch(/^phonon-streams: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(Date.now() - started).toBeLessThan(15_000) // 5 s plus starting Node under tsx
  })

  test('--backend kinesis, an endpoint nobody listens on: one line, exit 1, at once', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`
    const started = Date.now()
    const { code, stderr } = await cli(
      kinesisAt(endpoint, 'put'),
      '', // nothing to put: the endpoint is checked before stdin is read
      AWS,
    ).done
    expect({ code, stderr }).toEqual({
      code: 1,
      stderr: `phonon-streams: Kinesis ListShards on stream cli-test failed: connect ECONNREFUSED ${endpoint.slice('http://'.length)}\n`,
    })
    expect(Date.now() - started).toBeLessThan(15_000) // 5 s plus starting Node under tsx
  })

  test('--backend kinesis, an endpoint that accepts connections but never answers: one line, exit 1, within 5 s', async () => {
    const { createServer } = await import('node:http')
    const silent = createServer(() => {}) // reads requests, never responds
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as import('node:net').AddressInfo
    const started = Date.now()
    const { code, stderr } = await cli(kinesisAt(`http://127.0.0.1:${port}`, 'get'), '', AWS).done
    silent.closeAllConnections()
    await new Promise((resolve) => silent.close(resolve))
    expect({ code, stderr }).toEqual({
      code: 1,
      stderr: `phonon-streams: Kinesis ListShards on stream cli-test failed: no answer within 5000 ms from http://127.0.0.1:${port}\n`,
    })
    expect(Date.now() - started).toBeLessThan(15_000)
  })

  test('a Redis that accepts connections but never answers: one line, exit 1, within 5 s', async () => {
    // A listener that never speaks RESP: the connect succeeds, PING never returns.
    const { createServer } = await import('node:net')
    const sockets = new Set<import('node:net').Socket>()
    const silent = createServer((socket) => {
      sockets.add(socket)
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as import('node:net').AddressInfo
    const started = Date.now()
    const { code, stderr } = await cli([
      'put',
      '-s',
      'test_stream',
      '--redis',
      `redis://127.0.0.1:${port}`,
    ]).done
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
    expect(code).toBe(1)
    expect(stderr).toMatch(
      /^phonon-streams: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+[^\n]*\n$/,
    )
    expect(Date.now() - started).toBeLessThan(15_000)
  })
})
