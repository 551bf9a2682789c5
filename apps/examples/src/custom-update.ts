/**
 * A custom merge: the seed's `MyUpdate`, a subclass of `Update` whose doc holds counters of any
 * names and which keeps an attribute of its own, `foo`. Because `foo` lives outside `doc`, it
 * overrides `state()` (what is encoded), `restore()` (decoding it back) and `clear()`, and its
 * `merge` adds both. Registered in a `Codec` with `updateType`, it is not a model of fields, so
 * redis-shard cannot fold it field by field: each released partial travels encoded to the
 * resource's `:deltas` list, and the last holder decodes them all and merges them with `merge`.
 * Several workers (one RedisShard connection each, with an lru-update aggregator) share the
 * resources; the check: what was executed equals the merge of every update offered.
 *
 * On a private redis-server; without one, on MemoryShards sharing one MemoryStore.
 *
 * Run: pnpm --filter @phonon/examples exec tsx --conditions=@phonon/source src/custom-update.ts
 *      [-- --events N --resources N --workers N --memory]
 */

import { ArgumentError, Codec, type Json, Update, updateType } from '@phonon/core'
import { createAggregator } from '@phonon/lru-update'
import {
  type Claim,
  connect,
  MemoryShard,
  MemoryStore,
  resourceKeys,
  type Shard,
} from '@phonon/redis-shard'
import { seededRandom } from '@phonon/testkit'
import { type Command, type Flag, type FlagValues, flag, runCli } from './cli.js'
import { optionalRedis } from './optional-redis.js'

type Counters = Record<string, number>

/** The seed's `MyUpdate`: counters in `doc`, and `foo`, set on the instance. */
export class MyUpdate extends Update<Counters> {
  foo = 0

  /** Where `execute` writes; set by whoever runs the pipeline. */
  static sink: (update: MyUpdate, claim: Claim) => void = () => {}

  merge(other: MyUpdate): void {
    for (const [k, v] of Object.entries(other.doc)) this.doc[k] = (this.doc[k] ?? 0) + v
    this.foo += other.foo
  }

  /** What the shared tier stores: `doc` and `foo`, JSON-safe. */
  override state(): Json {
    return { doc: this.doc, foo: this.foo }
  }

  /** Back from `state()`; `{}` (nothing folded yet) is the empty update. */
  override restore(state: Json): void {
    const { doc = {}, foo = 0 } = state as { doc?: Counters; foo?: number }
    const numbers = [foo, ...Object.values(doc)]
    if (typeof doc !== 'object' || !numbers.every((n) => Number.isSafeInteger(n))) {
      throw new ArgumentError(`MyUpdate state must be { doc: counters, foo: integer }`)
    }
    this.doc = { ...doc }
    this.foo = foo
  }

  /** An update that, executed, changes nothing (the seed's contract; the aggregator does not
   * call it: after a fold, the next update offered starts the entry afresh). */
  override clear(): void {
    this.doc = {}
    this.foo = 0
  }

  execute(claim: Claim): void {
    MyUpdate.sink(this, claim)
  }
}

/** Options of {@link runCustomUpdate}. */
export interface CustomUpdateOptions {
  readonly events: number
  readonly resources: number
  readonly workers: number
  /** LRU entries per worker: small, so sessions end often and partials meet in `:deltas`. */
  readonly max: number
  readonly seed: number
  /** Use Redis when a redis-server can be started (default true); false: in process. */
  readonly redis?: boolean
}

type State = { doc: Counters; foo: number }

/** What a run did and whether the executed state is exact. */
export interface CustomUpdateSummary {
  readonly mode: 'redis' | 'memory'
  readonly note: string | undefined
  readonly events: number
  /** Sessions released to the shard (their partials went to `:deltas`), all workers. */
  readonly releases: number
  /** Executions by last holders, each the merge of one or more released partials. */
  readonly executions: number
  /** `things.r0`'s `:deltas` list before its last holder merged it: codec envelopes. */
  readonly deltas: readonly string[]
  readonly check: boolean
  readonly differences: ReadonlyArray<{ id: string; expected: State; actual: State | undefined }>
}

/** Runs the updates through the workers and compares what was executed with the expected merge. */
export async function runCustomUpdate(options: CustomUpdateOptions): Promise<CustomUpdateSummary> {
  const { server, note } = await optionalRedis(options.redis, 'MemoryShards')

  const cleanup: Array<() => Promise<unknown>> = [] // closes what a failed run left open
  try {
    const codec = new Codec([updateType('MyUpdate', MyUpdate)])
    const executed = new Map<string, State>()
    const epochs = new Set<string>()
    MyUpdate.sink = (update, claim) => {
      if (epochs.has(`${claim.resourceId}@${claim.epoch}`)) return // a re-run: already written
      epochs.add(`${claim.resourceId}@${claim.epoch}`)
      const row = executed.get(update.id) ?? { doc: {}, foo: 0 }
      for (const [k, v] of Object.entries(update.doc)) row.doc[k] = (row.doc[k] ?? 0) + v
      row.foo += update.foo
      executed.set(update.id, row)
    }

    const store = new MemoryStore()
    const worker = async (workerId: string): Promise<Shard> =>
      server
        ? await connect({ nodes: [server.url], codec, workerId })
        : new MemoryShard({ codec, store, workerId })
    const aggregators = await Promise.all(
      Array.from({ length: options.workers }, async (_, i) => {
        const aggregator = createAggregator({
          shard: await worker(`worker-${i}`),
          max: options.max,
        })
        cleanup.push(() => aggregator.close())
        return aggregator
      }),
    )
    // A watcher holds `things.r0` throughout, so the partials the workers release stay in its
    // `:deltas` list until the watcher lets go (and, as its last holder, merges and executes them).
    const watcher = await worker('watcher')
    cleanup.push(() => watcher.close())
    const watch = await watcher.acquire({ resourceId: 'things.r0', typeName: 'MyUpdate' })

    // Events: a counter of some name on some resource, with some foo; the expected merge beside.
    const random = seededRandom(options.seed)
    const expected = new Map<string, State>()
    const names = ['views', 'clicks', 'shares', 'saves']
    for (let i = 0; i < options.events; i++) {
      const id = `r${Math.floor(random() * options.resources)}`
      const name = names[Math.floor(random() * names.length)] as string
      const update = new MyUpdate({ id, collection: 'things', doc: { [name]: 1 } })
      update.foo = 1 + Math.floor(random() * 5) // the seed sets it on the instance
      const row = expected.get(id) ?? { doc: {}, foo: 0 }
      row.doc[name] = (row.doc[name] ?? 0) + 1
      row.foo += update.foo
      expected.set(id, row)
      await aggregators[Math.floor(random() * aggregators.length)]?.offer(update)
    }
    // Closing ends every session: the last holder of each resource merges and executes.
    await Promise.all(aggregators.map((a) => a.close()))

    const deltasKey = resourceKeys('phonon', 'things.r0', ['d'], false)[1]
    const deltas = server
      ? ((await server.command('LRANGE', deltasKey as string, '0', '-1')) as string[])
      : [...(store.resources.get('things.r0')?.deltas ?? [])]
    const result = await watcher.release(watch)
    if (result.last) {
      await result.claim.update.execute(result.claim)
      await watcher.completeExecution(result.claim)
    }

    const stats = aggregators.map((a) => a.stats())
    const differences = [...expected]
      .filter(
        ([id, want]) => JSON.stringify(sorted(executed.get(id))) !== JSON.stringify(sorted(want)),
      )
      .map(([id, want]) => ({ id, expected: want, actual: executed.get(id) }))
    return {
      mode: server ? 'redis' : 'memory',
      note,
      events: options.events,
      releases: stats.reduce((n, s) => n + s.releases, 0),
      executions: stats.reduce((n, s) => n + s.executions, 0),
      deltas,
      check:
        differences.length === 0 &&
        result.last &&
        executed.size === expected.size &&
        stats.every((s) => s.failures === 0),
      differences: differences.slice(0, 10),
    }
  } finally {
    for (const close of cleanup.reverse()) await close().catch(() => {})
    await server?.stop()
  }
}

function sorted(state: State | undefined) {
  return state && { doc: Object.fromEntries(Object.entries(state.doc).sort()), foo: state.foo }
}

/** The command line: `pnpm --filter @phonon/examples example:custom-update --help`. */
export const command = {
  name: 'example:custom-update',
  summary:
    "The seed's MyUpdate (a custom merge) shared by workers through Redis; checks what was executed.",
  flags: {
    events: flag.events(20_000, 'MyUpdates offered'),
    resources: flag.count(200, 'distinct resources', 1_000_000),
    workers: flag.count(3, 'workers', 32),
    max: flag.count(32, 'LRU entries per worker', 1_000_000),
    seed: flag.seed,
    memory: { type: 'boolean', help: 'run on MemoryShards, even with Redis' },
  },
} satisfies Command<Record<string, Flag>>

async function main(flags: FlagValues<typeof command.flags>): Promise<boolean> {
  const summary = await runCustomUpdate({
    events: flags.events,
    resources: flags.resources,
    workers: flags.workers,
    max: flags.max,
    seed: flags.seed,
    redis: !flags.memory,
  })
  if (summary.note) console.log(`(${summary.note})`)
  console.log(`things.r0:deltas held ${summary.deltas.length} partials, e.g. ${summary.deltas[0]}`)
  console.log(
    `${summary.events} MyUpdates → ${summary.releases} partials released by ${flags.workers} workers → ${summary.executions} executions (merged by the last holders)`,
  )
  console.log(`executed vs expected merge: ${summary.check ? '✔ exact' : '✘ differs'}`)
  for (const d of summary.differences)
    console.log(`  ✘ ${d.id}: expected`, d.expected, 'got', d.actual)
  return summary.check
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(command, main)
