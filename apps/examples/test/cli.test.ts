import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import { ArgumentError } from '@phonon/core'
import { freePort } from '@phonon/testkit'
import { afterAll, describe, expect, it } from 'vitest'
import {
  type Command,
  checkRedis,
  type Flag,
  parseFlags,
  ServiceUnreachable,
  usage,
} from '../src/cli.js'

const command = {
  name: 'example:test',
  summary: 'A command for the tests.',
  flags: {
    events: { type: 'integer', default: 100, min: 1, max: 1_000, help: 'events' },
    skew: { type: 'number', default: 1.1, min: 0, help: 'Zipf exponent' },
    seed: { type: 'integer', default: 42, help: 'seed' },
    json: { type: 'boolean', help: 'JSON out' },
  },
  env: { REDIS_URL: 'the Redis to use' },
} satisfies Command<Record<string, Flag>>

describe('parseFlags', () => {
  it('fills in defaults and reads each flag by its type', () => {
    expect(parseFlags(command, [])).toEqual({ events: 100, skew: 1.1, seed: 42, json: false })
    expect(parseFlags(command, ['--events', '1_000', '--skew=0', '--seed=-3', '--json'])).toEqual({
      events: 1000,
      skew: 0,
      seed: -3,
      json: true,
    })
    expect(parseFlags(command, ['-h'])).toBe('help')
  })

  it.each([
    [['--events', 'abc'], '--events must be an integer from 1 to 1,000, got "abc"'],
    [['--events=-5'], '--events must be an integer from 1 to 1,000, got "-5"'],
    [['--events', '0'], '--events must be an integer from 1 to 1,000, got "0"'],
    [['--events', '2.5'], '--events must be an integer from 1 to 1,000, got "2.5"'],
    [['--events', ''], '--events must be an integer from 1 to 1,000, got ""'],
    [['--skew', 'abc'], '--skew must be a number ≥ 0, got "abc"'],
    [['--skew', 'Infinity'], '--skew must be a number ≥ 0, got "Infinity"'],
    [['--seed', 'abc'], '--seed must be an integer, got "abc"'],
    [['--bogus'], 'unknown flag --bogus'],
    [['--events'], '--events needs a value (one that starts with "-" as --events=-1)'],
    [['--seed', '-3'], '--seed needs a value (one that starts with "-" as --seed=-1)'],
    [['stray'], 'unexpected argument "stray"'],
  ])('rejects %j with an ArgumentError', (argv, message) => {
    expect(() => parseFlags(command, argv)).toThrow(new ArgumentError(message))
  })

  it('prints every flag with its range and default, and the environment', () => {
    const text = usage(command)
    expect(text).toContain('usage: example:test [flags]')
    expect(text).toContain('--events <n>  events (an integer from 1 to 1,000; default 100)')
    expect(text).toContain('--json        JSON out')
    expect(text).toContain('REDIS_URL  the Redis to use')
  })
})

describe('checkRedis', () => {
  const servers: Server[] = []
  afterAll(() => {
    for (const server of servers) server.close()
  })

  it('rejects a URL that is not redis:// with an ArgumentError', async () => {
    await expect(checkRedis('garbage')).rejects.toThrow(
      new ArgumentError('REDIS_URL must be a redis:// or rediss:// URL, got "garbage"'),
    )
  })

  it('fails with ServiceUnreachable when nothing listens on the port', async () => {
    const port = await freePort()
    const error = await checkRedis(`redis://127.0.0.1:${port}`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ServiceUnreachable)
    expect((error as Error).message).toMatch(
      new RegExp(`^Redis at redis://127.0.0.1:${port} does not answer: .*ECONNREFUSED`),
    )
  })

  it('fails with ServiceUnreachable at its deadline when the server never answers', async () => {
    const silent = createServer(() => {}) // accepts connections, never replies
    servers.push(silent)
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const { port } = silent.address() as { port: number }
    await expect(
      checkRedis(`redis://user:secret@127.0.0.1:${port}`, 'REDIS_URL', 300),
    ).rejects.toThrow(ServiceUnreachable)
    await expect(
      checkRedis(`redis://user:secret@127.0.0.1:${port}`, 'REDIS_URL', 300),
    ).rejects.not.toThrow(/secret/)
  })
})

/**
 * Runs an example script (`src/<script>.ts`, or a path ending in `.ts` under apps/examples) as a
 * user would; its exit status, stdout and stderr.
 */
function runScript(script: string, args: string[], env: Record<string, string> = {}) {
  const cwd = fileURLToPath(new URL('..', import.meta.url))
  const file = script.endsWith('.ts') ? script : `src/${script}.ts`
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--conditions=@phonon/source', file, ...args],
      { cwd, timeout: 120_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    )
  })
}

describe.concurrent('runCli keeps the exit status a handler chose (a child process each)', () => {
  it.each([
    ['true', 0, ''],
    ['false', 1, ''],
    ['code:3:true', 3, ''],
    ['code:3:false', 3, ''],
    ['code:0:false', 1, ''],
    ['exit:4', 4, ''],
    ['argument', 2, 'example:exit-status: ArgumentError: --thing must be a thing (see --help)\n'],
    [
      'code:3:argument',
      2,
      'example:exit-status: ArgumentError: --thing must be a thing (see --help)\n',
    ],
    [
      'service',
      1,
      'example:exit-status: ServiceUnreachable: Redis at redis://127.0.0.1:1 does not answer\n',
    ],
  ])(
    'END=%s: exit status %i',
    async (end, code, stderr) => {
      const result = await runScript('test/fixtures/exit-status.ts', [], { END: end })
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code, stderr })
    },
    60_000,
  )

  it('END=bug: a stack trace, exit status 1', async () => {
    const { code, stderr } = await runScript('test/fixtures/exit-status.ts', [], { END: 'bug' })
    expect(code).toBe(1)
    expect(stderr).toMatch(
      /^example:exit-status: unexpected error \(a bug\):\nTypeError: a bug\n {4}at /,
    )
  }, 60_000)

  it('a bad flag: one line, exit status 2', async () => {
    const { code, stdout, stderr } = await runScript('test/fixtures/exit-status.ts', ['--nope'])
    expect({ code, stdout, stderr }).toEqual({
      code: 2,
      stdout: '',
      stderr: 'example:exit-status: ArgumentError: unknown flag --nope (see --help)\n',
    })
  }, 60_000)
})

// Child processes (a few seconds of CPU each, to load the job): the cases, run two at a
// time. Every other flag error goes through the same parseFlags, tested above in process.
describe.concurrent('the example scripts refuse bad input: one line, exit status 2', () => {
  it.each([
    [
      'django-style',
      ['--events', 'abc'],
      '--events must be an integer from 1 to 10,000,000, got "abc"',
    ],
  ])(
    '%s %j',
    async (script, args, message) => {
      const { code, stdout, stderr } = await runScript(script, args)
      expect(code).toBe(2)
      expect(stdout).toBe('')
      expect(stderr).toBe(`example:${script}: ArgumentError: ${message} (see --help)\n`)
    },
    120_000,
  )

  it('prints --help with exit status 0', async () => {
    const { code, stdout, stderr } = await runScript('session-aggregation', ['--help'])
    expect(code).toBe(0)
    expect(stderr).toBe('')
    expect(stdout).toMatch(/^usage: example:session-aggregation \[flags\]\n/)
    expect(stdout).toContain('--idle-ms <n>')
  }, 120_000)
})

describe.concurrent('the main job (pnpm start) refuses bad input', () => {
  it.each([
    [['--events', 'abc'], '--events must be an integer from 1 to 10,000,000, got "abc"'],
    [['--events=-5'], '--events must be an integer from 1 to 10,000,000, got "-5"'],
    [['--workers', '0'], '--workers must be an integer from 1 to 64, got "0"'],
    [['--workers', 'abc'], '--workers must be an integer from 1 to 64, got "abc"'],
    [['--seed', 'abc'], '--seed must be an integer, got "abc"'],
    [['--widgets', '0'], '--widgets must be an integer from 1 to 10,000,000, got "0"'],
    [['--skew', 'abc'], '--skew must be a number from 0.01 to 10, got "abc"'],
    [['--capacity', '0'], '--capacity must be an integer from 1 to 10,000,000, got "0"'],
    [['--bogus'], 'unknown flag --bogus'],
  ])(
    '%j: one line, exit status 2',
    async (args, message) => {
      const { code, stdout, stderr } = await runScript('widgets', args)
      expect({ code, stdout, stderr }).toEqual({
        code: 2,
        stdout: '',
        stderr: `pnpm start: ArgumentError: ${message} (see --help)\n`,
      })
    },
    120_000,
  )

  it('REDIS_URL=garbage: one line, exit status 2', async () => {
    const { code, stderr } = await runScript('widgets', [], { REDIS_URL: 'garbage' })
    expect({ code, stderr }).toEqual({
      code: 2,
      stderr:
        'pnpm start: ArgumentError: REDIS_URL must be a redis:// or rediss:// URL, got "garbage" (see --help)\n',
    })
  }, 120_000)

  it('REDIS_URL of a port nothing listens on: one line, exit status 1', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`
    const { code, stderr } = await runScript('widgets', [], { REDIS_URL: url })
    expect(code).toBe(1)
    expect(stderr).toMatch(
      new RegExp(
        `^pnpm start: ServiceUnreachable: Redis at ${url} does not answer: .*ECONNREFUSED.*\n$`,
      ),
    )
  }, 120_000)

  it('DATABASE_URL of a port nothing listens on: one line, exit status 1', async () => {
    const port = await freePort()
    const { code, stderr } = await runScript('widgets', ['--events', '100'], {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test`,
    })
    expect({ code, stderr }).toEqual({
      code: 1,
      stderr: `pnpm start: SinkError: cannot reach PostgreSQL at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    })
  }, 120_000)

  it('--help lists every flag and the environment, exit status 0', async () => {
    const { code, stdout } = await runScript('widgets', ['--help'])
    expect(code).toBe(0)
    for (const flag of ['--events', '--widgets', '--skew', '--workers', '--capacity', '--seed'])
      expect(stdout).toContain(`${flag} <`)
    expect(stdout).toContain('REDIS_URL')
  }, 120_000)
})
