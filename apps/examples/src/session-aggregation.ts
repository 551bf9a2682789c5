/**
 * The seed's `Session` model fed by a message bus. Events of user sessions (`impression` or
 * `click`) go through Redis Streams with a consumer group (XADD, XREADGROUP, XACK) to two
 * workers; each wraps its handler with `withLocalAggregation`, so events of a session merge in
 * its LRU and a message is XACKed only once its event is folded into Redis (a RedisShard). A
 * session ends when it has been idle for `idleMs` (or at `expireAll`); its last holder executes
 * the model, whose `onComplete(session, msg)` writes the totals and finishes the message (an
 * execution whose message is not finished is retried). Events come in two waves: the sessions of
 * the first go idle before the second is published (their messages are acked as they end); those
 * of the second are still open when the stream is drained, and end at `expireAll`.
 * The check: the totals written equal the events produced, every message was acked, XPENDING is 0.
 *
 * Without `redis-server` on the machine it runs on MemoryShards and an in-process queue, and says so.
 *
 * Run: pnpm --filter @phonon/examples exec tsx --conditions=@phonon/source src/session-aggregation.ts
 *      [-- --events N --sessions N --workers N --idle-ms N --memory --json]
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { Codec, defineModel, id, sum } from '@phonon/core'
import {
  type AckableMessage,
  createAggregator,
  type EndCause,
  withLocalAggregation,
} from '@phonon/lru-update'
import { type Claim, connect, MemoryShard, MemoryStore, type Shard } from '@phonon/redis-shard'
import { seededRandom, waitFor } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { type Command, type Flag, type FlagValues, flag, runCli } from './cli.js'
import { optionalRedis } from './optional-redis.js'

/** One event on the bus. */
export interface SessionEvent {
  readonly session: string
  readonly type: 'impression' | 'click'
}

/** Options of {@link runSessionAggregation}. */
export interface SessionAggregationOptions {
  readonly events: number
  readonly sessions: number
  readonly workers: number
  /** A session ends after this long without an event. */
  readonly idleMs: number
  readonly seed: number
  /** Use Redis when a redis-server can be started (default true); false: in process. */
  readonly redis?: boolean
}

type Totals = { impressions: number; clicks: number }

/** What a run did and whether it was exact. */
export interface SessionAggregationSummary {
  /** `'redis'`, or `'memory'` (MemoryShards and an in-process queue). */
  readonly mode: 'redis' | 'memory'
  /** Why it ran in memory, if it did. */
  readonly note: string | undefined
  readonly events: number
  readonly sessions: number
  /** Session executions (onComplete calls), all workers. */
  readonly executions: number
  /** Local sessions ended, by cause, all workers. */
  readonly ended: Readonly<Record<EndCause, number>>
  /** Messages acknowledged to the bus, and still pending there at the end (XPENDING). */
  readonly acked: number
  readonly pending: number
  readonly wallMs: number
  readonly check: boolean
  readonly differences: ReadonlyArray<{
    session: string
    expected: Totals
    actual: Totals | undefined
  }>
}

/** The session's execution, handed to `onComplete`: finish it once the totals are written. */
export interface SessionMessage {
  readonly resourceId: string
  readonly epoch: number
  finish(): void
}

/** A message bus with a consumer group: publish, read, ack, and count what is not acked. */
interface Bus {
  publish(events: readonly SessionEvent[]): Promise<void>
  consumer(name: string): {
    read(): Promise<Array<{ id: string; event: SessionEvent }>>
    ack(id: string): Promise<void>
    close(): Promise<void>
  }
  pending(): Promise<number>
  close(): Promise<void>
}

const STREAM = 'session-events'
const GROUP = 'session-workers'

/** Redis Streams: XADD to publish, XREADGROUP to consume, XACK, XPENDING. */
async function redisStreams(url: string): Promise<Bus> {
  const admin = new Redis(url)
  await admin.xgroup('CREATE', STREAM, GROUP, '$', 'MKSTREAM')
  return {
    async publish(events) {
      const pipeline = admin.pipeline()
      for (const e of events) pipeline.xadd(STREAM, '*', 'session', e.session, 'type', e.type)
      await pipeline.exec()
    },
    consumer(name) {
      const redis = new Redis(url)
      return {
        async read() {
          const reply = (await redis.xreadgroup(
            'GROUP',
            GROUP,
            name,
            'COUNT',
            100,
            'BLOCK',
            20,
            'STREAMS',
            STREAM,
            '>',
          )) as Array<[string, Array<[string, string[]]>]> | null
          return (reply?.[0]?.[1] ?? []).map(([id, fields]) => ({
            id,
            event: { session: fields[1], type: fields[3] } as SessionEvent,
          }))
        },
        ack: async (id) => void (await redis.xack(STREAM, GROUP, id)),
        close: async () => redis.disconnect(),
      }
    },
    pending: async () => Number(((await admin.xpending(STREAM, GROUP)) as [number])[0]),
    close: async () => admin.disconnect(),
  }
}

/** The fallback: an in-process queue with the same contract. */
function inProcessQueue(): Bus {
  const queue: Array<{ id: string; event: SessionEvent }> = []
  const unacked = new Set<string>()
  let next = 0
  return {
    async publish(events) {
      for (const event of events) {
        const id = String(next++)
        queue.push({ id, event })
        unacked.add(id)
      }
    },
    consumer: () => ({
      read: async () => {
        await sleep(queue.length > 0 ? 0 : 20) // like XREADGROUP … BLOCK 20
        return queue.splice(0, 100)
      },
      ack: async (id) => void unacked.delete(id),
      close: async () => {},
    }),
    pending: async () => unacked.size,
    close: async () => {},
  }
}

/** The events of `sessions` (ids `s<from>`…), impressions with a click now and then. */
function sessionEvents(count: number, from: number, to: number, seed: number): SessionEvent[] {
  const random = seededRandom(seed)
  return Array.from({ length: count }, () => ({
    session: `s${from + Math.floor(random() * (to - from))}`,
    type: random() < 0.2 ? 'click' : 'impression',
  }))
}

/** Runs two waves of events through the bus and the workers, and checks the written totals. */
export async function runSessionAggregation(
  options: SessionAggregationOptions,
): Promise<SessionAggregationSummary> {
  const started = performance.now()
  const { server, note } = await optionalRedis(
    options.redis,
    'MemoryShards and an in-process queue',
  )

  const cleanup: Array<() => Promise<unknown>> = [] // closes what a failed run left open
  try {
    // The seed's model. `onComplete` runs on the last holder with the session's totals.
    const table = new Map<string, Totals>()
    const written = new Set<string>()
    const Session = defineModel(
      'Session',
      { id: id(), impressions: sum(), clicks: sum() },
      {
        onComplete: (session, msg: SessionMessage) => {
          // A re-run of the same execution (a recovered claim) must not count twice.
          if (!written.has(`${msg.resourceId}@${msg.epoch}`)) {
            written.add(`${msg.resourceId}@${msg.epoch}`)
            const row = table.get(session.id) ?? { impressions: 0, clicks: 0 }
            row.impressions += session.impressions
            row.clicks += session.clicks
            table.set(session.id, row)
          }
          msg.finish()
        },
      },
    )
    const codec = new Codec([Session])

    // How a worker executes a claim: hand the session its message; unfinished, it is retried.
    let executions = 0
    const execute = async (claim: Claim) => {
      let finished = false
      const msg = {
        resourceId: claim.resourceId,
        epoch: claim.epoch,
        finish: () => {
          finished = true
        },
      }
      await (claim.update as ReturnType<typeof Session.create>).execute(msg)
      if (!finished) throw new Error(`${claim.resourceId}: onComplete did not finish its message`)
      executions++
    }

    const bus = server ? await redisStreams(server.url) : inProcessQueue()
    cleanup.push(() => bus.close())
    const store = new MemoryStore() // only for the in-memory fallback: what the workers share
    let acked = 0
    let producing = true
    const acks: Array<Promise<void>> = []

    const workers = await Promise.all(
      Array.from({ length: options.workers }, async (_, i) => {
        const name = `worker-${i}`
        const shard: Shard = server
          ? await connect({ nodes: [server.url], codec, workerId: name, execute })
          : new MemoryShard({ codec, store, workerId: name, execute })
        const aggregator = createAggregator({ shard, max: 10_000, idleMs: options.idleMs, execute })
        const consumer = bus.consumer(name)
        cleanup.push(
          () => aggregator.close(),
          () => consumer.close(),
        )
        const handle = withLocalAggregation(
          aggregator,
          ({ event }: { event: SessionEvent } & AckableMessage) =>
            event.type === 'click'
              ? Session.create({ id: event.session, clicks: 1 })
              : Session.create({ id: event.session, impressions: 1 }),
        )
        const consume = async () => {
          for (;;) {
            const last = !producing // nothing more is coming: an empty read means drained
            const entries = await consumer.read()
            for (const { id, event } of entries) {
              await handle({
                event,
                // XACK once the event is folded into the shard; counted once Redis has it.
                ack: () => void acks.push(consumer.ack(id).then(() => void acked++)),
                nack: (error) => console.error(`${id} not acknowledged:`, error), // left pending
              })
            }
            if (entries.length === 0 && last) return
          }
        }
        return { aggregator, consumer, consume }
      }),
    )
    const consuming = workers.map((w) => w.consume())

    // Wave 1: sessions s0…; every message is acked only when its session ends, so all acked
    // means every session of wave 1 went idle and was released.
    const half = Math.floor(options.sessions / 2)
    const wave1 = sessionEvents(Math.floor(options.events / 2), 0, half, options.seed)
    await bus.publish(wave1)
    await waitFor(
      'wave 1 acknowledged (its sessions idle)',
      async () => acked === wave1.length,
      20_000,
    )

    // Wave 2: the other sessions; whatever is still open when the stream is drained ends now.
    const wave2 = sessionEvents(
      options.events - wave1.length,
      half,
      options.sessions,
      options.seed + 1,
    )
    await bus.publish(wave2)
    producing = false
    await Promise.all(consuming)
    await Promise.all(workers.map((w) => w.aggregator.expireAll()))
    await Promise.all(workers.map((w) => w.aggregator.close()))
    await Promise.all(acks)
    const pending = await bus.pending()

    const truth = new Map<string, Totals>()
    for (const { session, type } of [...wave1, ...wave2]) {
      const row = truth.get(session) ?? { impressions: 0, clicks: 0 }
      if (type === 'click') row.clicks++
      else row.impressions++
      truth.set(session, row)
    }
    const differences = [...truth]
      .filter(([session, expected]) => {
        const actual = table.get(session)
        return actual?.impressions !== expected.impressions || actual.clicks !== expected.clicks
      })
      .map(([session, expected]) => ({ session, expected, actual: table.get(session) }))
    const ended = { capacity: 0, idle: 0, maxAge: 0, forced: 0, expire: 0, expireAll: 0, close: 0 }
    for (const w of workers)
      for (const [cause, n] of Object.entries(w.aggregator.stats().ended))
        ended[cause as EndCause] += n

    return {
      mode: server ? 'redis' : 'memory',
      note,
      events: options.events,
      sessions: truth.size,
      executions,
      ended,
      acked,
      pending,
      wallMs: Math.round(performance.now() - started),
      check:
        differences.length === 0 &&
        table.size === truth.size &&
        acked === options.events &&
        pending === 0,
      differences: differences.slice(0, 10),
    }
  } finally {
    for (const close of cleanup.reverse()) await close().catch(() => {})
    await server?.stop()
  }
}

/** The command line: `pnpm --filter @phonon/examples example:session-aggregation --help`. */
export const command = {
  name: 'example:session-aggregation',
  summary:
    "The seed's Session model fed through Redis Streams to workers aggregating locally; checks the totals.",
  flags: {
    events: flag.events(20_000),
    sessions: flag.count(500, 'distinct sessions', 1_000_000),
    workers: flag.count(2, 'workers', 32),
    'idle-ms': flag.count(200, 'idle time that ends a session (ms)', 60_000),
    seed: flag.seed,
    memory: {
      type: 'boolean',
      help: 'run on MemoryShards and an in-process queue, even with Redis',
    },
    json: { type: 'boolean', help: 'print the summary as one JSON object' },
  },
} satisfies Command<Record<string, Flag>>

async function main(flags: FlagValues<typeof command.flags>): Promise<boolean> {
  const summary = await runSessionAggregation({
    events: flags.events,
    sessions: flags.sessions,
    workers: flags.workers,
    idleMs: flags['idle-ms'],
    seed: flags.seed,
    redis: !flags.memory,
  })
  if (flags.json) console.log(JSON.stringify(summary))
  else {
    if (summary.note) console.log(`(${summary.note})`)
    console.log(
      `${summary.events} events of ${summary.sessions} sessions through ${summary.mode === 'redis' ? 'Redis Streams' : 'an in-process queue'}, ${flags.workers} workers`,
    )
    const ended = Object.entries(summary.ended).filter(([, n]) => n > 0)
    console.log(`local sessions ended: ${ended.map(([cause, n]) => `${n} by ${cause}`).join(', ')}`)
    console.log(
      `${summary.executions} executions, ${summary.acked} messages acked, ${summary.pending} pending`,
    )
    console.log(
      `totals vs ground truth: ${summary.check ? '✔ exact' : '✘ differ'} (${summary.wallMs} ms)`,
    )
    for (const d of summary.differences)
      console.log(`  ✘ ${d.session}: expected`, d.expected, 'got', d.actual)
  }
  return summary.check
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(command, main)
