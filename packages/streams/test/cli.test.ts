/** The CLI end to end, through a child process, against a private redis-server. */
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, type RedisServer, startRedis } from '@phonon/testkit'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

const CLI = new URL('../src/cli.ts', import.meta.url).pathname
let server: RedisServer
let config: string

beforeAll(async () => {
  server = await startRedis()
  config = join(mkdtempSync(join(tmpdir(), 'streams-cli-')), 'streams.yaml')
  writeFileSync(config, 'test_stream:\n  name: cli-test\n  partition_key: user\n  shards: 2\n')
})
afterAll(async () => {
  await server?.stop()
})

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

  test('usage errors: one line, exit 2, no stack trace', async () => {
    const cases = [
      ['get'],
      ['fetch', '-s', 'test_stream'],
      ['get', '-s', 'test_stream', '--from', 'yesterday'],
      ['get', '-s', 'nope'],
      ['get', '-s', 'test_stream', '--bogus'],
      ['get', '-s', 'test_stream', '--config', '/nonexistent/streams.yaml'],
    ]
    const results = await Promise.all(cases.map((args) => cli(args).done))
    for (const [i, { code, stderr }] of results.entries()) {
      const args = cases[i] as string[]
      expect(code, args.join(' ')).toBe(2)
      expect(stderr.split('\n')[0], args.join(' ')).toMatch(/^phonon-streams: \S/)
      expect(stderr).not.toMatch(/\n\s+at /)
    }
    const help = await cli(['--help']).done
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^usage: phonon-streams/)
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
})
