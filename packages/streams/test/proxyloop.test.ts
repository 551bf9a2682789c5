/**
 * The kill -9 loop through a fault-injecting proxy: four worker processes (the kill loop's
 * fixture) talk to Redis — the stream, its coordination and phonon's shard — only through
 * `@phonon/testkit`'s proxy, which drops replies after Redis ran their command, drops commands
 * (writes at a few percent, reads rarely), delays replies, and every second or two cuts every
 * connection and refuses new ones for a while (now and then past the stream leases' time to
 * live: a partition), or SIGKILLs a worker and restarts it. Any reply can be lost, ioredis
 * resends what was unanswered once it reconnects and gives a command up after a few failed
 * reconnects without knowing whether it ran, so every step of a worker must be idempotent.
 * Then the proxy passes everything, the workers catch up and stop, and the table must equal the
 * ground truth exactly, with no log entry left and nothing held or claimed in the shard
 * (`drainAndCheck`). The test's producer and the final check talk to Redis directly.
 * PROXY_LOOP_EVENTS (default 50,000: about a minute here), PROXY_LOOP_WRITE_FAULTS (a write's
 * chance of a lost reply, default 0.03; half that of a lost command) and PROXY_LOOP_SEED scale
 * and vary it.
 */
import type { ChildProcess } from 'node:child_process'
import {
  type FaultProxy,
  type ProxiedCommand,
  randomFaults,
  seededRandom,
  startFaultProxy,
} from '@phonon/testkit'
import { expect, test } from 'vitest'
import { defineStreams, getStream, RedisBackend } from '../src/index.js'
import { overlaps, readAudit } from './fixtures/audit.js'
import {
  caughtUp,
  drainAndCheck,
  exited,
  processTestServers,
  startWorker,
  whenReady,
} from './fixtures/loop.js'
import { truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

const EVENTS = Number(process.env.PROXY_LOOP_EVENTS ?? 50_000)
const SEED = Number(process.env.PROXY_LOOP_SEED ?? 3)
/** The least number of SIGKILLs, and of cuts of every connection (short ones). */
const KILLS = 3
const CUTS = 6
const LEASE_MS = 3_000
/** The probability of a lost reply of a write (half that of a lost write). */
const WRITE_FAULTS = Number(process.env.PROXY_LOOP_WRITE_FAULTS ?? 0.03)
/** How long a partition lasts at least (at most twice that): default past the leases' time to live. */
const PARTITION_MS = Number(process.env.PROXY_LOOP_PARTITION_MS ?? LEASE_MS)
/** Commands that only read. */
const READS = new Set(['XRANGE', 'XREVRANGE', 'HGET', 'HGETALL', 'ZRANGEBYSCORE', 'TIME', 'PING'])

const { schema, ...servers } = processTestServers('streams_proxyloop')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Connection handshakes pass: a fault there only delays the reconnect. */
const faultable = (command: ProxiedCommand) =>
  !['HELLO', 'CLIENT', 'INFO', 'SELECT', 'AUTH', 'QUIT'].includes(command.name)

test(`proxy loop: ${EVENTS} events, 4 workers through a proxy losing replies and commands, cutting connections, ≥ ${KILLS} SIGKILLs: table == truth`, async () => {
  const server = servers.server()
  const sink = servers.sink()
  const started = Date.now()
  const proxy: FaultProxy = await startFaultProxy({ target: server })
  // Writes (scripts: the shard's, the commit, leases; the log's removal; the audit) lose their
  // command or reply at a few percent, reads (which only slow a worker down) rarely.
  const writes = randomFaults({
    seed: SEED,
    dropReply: WRITE_FAULTS,
    dropCommand: WRITE_FAULTS / 2,
    delay: 0.05,
    maxDelayMs: 100,
  })
  const reads = randomFaults({
    seed: SEED + 1,
    dropReply: 0.002,
    dropCommand: 0.001,
    delay: 0.02,
    maxDelayMs: 100,
  })
  const faulted = new Map<string, number>()
  const sent = new Map<string, number>()
  proxy.policy = (command) => {
    sent.set(command.name, (sent.get(command.name) ?? 0) + 1)
    if (!faultable(command)) return 'pass'
    const fault = (READS.has(command.name) ? reads : writes)(command)
    if (fault === 'drop-reply' || fault === 'drop-command') {
      const key = `${fault} ${command.name}`
      faulted.set(key, (faulted.get(key) ?? 0) + 1)
    }
    return fault
  }
  const start = (name: string) => startWorker(proxy.url, name, LEASE_MS, schema)
  const config = defineStreams({
    widgets: { name: 'widgets', partitionKey: 'widget', shards: 16 },
  })
  const backend = new RedisBackend({ redis: server.url })
  const stream = getStream<WidgetEvent>('widgets', config, backend)
  const random = seededRandom(SEED)
  const workers = new Map<string, ChildProcess>()
  try {
    for (const name of ['w1', 'w2', 'w3', 'w4']) workers.set(name, start(name))
    let next = 5
    const events = [...widgetEvents(EVENTS, 2_000)]
    const truth = truthOf(events)

    // Faults and events start once every worker runs (a start takes seconds on a loaded
    // machine); events come over about 20 s, so rounds commit all along the faults.
    await Promise.all([...workers.values()].map(whenReady))
    let produced = false
    const producing = (async () => {
      const batch = Math.max(100, Math.ceil(events.length / 100))
      for (let i = 0; i < events.length; i += batch) {
        await stream.putMany(events.slice(i, i + batch))
        await sleep(200)
      }
      produced = true
    })()
    const faults = { kills: 0, cuts: 0, partitions: 0 }
    // Faults go on until the workers caught up with everything produced (and at least KILLS
    // SIGKILLs and CUTS cuts), or for 3 minutes at most.
    while (
      Date.now() - started < 180_000 &&
      (faults.kills < KILLS ||
        faults.cuts < CUTS ||
        !produced ||
        !(await caughtUp(backend, stream)))
    ) {
      await sleep(1_000 + random() * 1_000)
      const draw = random()
      if (draw < 0.6) {
        // Every connection cut, new ones refused for up to 1.5 s: ioredis gives some commands
        // up (maxRetriesPerRequest) without knowing whether they ran.
        faults.cuts++
        proxy.cut()
        proxy.refuse(random() * 1_500)
        continue
      }
      if (draw < 0.7) {
        // A partition past the stream leases' time to live: rounds refused, discarded.
        faults.partitions++
        const ms = PARTITION_MS * (1 + random())
        proxy.cut()
        proxy.refuse(ms)
        await sleep(ms) // not cut short by the next fault's refuse()
        continue
      }
      const names = [...workers.keys()]
      const victim = names[Math.floor(random() * names.length)] as string
      const child = workers.get(victim) as ChildProcess
      // A worker killed before it started would test nothing more.
      await whenReady(child)
      faults.kills++
      child.kill('SIGKILL')
      await exited(child)
      workers.delete(victim)
      const name = random() < 0.5 ? victim : `w${next++}`
      workers.set(name, start(name))
    }
    await producing
    proxy.policy = () => 'pass'
    proxy.allow()
    const stats = proxy.stats()
    const drained = Date.now()
    console.log(
      `proxy loop: ${faults.kills} SIGKILLs, ${faults.cuts} cuts of every connection, ${faults.partitions} partitions past the lease; proxy: ${stats.commands} commands, ${stats.droppedReplies} replies dropped, ${stats.droppedCommands} commands dropped, ${stats.delayedReplies} delayed, ${stats.cuts} cuts in all, in ${((drained - started) / 1000).toFixed(1)} s; draining`,
      JSON.stringify([...faulted].sort()),
      'commands sent:',
      JSON.stringify([...sent].sort()),
    )

    await drainAndCheck(server.url, backend, stream, [...workers.values()], truth, sink)
    console.log(
      `proxy loop: ${EVENTS} events, ${truth.size} widgets: table == truth; drain ${((Date.now() - drained) / 1000).toFixed(1)} s`,
    )
    expect(overlaps(await readAudit(backend.redis))).toEqual([])
    expect(stats.droppedReplies).toBeGreaterThan(0)
    expect(stats.droppedCommands).toBeGreaterThan(0)
  } finally {
    proxy.policy = () => 'pass'
    proxy.allow()
    await backend.close()
    await proxy.close()
  }
}, 900_000)
