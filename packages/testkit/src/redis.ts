import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type RespReply, respCommand } from './resp.js'

const run = promisify(execFile)

/** Every server is bound here, never to a public interface. */
const HOST = '127.0.0.1'
/** How long a server may take to answer PING after its process starts. */
const READY_TIMEOUT_MS = 10_000
/** How long `stop()` waits after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000
/** How long a Cluster may take to be ok with every replica in sync. */
const CLUSTER_READY_TIMEOUT_MS = 30_000
/** Start attempts on fresh ports when a port was taken between asking the OS and binding it. */
const PORT_ATTEMPTS = 5
/** Server options owned by the harness; `args` may not set them. */
const OWNED_OPTIONS = ['--port', '--bind', '--dir', '--logfile', '--daemonize', '--cluster-port']

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /**
   * Extra `redis-server` arguments, appended after the defaults (`--save '' --appendonly no
   * --repl-diskless-sync-delay 0`) so they may override them, e.g. `['--maxmemory', '10mb']`.
   * The harness owns `--port`, `--bind`, `--dir`, `--logfile`, `--daemonize` and
   * `--cluster-port`. With `--cluster-enabled yes` the Cluster bus gets its own free port too.
   */
  readonly args?: readonly string[]
}

/** A private `redis-server` process started for tests by {@link startRedis}. */
export interface RedisServer {
  /** Always `127.0.0.1`. */
  readonly host: string
  /** A free port the OS handed out; it stays the same across {@link RedisServer.restart}. */
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  /** Its temporary working directory (log, `nodes.conf`), removed by {@link RedisServer.stop}. */
  readonly dir: string
  /** The pid of the current process (a new one after {@link RedisServer.restart}). */
  readonly pid: number
  /** Whether the current process is still running (false after `kill`, `stop` or a crash). */
  readonly running: boolean
  /**
   * Sends one command over a fresh connection (RESP, no client library) and decodes its reply.
   *
   * @throws Error with the server's message on an error reply, or when it cannot be reached.
   */
  command(...args: string[]): Promise<RespReply>
  /**
   * Runs `redis-cli -h 127.0.0.1 -p <port> ...args` and returns its trimmed output.
   *
   * @throws Error when `redis-cli` fails (e.g. the server is down).
   */
  cli(...args: string[]): Promise<string>
  /** Sends a signal (SIGKILL by default, for failure tests) without waiting; no-op if down. */
  kill(signal?: NodeJS.Signals): void
  /**
   * Stops the process if it runs (SIGTERM, SIGKILL after 5 s) and starts a new one on the same
   * ports in the same directory, then waits for PING. Nothing is persisted by default, so the data
   * is gone; a Cluster node keeps its identity through `nodes.conf`.
   *
   * @throws Error after `stop()`, or when the new process does not come up.
   */
  restart(): Promise<void>
  /** Stops the process (SIGTERM, SIGKILL after 5 s), waits for its exit, removes its directory. */
  stop(): Promise<void>
  /** {@link RedisServer.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** A started process and how to wait for its end. */
interface Launched {
  readonly child: ChildProcess
  readonly exited: Promise<void>
}

/** What the exit hook needs of a server that has not been stopped yet. */
interface Tracked {
  current: ChildProcess | undefined
  readonly dir: string
}

/** Every server started and not yet stopped: killed, and its directory removed, on exit. */
const registry = new Set<Tracked>()
/** Ports held by this process's servers, so two concurrent starts never pick the same one. */
const claimedPorts = new Set<number>()
let exitHookInstalled = false

function isRunning(child: ChildProcess | undefined): boolean {
  return child?.pid !== undefined && child.exitCode === null && child.signalCode === null
}

/** The last resort: a test that never called `stop()` must not leave a server behind. */
function killAll(): void {
  for (const tracked of registry) {
    if (isRunning(tracked.current)) tracked.current?.kill('SIGKILL')
    try {
      rmSync(tracked.dir, { recursive: true, force: true, maxRetries: 2 })
    } catch {
      // Best effort: the process is exiting.
    }
  }
  registry.clear()
}

/** Signals that end a process by default; vitest ends its `forks` workers with SIGTERM. */
const ENDING_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP']

/**
 * A signal ends the process without an `exit` event, so: kill the servers, then let the signal do
 * what it would have done without this listener (unless someone else listens for it).
 */
function onEndingSignal(signal: NodeJS.Signals): void {
  killAll()
  for (const ending of ENDING_SIGNALS) process.off(ending, onEndingSignal)
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function track(tracked: Tracked): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', killAll)
    for (const signal of ENDING_SIGNALS) process.on(signal, onEndingSignal)
  }
  registry.add(tracked)
}

/**
 * A free TCP port on 127.0.0.1, as the OS hands them out (listen on port 0, read, close). Another
 * process may take it before it is bound again; {@link startRedis} retries on fresh ports then.
 *
 * @returns the port number.
 * @throws Error when no socket can be opened.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('the OS gave no port')),
      )
    })
  })
}

/** A free port that no server of this process holds, marked as held. */
async function claimPort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    if (!claimedPorts.has(port)) {
      claimedPorts.add(port)
      return port
    }
    if (attempt >= 20) throw new Error('the OS keeps handing out ports already in use here')
  }
}

/**
 * Polls `check` every 50 ms until it resolves to true; a rejection counts as "not yet".
 *
 * @param what - what is awaited, for the timeout message.
 * @param check - the condition.
 * @param timeoutMs - the deadline.
 * @throws Error `timed out after … waiting for <what>` (with the last rejection as `cause`).
 * @example
 * ```ts
 * await waitFor('the key', async () => (await server.cli('exists', 'k')) === '1', 5_000)
 * ```
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      if (await check()) return
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`, {
        cause: lastError,
      })
    }
    await delay(50)
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The port was taken between asking the OS for it and binding it: worth another attempt. */
class PortInUse extends Error {}

async function logTail(dir: string): Promise<string> {
  const log = await readFile(join(dir, 'redis.log'), 'utf8').catch(() => '')
  return log.split('\n').slice(-15).join('\n').trim()
}

/** Ends a process: SIGTERM, SIGKILL after `graceMs`, resolved once it has exited. */
async function terminate({ child, exited }: Launched, graceMs: number): Promise<void> {
  if (isRunning(child)) {
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
  await exited
}

/**
 * Spawns `redis-server` and waits until it answers PING as itself (its `process_id`), failing
 * fast when it exits first.
 */
async function launch(argv: readonly string[], tracked: Tracked, port: number): Promise<Launched> {
  const { dir } = tracked
  // In a process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group) reaches
  // the program using the server, which stops it when it is done, not the server under its feet.
  const child = spawn('redis-server', argv, {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  })
  tracked.current = child
  // Errors in the arguments are printed to stderr, before the log file is opened.
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 4_096) stderr += chunk
  })
  let spawnError: Error | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.on('error', (error) => {
      spawnError = error
      if (child.pid === undefined) resolve()
    })
  })
  const launched = { child, exited }
  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (!isRunning(child)) {
      await exited
      if (spawnError && child.pid === undefined)
        throw new Error(`redis-server could not be started: ${spawnError.message}`, {
          cause: spawnError,
        })
      const tail = `${stderr.trim()}\n${await logTail(dir)}`.trim()
      if (tail.includes('Address already in use')) throw new PortInUse(tail)
      throw new Error(
        `redis-server on port ${port} exited (${child.signalCode ?? `code ${child.exitCode}`}) before answering PING:\n${tail}`,
      )
    }
    // Whoever else holds the port may never answer: stop probing as soon as ours exits.
    const pong = await Promise.race([
      respCommand(HOST, port, ['PING'], 1_000).catch(() => undefined),
      exited.then(() => undefined),
    ])
    if (pong === 'PONG') {
      const info = await respCommand(HOST, port, ['INFO', 'server'], 1_000).catch(() => '')
      if (typeof info === 'string' && info.includes(`process_id:${child.pid}\r`)) return launched
      // Someone else answers on this port: ours will fail to bind and exit.
    }
    if (Date.now() > deadline) {
      await terminate(launched, 0)
      throw new Error(
        `redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${await logTail(dir)}`,
      )
    }
    await delay(20)
  }
}

function validateArgs(args: readonly string[]): void {
  for (const arg of args) {
    if (OWNED_OPTIONS.includes(arg.toLowerCase()))
      throw new Error(`args must not set ${arg}: the harness owns ${OWNED_OPTIONS.join(', ')}`)
  }
}

function clusterEnabled(args: readonly string[]): boolean {
  return args.some(
    (arg, i) => arg.toLowerCase() === '--cluster-enabled' && args[i + 1]?.toLowerCase() === 'yes',
  )
}

/**
 * Starts a private `redis-server` on a free port (asked of the OS; never the shared 6379 server),
 * bound to 127.0.0.1, in a fresh temporary directory with its log in `redis.log`, persisting
 * nothing, and waits until it answers PING (10 s deadline). If the port was taken meanwhile it
 * retries on another. Call `stop()` in a `finally` / `afterAll`; a server never stopped is killed
 * when the Node process exits.
 *
 * @param options - extra server arguments.
 * @returns the running server.
 * @throws Error when `args` sets an option the harness owns, when `redis-server` is missing, or
 * when it exits or does not answer in time (the message holds the end of its log).
 * @example
 * ```ts
 * const server = await startRedis()
 * try {
 *   await server.command('SET', 'k', 'v')
 * } finally {
 *   await server.stop()
 * }
 * ```
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const args = options.args ?? []
  validateArgs(args)
  const cluster = clusterEnabled(args)
  const dir = await mkdtemp(join(tmpdir(), 'phonon-redis-'))
  const tracked: Tracked = { current: undefined, dir }
  track(tracked)
  const argvFor = (port: number, busPort: number | undefined) => [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    dir,
    '--logfile',
    join(dir, 'redis.log'),
    '--daemonize',
    'no',
    ...(busPort === undefined ? [] : ['--cluster-port', String(busPort)]),
    '--save',
    '',
    '--appendonly',
    'no',
    '--repl-diskless-sync-delay',
    '0',
    ...args,
  ]
  let launched: Launched | undefined
  let port = 0
  let busPort: number | undefined
  try {
    for (let attempt = 1; launched === undefined; attempt++) {
      port = await claimPort()
      busPort = cluster ? await claimPort() : undefined
      try {
        launched = await launch(argvFor(port, busPort), tracked, port)
      } catch (error) {
        claimedPorts.delete(port)
        if (busPort !== undefined) claimedPorts.delete(busPort)
        if (!(error instanceof PortInUse) || attempt >= PORT_ATTEMPTS) throw error
        // A Cluster node wrote its nodes.conf for the lost port: start over in an empty directory.
        await rm(dir, { recursive: true, force: true })
        await mkdir(dir)
      }
    }
  } catch (error) {
    registry.delete(tracked)
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  let current: Launched = launched
  let stopping: Promise<void> | undefined
  let restarting: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      await restarting?.catch(() => undefined)
      await terminate(current, STOP_GRACE_MS)
      registry.delete(tracked)
      claimedPorts.delete(port)
      if (busPort !== undefined) claimedPorts.delete(busPort)
      await rm(dir, { recursive: true, force: true, maxRetries: 3 })
    })()
    return stopping
  }
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    dir,
    get pid() {
      return current.child.pid as number
    },
    get running() {
      return isRunning(current.child)
    },
    command: (...command) => respCommand(HOST, port, command),
    cli: async (...command) =>
      (
        await run('redis-cli', ['-h', HOST, '-p', String(port), ...command], {
          timeout: 10_000,
          maxBuffer: 64 * 1024 * 1024,
        })
      ).stdout.trim(),
    kill: (signal = 'SIGKILL') => {
      if (isRunning(current.child)) current.child.kill(signal)
    },
    restart: () => {
      if (stopping)
        return Promise.reject(new Error(`restart() of the server on port ${port} after stop()`))
      restarting = (async () => {
        await restarting?.catch(() => undefined)
        await terminate(current, STOP_GRACE_MS)
        current = await launch(argvFor(port, busPort), tracked, port)
      })()
      return restarting
    },
    stop,
    [Symbol.asyncDispose]: stop,
  }
}

/** Starts servers concurrently; if any fails, stops those that started and rethrows. */
async function startAll(count: number, options: StartRedisOptions): Promise<RedisServer[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, () => startRedis(options)))
  const servers = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const failure = results.find((result) => result.status === 'rejected')
  if (failure) {
    await Promise.allSettled(servers.map((server) => server.stop()))
    throw failure.reason
  }
  return servers
}

/** Several standalone servers started by {@link startRedisNodes}. */
export interface RedisNodes {
  readonly servers: readonly RedisServer[]
  /** Their `redis://` URLs, in the order of `servers`. */
  readonly urls: readonly string[]
  /** Stops every server. */
  stop(): Promise<void>
  /** {@link RedisNodes.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Starts `n` independent standalone servers (see {@link startRedis}), e.g. for consistent hashing.
 *
 * @param n - how many, a positive integer.
 * @returns the servers; if one fails to start, the others are stopped before the error is thrown.
 * @throws RangeError when `n` is not a positive integer; Error as {@link startRedis}.
 * @example
 * ```ts
 * const nodes = await startRedisNodes(3)
 * try {
 *   const shard = await connect({ nodes: [...nodes.urls] })
 * } finally {
 *   await nodes.stop()
 * }
 * ```
 */
export async function startRedisNodes(n: number): Promise<RedisNodes> {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`n must be a positive integer, got ${n}`)
  const servers = await startAll(n, {})
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
  }
  return { servers, urls: servers.map((server) => server.url), stop, [Symbol.asyncDispose]: stop }
}

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** How many primaries, at least 3 (what `redis-cli --cluster create` requires); default 3. */
  readonly primaries?: number
  /** How many replicas each primary gets, 0 or more; default 1. */
  readonly replicasPerPrimary?: number
  /** Extra arguments for every node, as {@link StartRedisOptions.args}. */
  readonly args?: readonly string[]
}

/** An address for ioredis `Cluster` startup nodes. */
export interface RedisClusterNode {
  readonly host: string
  readonly port: number
}

/** A real Redis Cluster of private servers started by {@link startRedisCluster}. */
export interface RedisCluster {
  /** Every node, primaries and replicas, in no particular role order. */
  readonly servers: readonly RedisServer[]
  /** Startup nodes for ioredis `new Cluster(nodes)`. */
  readonly nodes: readonly RedisClusterNode[]
  /**
   * The running servers that are primaries now, by `CLUSTER NODES` of a running node (so after a
   * failover, the promoted replica; never a killed node).
   *
   * @throws Error when no running node answers.
   */
  primaries(): Promise<RedisServer[]>
  /** Stops every node. */
  stop(): Promise<void>
  /** {@link RedisCluster.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>
}

/** One line of `CLUSTER NODES`: `<id> <ip:port@bus> <flags> <master> …`. */
function parseClusterNodes(text: string): Array<{ port: number; flags: string[] }> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [, address = '', flags = ''] = line.split(' ')
      const port = Number(address.split('@')[0]?.split(':').at(-1))
      return { port, flags: flags.split(',') }
    })
}

const DOWN_FLAGS = ['fail', 'fail?', 'handshake', 'noaddr']

/** What is not ready yet on one node, or `undefined` when it is. */
async function clusterNodeProblem(
  server: RedisServer,
  total: number,
  primaries: number,
): Promise<string | undefined> {
  const info = String(await server.command('CLUSTER', 'INFO'))
  if (!info.includes('cluster_state:ok')) return 'cluster_state is not ok'
  if (!info.includes(`cluster_known_nodes:${total}\r`)) return `does not know all ${total} nodes`
  const nodes = parseClusterNodes(String(await server.command('CLUSTER', 'NODES')))
  const masters = nodes.filter((node) => node.flags.includes('master')).length
  if (masters !== primaries) return `sees ${masters} primaries`
  const replication = String(await server.command('INFO', 'replication'))
  if (replication.includes('role:slave') && !replication.includes('master_link_status:up'))
    return 'replica not in sync'
  return undefined
}

/**
 * Starts a real Redis Cluster: `primaries × (1 + replicasPerPrimary)` servers (6 by default)
 * with `--cluster-enabled yes --cluster-node-timeout 2000` (short, so failover tests are fast),
 * joined by `redis-cli --cluster create … --cluster-replicas <r> --cluster-yes`, then waits (30 s
 * deadline) until every node reports `cluster_state:ok`, knows every node and sees the right
 * number of primaries, and every replica reports `master_link_status:up`.
 *
 * @param options - the shape of the Cluster and extra node arguments.
 * @returns the Cluster; on any failure every node is stopped before the error is thrown.
 * @throws RangeError on invalid options; Error when a node does not start, `redis-cli` fails, or
 * the Cluster is not ready in time (the message names what each node is still missing).
 * @example
 * ```ts
 * const cluster = await startRedisCluster()
 * try {
 *   const client = new Cluster([...cluster.nodes])
 *   const [victim] = await cluster.primaries()
 *   victim?.kill('SIGKILL') // a replica takes over after ~3 s
 * } finally {
 *   await cluster.stop()
 * }
 * ```
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisCluster> {
  const primaries = options.primaries ?? 3
  const replicasPerPrimary = options.replicasPerPrimary ?? 1
  if (!Number.isSafeInteger(primaries) || primaries < 3)
    throw new RangeError(`primaries must be an integer of at least 3, got ${primaries}`)
  if (!Number.isSafeInteger(replicasPerPrimary) || replicasPerPrimary < 0)
    throw new RangeError(
      `replicasPerPrimary must be a nonnegative integer, got ${replicasPerPrimary}`,
    )
  const total = primaries * (1 + replicasPerPrimary)
  const servers = await startAll(total, {
    args: [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '2000',
      ...(options.args ?? []),
    ],
  })
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
  }
  try {
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...servers.map((server) => `${server.host}:${server.port}`),
        '--cluster-replicas',
        String(replicasPerPrimary),
        '--cluster-yes',
      ],
      { timeout: CLUSTER_READY_TIMEOUT_MS },
    ).catch((error: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(
        `redis-cli --cluster create failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`,
        { cause: error },
      )
    })
    let problems: string[] = []
    await waitFor(
      'the Cluster to be ok with every replica in sync',
      async () => {
        const found = await Promise.all(
          servers.map((server) =>
            clusterNodeProblem(server, total, primaries).catch((error: Error) => error.message),
          ),
        )
        problems = found.flatMap((problem, i) =>
          problem === undefined ? [] : [`${servers[i]?.port}: ${problem}`],
        )
        return problems.length === 0
      },
      CLUSTER_READY_TIMEOUT_MS,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; not ready: ${problems.join('; ')}`, { cause: error })
    })
  } catch (error) {
    await stop()
    throw error
  }
  return {
    servers,
    nodes: servers.map(({ host, port }) => ({ host, port })),
    primaries: async () => {
      const running = servers.filter((server) => server.running)
      for (const server of running) {
        const text = await server.command('CLUSTER', 'NODES').catch(() => undefined)
        if (typeof text !== 'string') continue
        const primaryPorts = new Set(
          parseClusterNodes(text)
            .filter(
              ({ flags }) =>
                flags.includes('master') && !flags.some((flag) => DOWN_FLAGS.includes(flag)),
            )
            .map(({ port }) => port),
        )
        return running.filter((candidate) => primaryPorts.has(candidate.port))
      }
      throw new Error('no running node of the Cluster answers CLUSTER NODES')
    },
    stop,
    [Symbol.asyncDispose]: stop,
  }
}
