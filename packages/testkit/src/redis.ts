import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A private `redis-server` started for tests. */
export interface RedisServer {
  readonly host: string
  readonly port: number
  /** `redis://host:port` */
  readonly url: string
  /** Its temporary working directory (removed by `stop`). */
  readonly dir: string
  readonly process: ChildProcess
  /** Runs `redis-cli` against this server and returns its output. */
  cli(...args: string[]): Promise<string>
  /** Sends a signal (e.g. SIGKILL for failure tests) without waiting. */
  kill(signal?: NodeJS.Signals): void
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>
}

/** Every server started and not yet stopped, killed on exit as a last resort. */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** A free TCP port on 127.0.0.1, as the OS hands them out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      )
    })
  })
}

/** Polls `check` until it returns true, failing after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/**
 * Starts a private `redis-server` on a free port in a temporary directory, with nothing
 * persisted, and waits until it answers PING. Never the shared 6379 server.
 *
 * @param args - extra server arguments, e.g. `['--cluster-enabled', 'yes']`.
 */
export async function startRedis(args: readonly string[] = []): Promise<RedisServer> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await launch(args)
    } catch (error) {
      if (attempt >= 4) throw error
    }
  }
}

async function launch(args: readonly string[]): Promise<RedisServer> {
  const host = '127.0.0.1'
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'phonon-redis-'))
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      host,
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--logfile',
      join(dir, 'redis.log'),
      ...args,
    ],
    { stdio: 'ignore' },
  )
  running.add(child)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.once('exit', () => running.delete(child))
  const cli = async (...command: string[]) =>
    (await run('redis-cli', ['-h', host, '-p', String(port), ...command])).stdout.trim()
  const server: RedisServer = {
    host,
    port,
    url: `redis://${host}:${port}`,
    dir,
    process: child,
    cli,
    kill: (signal = 'SIGKILL') => {
      child.kill(signal)
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
        await exited
        clearTimeout(timer)
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
  try {
    await waitFor(
      `redis-server on port ${port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`)
        return (await cli('ping')) === 'PONG'
      },
      10_000,
    )
  } catch (error) {
    await server.stop()
    throw error
  }
  return server
}

/** Several standalone servers, e.g. for consistent hashing. */
export interface RedisNodes {
  readonly servers: readonly RedisServer[]
  readonly urls: readonly string[]
  stop(): Promise<void>
}

/** Starts `n` standalone servers. */
export async function startRedisNodes(n: number): Promise<RedisNodes> {
  const servers = await Promise.all(Array.from({ length: n }, () => startRedis()))
  return {
    servers,
    urls: servers.map((server) => server.url),
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()))
    },
  }
}

/** A real Redis Cluster of private servers. */
export interface RedisCluster {
  readonly servers: readonly RedisServer[]
  /** Startup nodes for ioredis `Cluster`. */
  readonly nodes: ReadonlyArray<{ host: string; port: number }>
  /** The servers that are primaries now (after failovers too). */
  primaries(): Promise<RedisServer[]>
  stop(): Promise<void>
}

/**
 * Starts a Redis Cluster: `primaries` primaries with `replicas` replicas each (default 3 + 3),
 * created with `redis-cli --cluster create`, and waits until every node reports the cluster ok
 * and every replica is in sync.
 */
export async function startRedisCluster(
  options: { primaries?: number; replicas?: number } = {},
): Promise<RedisCluster> {
  const primaries = options.primaries ?? 3
  const replicas = options.replicas ?? 1
  const clusterArgs = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '2000',
  ]
  const servers = await Promise.all(
    Array.from({ length: primaries * (1 + replicas) }, () => startRedis(clusterArgs)),
  )
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
  }
  try {
    await run('redis-cli', [
      '--cluster',
      'create',
      ...servers.map((server) => `${server.host}:${server.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ])
    await waitFor(
      'the cluster to be ok',
      async () => {
        for (const server of servers) {
          if (!(await server.cli('cluster', 'info')).includes('cluster_state:ok')) return false
          const info = await server.cli('info', 'replication')
          if (info.includes('role:slave') && !info.includes('master_link_status:up')) return false
        }
        return true
      },
      30_000,
    )
  } catch (error) {
    await stop()
    throw error
  }
  return {
    servers,
    nodes: servers.map(({ host, port }) => ({ host, port })),
    primaries: async () => {
      const live = servers.filter(
        (server) => server.process.exitCode === null && server.process.signalCode === null,
      )
      const roles = await Promise.all(
        live.map(async (server) => (await server.cli('role')).split('\n')[0]),
      )
      return live.filter((_, i) => roles[i] === 'master')
    },
    stop,
  }
}
