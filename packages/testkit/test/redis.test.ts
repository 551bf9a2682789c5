import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  type RedisServer,
  respCommand,
  startRedis,
  startRedisCluster,
  startRedisNodes,
  waitFor,
} from '@phonon/testkit'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)

/** Whether a process exists and is not a zombie (an orphan's reaper may be slow in containers). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
}

const gone = (server: RedisServer) => !alive(server.pid) && !existsSync(server.dir)

describe('startRedis', () => {
  it('starts a private server that answers PING; stop() ends it and removes its directory', async () => {
    const server = await startRedis()
    try {
      expect(server.port).not.toBe(6379)
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
      expect(await server.command('PING')).toBe('PONG')
      expect(await server.cli('ping')).toBe('PONG')
      expect(await server.command('CONFIG', 'GET', 'save')).toEqual(['save', ''])
      expect(String(await server.command('INFO', 'server'))).toContain(`process_id:${server.pid}`)
      expect(alive(server.pid)).toBe(true)
      expect(existsSync(server.dir)).toBe(true)
      expect(server.running).toBe(true)
    } finally {
      await server.stop()
    }
    expect(gone(server)).toBe(true)
    expect(server.running).toBe(false)
    await server.stop() // idempotent
  })

  it('gives concurrent servers different ports', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()])
    try {
      expect(a.port).not.toBe(b.port)
      await a.command('SET', 'k', 'a')
      expect(await b.command('GET', 'k')).toBeNull()
      expect(await a.command('GET', 'k')).toBe('a')
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('passes extra arguments and survives kill() then restart() on the same port', async () => {
    const server = await startRedis({ args: ['--maxmemory', '12mb'] })
    try {
      expect(await server.command('CONFIG', 'GET', 'maxmemory')).toEqual(['maxmemory', '12582912'])
      const before = server.pid
      server.kill()
      await waitFor('the killed server to exit', async () => !server.running, 5_000)
      await expect(respCommand(server.host, server.port, ['PING'], 500)).rejects.toThrow()
      await server.restart()
      expect(server.pid).not.toBe(before)
      expect(await server.command('PING')).toBe('PONG')
    } finally {
      await server.stop()
    }
    expect(gone(server)).toBe(true)
  })

  it('reports a port taken while the server was down', async () => {
    const server = await startRedis()
    const squatter = createServer()
    try {
      server.kill()
      await waitFor('the killed server to exit', async () => !server.running, 5_000)
      squatter.listen(server.port, server.host)
      await once(squatter, 'listening')
      await expect(server.restart()).rejects.toThrow(/Address already in use/)
    } finally {
      squatter.close()
      await server.stop()
    }
    expect(gone(server)).toBe(true)
  })

  it('rejects the options the harness owns and reports a server that exits at start', async () => {
    await expect(startRedis({ args: ['--port', '6379'] })).rejects.toThrow(/must not set --port/)
    await expect(startRedis({ args: ['--no-such-option', 'x'] })).rejects.toThrow(
      /exited .* before answering PING[\s\S]*no-such-option/,
    )
  })

  const abandon = fileURLToPath(new URL('./fixtures/abandon.ts', import.meta.url))

  it('kills a server that was never stopped when the process exits', async () => {
    const failed = await run(process.execPath, ['--import', 'tsx', abandon, 'throw']).catch(
      (error: { stdout: string; code: number }) => error,
    )
    expect(failed).toHaveProperty('code', 1)
    const { pid, dir } = JSON.parse(failed.stdout) as { pid: number; dir: string }
    await waitFor('the abandoned server to be gone', async () => !alive(pid), 5_000)
    expect(existsSync(dir)).toBe(false)
  })

  it('runs the server in a process group of its own (a Ctrl-C reaches the program, not the server)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', abandon, 'wait'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer]
      const { pid } = JSON.parse(line.toString()) as { pid: number }
      const groupOf = async (p: number) =>
        Number((await run('ps', ['-o', 'pgid=', '-p', String(p)])).stdout.trim())
      expect(await groupOf(pid)).toBe(pid)
      expect(await groupOf(child.pid as number)).not.toBe(pid)
    } finally {
      child.kill('SIGTERM')
    }
  })

  it('kills a server that was never stopped when SIGTERM ends the process (as vitest does)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', abandon, 'wait'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer]
      const { pid, dir } = JSON.parse(line.toString()) as { pid: number; dir: string }
      expect(alive(pid)).toBe(true)
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      expect(await exited).toEqual([null, 'SIGTERM'])
      await waitFor('the abandoned server to be gone', async () => !alive(pid), 5_000)
      expect(existsSync(dir)).toBe(false)
    } finally {
      child.kill('SIGKILL')
    }
  })
})

describe('startRedisNodes', () => {
  it('starts n distinct, independent live servers', async () => {
    const nodes = await startRedisNodes(3)
    try {
      expect(nodes.servers).toHaveLength(3)
      expect(new Set(nodes.servers.map((server) => server.port)).size).toBe(3)
      expect(new Set(nodes.servers.map((server) => server.pid)).size).toBe(3)
      expect(nodes.urls).toEqual(nodes.servers.map((server) => server.url))
      for (const server of nodes.servers) expect(await server.command('PING')).toBe('PONG')
      await nodes.servers[0]?.command('SET', 'only-here', '1')
      expect(await nodes.servers[1]?.command('EXISTS', 'only-here')).toBe(0)
    } finally {
      await nodes.stop()
    }
    expect(nodes.servers.every(gone)).toBe(true)
  })

  it('validates n', async () => {
    await expect(startRedisNodes(0)).rejects.toThrow('n must be a positive integer, got 0')
  })
})

describe('startRedisCluster', () => {
  it('starts 3 primaries with a replica each, all ok and in sync, routing keys', async () => {
    const cluster = await startRedisCluster()
    try {
      expect(cluster.servers).toHaveLength(6)
      expect(cluster.nodes).toEqual(
        cluster.servers.map((server) => ({ host: '127.0.0.1', port: server.port })),
      )
      for (const server of cluster.servers) {
        const info = await server.cli('cluster', 'info')
        expect(info).toContain('cluster_state:ok')
        expect(info).toContain('cluster_known_nodes:6')
        expect(info).toContain('cluster_slots_assigned:16384')
      }
      const nodes = (await cluster.servers[0]?.cli('cluster', 'nodes'))?.split('\n') ?? []
      const flags = nodes.map((line) => line.split(' ')[2] ?? '')
      expect(flags.filter((f) => f.includes('master'))).toHaveLength(3)
      expect(flags.filter((f) => f.includes('slave'))).toHaveLength(3)
      expect(flags.some((f) => f.includes('fail'))).toBe(false)
      for (const server of cluster.servers) {
        const replication = String(await server.command('INFO', 'replication'))
        if (replication.includes('role:slave'))
          expect(replication).toContain('master_link_status:up')
      }
      const primaries = await cluster.primaries()
      expect(primaries).toHaveLength(3)
      for (const primary of primaries)
        expect(await primary.command('ROLE')).toEqual(expect.arrayContaining(['master']))

      const [first, second] = cluster.servers
      expect(await first?.cli('-c', 'set', 'k', 'v')).toBe('OK')
      expect(await second?.cli('-c', 'get', 'k')).toBe('v')
      // The key lives on exactly one primary: the one owning its slot.
      const holders = await Promise.all(primaries.map((p) => p.command('DBSIZE')))
      expect(holders.sort()).toEqual([0, 0, 1])
    } finally {
      await cluster.stop()
    }
    expect(cluster.servers.every(gone)).toBe(true)
  })

  it('validates its options', async () => {
    await expect(startRedisCluster({ primaries: 2 })).rejects.toThrow(
      'primaries must be an integer of at least 3, got 2',
    )
    await expect(startRedisCluster({ replicasPerPrimary: -1 })).rejects.toThrow(RangeError)
  })
})
