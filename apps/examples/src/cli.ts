/**
 * The command line of every example, one way: flags declared once (type, default, range, help),
 * parsed by `node:util` parseArgs, checked, `--help` printed from the declarations. Exit status:
 * 0 done, 1 the run failed (a check that differs, an unreachable service), 2 a user's mistake
 * (a flag or an environment variable). A user's mistake or an unreachable service is one line on
 * stderr; only a bug prints a stack trace.
 */
import { parseArgs } from 'node:util'
import { ArgumentError, PhononError } from '@phonon/core'
import { cliArgs } from '@phonon/testkit'
import { Redis } from 'ioredis'

/** A flag: its type, default and allowed range, and one line of help. */
export type Flag =
  | {
      readonly type: 'integer' | 'number'
      readonly default: number
      /** Smallest allowed value (inclusive). */
      readonly min?: number
      /** Largest allowed value (inclusive). */
      readonly max?: number
      readonly help: string
    }
  | { readonly type: 'boolean'; readonly help: string }

/** `--events`: how many events a run generates (1 to 10 million). */
const eventsFlag = (fallback: number, help = 'events produced') =>
  ({ type: 'integer', default: fallback, min: 1, max: 10_000_000, help }) as const

/** A count of things, at least 1 (`--widgets`, `--capacity`, …). */
const countFlag = (fallback: number, help: string, max = 10_000_000) =>
  ({ type: 'integer', default: fallback, min: 1, max, help }) as const

/** `--seed`: the generator's seed, so a run can be repeated. */
const seedFlag = { type: 'integer', default: 42, help: "the generator's seed" } as const

/** The flags the examples share, declared once: `flag.events(20_000)`, `flag.count(4, 'workers', 64)`. */
export const flag = { events: eventsFlag, count: countFlag, seed: seedFlag }

/** The parsed values of a command's flags, typed from their declarations. */
export type FlagValues<F extends Record<string, Flag>> = {
  -readonly [K in keyof F]: F[K]['type'] extends 'boolean' ? boolean : number
}

/** A command: how it is run, what it does, its flags and the environment variables it reads. */
export interface Command<F extends Record<string, Flag>> {
  /** How a user runs it, e.g. `pnpm start`; the prefix of every error line. */
  readonly name: string
  /** One or two lines on what it does. */
  readonly summary: string
  readonly flags: F
  /** Environment variables it reads, with a line of help each. */
  readonly env?: Readonly<Record<string, string>>
}

/** A service the command needs (Redis, a database) did not answer in time. */
export class ServiceUnreachable extends PhononError {
  readonly _tag = 'ServiceUnreachable' as const
}

/** A part of a running job failed (a worker exited, the run stopped moving): one line, exit 1. */
export class JobFailed extends PhononError {
  readonly _tag = 'JobFailed' as const
}

/**
 * Parses and checks `argv` against the command's flags.
 * @returns the values (defaults filled in), or `'help'` when `--help` or `-h` was given.
 * @throws ArgumentError for an unknown flag, a missing value, a positional argument, a value of
 *   the wrong type or out of range.
 */
export function parseFlags<F extends Record<string, Flag>>(
  command: Command<F>,
  argv: readonly string[] = cliArgs(),
): FlagValues<F> | 'help' {
  const entries = Object.entries(command.flags)
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(
          entries.map(([name, flag]) => [
            name,
            { type: flag.type === 'boolean' ? 'boolean' : 'string' },
          ]),
        ),
      },
    }).values as Record<string, string | boolean | undefined>
  } catch (error) {
    throw new ArgumentError(parseArgsMessage(error as Error & { code?: string }), { cause: error })
  }
  if (values.help) return 'help'
  const parsed: Record<string, number | boolean> = {}
  for (const [name, flag] of entries) {
    const value = values[name]
    parsed[name] =
      flag.type === 'boolean'
        ? value === true
        : value === undefined
          ? flag.default
          : toNumber(name, flag, String(value))
  }
  return parsed as FlagValues<F>
}

/** parseArgs' errors, said for this audience (its own messages run on with advice for others). */
function parseArgsMessage(error: Error & { code?: string }): string {
  const quoted = /'([^']*)'/.exec(error.message)?.[1] ?? ''
  const flag = quoted.split(/[ =]/)[0]
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag}`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `${flag} needs a value (one that starts with "-" as ${flag}=-1)`
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted)}`
    default:
      return error.message.split('\n')[0] ?? 'bad arguments'
  }
}

function toNumber(name: string, flag: Extract<Flag, { default: number }>, text: string): number {
  const value = text.trim() === '' ? Number.NaN : Number(text.replaceAll('_', ''))
  const integer = flag.type === 'integer'
  if (
    !Number.isFinite(value) ||
    (integer && !Number.isSafeInteger(value)) ||
    outOfRange(flag, value)
  )
    throw new ArgumentError(`--${name} must be ${describe(flag)}, got ${JSON.stringify(text)}`)
  return value
}

const outOfRange = (flag: Extract<Flag, { default: number }>, value: number) =>
  (flag.min !== undefined && value < flag.min) || (flag.max !== undefined && value > flag.max)

/** "an integer from 1 to 64", "a number ≥ 0", "an integer". */
function describe(flag: Extract<Flag, { default: number }>): string {
  const kind = flag.type === 'integer' ? 'an integer' : 'a number'
  const n = (x: number) => x.toLocaleString('en-US')
  if (flag.min !== undefined && flag.max !== undefined)
    return `${kind} from ${n(flag.min)} to ${n(flag.max)}`
  if (flag.min !== undefined) return `${kind} ≥ ${n(flag.min)}`
  if (flag.max !== undefined) return `${kind} ≤ ${n(flag.max)}`
  return kind
}

/** The `--help` text: usage, summary, one line per flag with its range and default. */
export function usage<F extends Record<string, Flag>>(command: Command<F>): string {
  const rows: Array<[string, string]> = Object.entries(command.flags).map(([name, flag]) => [
    flag.type === 'boolean' ? `--${name}` : `--${name} <${flag.type === 'integer' ? 'n' : 'x'}>`,
    flag.type === 'boolean'
      ? flag.help
      : `${flag.help} (${describe(flag)}; default ${flag.default.toLocaleString('en-US')})`,
  ])
  rows.push(['--help, -h', 'print this help'])
  const width = Math.max(...rows.map(([left]) => left.length))
  const env = Object.entries(command.env ?? {})
  const envWidth = Math.max(0, ...env.map(([name]) => name.length))
  return [
    `usage: ${command.name} [flags]`,
    '',
    command.summary,
    '',
    'flags:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
    ...(env.length === 0
      ? []
      : ['', 'environment:', ...env.map(([name, help]) => `  ${name.padEnd(envWidth)}  ${help}`)]),
    '',
  ].join('\n')
}

/**
 * Runs a command: parses its flags (printing `--help`), runs `main`, and sets the exit status:
 * a status `main` set itself (`process.exitCode`, or `process.exit(n)`) is kept; otherwise 0 when
 * `main` resolves true and 1 when false. A user's mistake (`ArgumentError`) is one line on stderr
 * and exit status 2; any other phonon error (an unreachable service, a failed shard) one line and
 * 1; anything else is a bug: its stack trace and 1. After an error the process exits at once,
 * whatever connections or workers are left.
 */
export async function runCli<F extends Record<string, Flag>>(
  command: Command<F>,
  main: (flags: FlagValues<F>) => Promise<boolean>,
  argv: readonly string[] = cliArgs(),
): Promise<void> {
  try {
    const flags = parseFlags(command, argv)
    if (flags === 'help') process.stdout.write(usage(command))
    else if (!(await main(flags)) && !failed(process.exitCode)) process.exitCode = 1
  } catch (error) {
    process.exit(report(command.name, error))
  }
}

/** Whether an exit status (as `process.exitCode` holds it) says the run failed. */
const failed = (code: number | string | null | undefined) =>
  code !== undefined && code !== null && Number(code) !== 0

/** Writes an error for a user: one line, or a stack trace for a bug; returns the exit status. */
function report(name: string, error: unknown): number {
  if (error instanceof PhononError) {
    const hint = error instanceof ArgumentError ? ' (see --help)' : ''
    process.stderr.write(`${name}: ${error._tag}: ${error.message}${hint}\n`)
    return error instanceof ArgumentError ? 2 : 1
  }
  process.stderr.write(`${name}: unexpected error (a bug):\n${(error as Error)?.stack ?? error}\n`)
  return 1
}

/** A URL without its credentials, for messages. */
export const redact = (url: string): string => url.replace(/\/\/[^@/]*@/, '//')

/**
 * Checks a Redis URL (from `source`, e.g. `REDIS_URL`): well-formed, and a server answers PING
 * within `timeoutMs`.
 * @throws ArgumentError when it is not a `redis://` or `rediss://` URL.
 * @throws ServiceUnreachable when no server answers in time (the cause is the client's error).
 */
export async function checkRedis(url: string, source = 'REDIS_URL', timeoutMs = 5_000) {
  if (!/^rediss?:\/\/[^\s]+$/.test(url) || !URL.canParse(url))
    throw new ArgumentError(
      `${source} must be a redis:// or rediss:// URL, got ${JSON.stringify(redact(url))}`,
    )
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null, // one attempt: a run should fail fast, not retry forever
    enableOfflineQueue: false,
  })
  let lastError: unknown
  client.on('error', (error) => {
    lastError = error
  })
  try {
    await withDeadline(
      client.connect().then(() => client.ping()),
      timeoutMs,
      `Redis at ${redact(url)} did not answer within ${timeoutMs / 1000} s`,
    )
  } catch (error) {
    const cause = lastError ?? error
    throw new ServiceUnreachable(
      `Redis at ${redact(url)} does not answer: ${(cause as Error).message}`,
      { cause },
    )
  } finally {
    client.disconnect()
  }
}

/**
 * `promise`, or a `ServiceUnreachable` with `message` once `ms` have passed (the timer does not
 * keep the process alive). For connecting to a service that may never answer.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ServiceUnreachable(message)), ms)
    timer.unref()
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/**
 * Progress for a long run: redrawn in place on a terminal, and when stderr is not one (piped, CI)
 * one plain line at most every `everyMs`, so a log shows the run is alive.
 */
export function progressLines(everyMs = 2_000, stream: NodeJS.WriteStream = process.stderr) {
  let last = Number.NEGATIVE_INFINITY
  let drawn = false
  return {
    /** Shows `text` (one line), at once on a terminal, else if `everyMs` have passed. */
    update(text: string): void {
      if (stream.isTTY) {
        stream.write(`\r\x1b[2K${text}`)
        drawn = true
      } else if (performance.now() - last >= everyMs) {
        stream.write(`${text}\n`)
        last = performance.now()
      }
    },
    /** Ends the progress line (on a terminal), so what follows starts on a line of its own. */
    done(): void {
      if (drawn) stream.write('\n')
      drawn = false
    },
  }
}
