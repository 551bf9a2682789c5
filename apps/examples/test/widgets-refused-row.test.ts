/**
 * The main job's path to the database — a worker of `widgetWorker` (Worker + phononSource)
 * writing through the job's sink (`openSink`, here PGlite in process) — when the database refuses
 * one row (a CHECK constraint): the sink's per-row outcome is passed through, so the other rows
 * of each batch are written and their claims completed, the source's log goes on (no entry left
 * behind), and the refused claim stays claimed and is executed again at each lease tick, until
 * the constraint is lifted; then the table is exact.
 */
import { PGlite } from '@electric-sql/pglite'
import { type Claim, MemoryShard } from '@phonon/redis-shard'
import { MemoryBackend } from '@phonon/streams'
import { waitFor } from '@phonon/testkit'
import { expect, it } from 'vitest'
import { codec, type WidgetEvent, widgetId } from '../src/widgets/model.js'
import { openSink } from '../src/widgets/sink.js'
import {
  APPLICATION,
  type WidgetRecord,
  widgetStream,
  widgetWorker,
} from '../src/widgets/stream.js'

const BAD = '0-3'

it('a row the database refuses does not hold back the others: written, completed, the log drained; it is retried alone', async () => {
  const pglite = await PGlite.create()
  const database = await openSink(undefined, undefined, { pglite })
  const { sink } = database
  await pglite.exec(`ALTER TABLE widgets ADD CONSTRAINT widgets_not_bad CHECK (id <> '${BAD}')`)
  const backend = new MemoryBackend()
  const stream = widgetStream('refused-row', 1, backend, 'memory')
  // Six widgets round robin with an LRU of 2: every event ends a session, so claims are
  // executed all along the run, many of them in batches with the bad widget's.
  const events: WidgetEvent[] = []
  for (let i = 0; i < 240; i++) {
    events.push({
      parent_post_id: 0,
      target_post_id: (i % 6) + 1,
      event_type: i % 4 === 0 ? 'click' : 'impression',
    })
  }
  const truth = new Map<string, string>()
  for (const e of events) {
    const [c, v] = (truth.get(widgetId(e)) ?? '0/0').split('/').map(Number) as [number, number]
    truth.set(widgetId(e), e.event_type === 'click' ? `${c + 1}/${v}` : `${c}/${v + 1}`)
  }
  const refused: string[] = []
  const tried: string[][] = []
  const widgetCodec = codec()
  const { worker, source } = widgetWorker({
    stream,
    name: 'w',
    shard: new MemoryShard({ codec: widgetCodec, workerId: 'w', rememberExecuted: true }),
    codec: widgetCodec,
    tuning: { capacity: 2, roundMs: 50, roundRecords: 40, leaseMs: 400 },
    executeBatch: (claims: readonly Claim[]) => {
      tried.push(claims.map((c) => c.resourceId))
      return database.executeBatch(claims)
    },
    onExecuteError: (claim) => refused.push(claim.resourceId),
  })
  const table = async () => {
    const rows = await sink.db
      .selectFrom('widgets')
      .select(['id', 'clicks', 'impressions'])
      .execute()
    return new Map(
      rows.map((r: { id: string; clicks: unknown; impressions: unknown }) => [
        r.id,
        `${Number(r.clicks)}/${Number(r.impressions)}`,
      ]),
    )
  }
  const running = worker.run()
  try {
    await stream.putMany(events.map((e): WidgetRecord => ({ ...e, widget: widgetId(e) })))
    const coordinator = backend.coordinator(stream.definition, APPLICATION)
    const last = await backend.last(stream.definition, 0)
    await waitFor('the stream read and its log applied', async () => {
      return (
        (await coordinator.checkpoint(0)) === last?.sequence &&
        (await coordinator.walEntries(0)).length === 0
      )
    })
    // Every session that ended was executed; the LRU still holds the last two widgets' sessions,
    // which the worker's stop executes.
    const open = new Set(events.slice(-2).map(widgetId))
    await waitFor('the good rows written', async () => {
      const rows = await table()
      return [...truth.keys()].every((w) => w === BAD || open.has(w) || rows.get(w) !== undefined)
    })
    expect(refused).toContain(`Widget.${BAD}`)
    expect((await table()).get(BAD)).toBeUndefined()
    expect(source.stats().refusedClaims).toBeGreaterThan(0)
    // Retried at the lease ticks: on its own (every other claim of its batches was completed).
    await waitFor('a retry of the bad row alone', async () =>
      tried.some((ids) => ids.length === 1 && ids[0] === `Widget.${BAD}`),
    )
    await pglite.exec('ALTER TABLE widgets DROP CONSTRAINT widgets_not_bad')
    await waitFor('the bad row written', async () => (await table()).get(BAD) !== undefined)
    expect(source.stats().refusedClaims).toBe(0)
    worker.stop()
    await running
    expect(Object.fromEntries(await table())).toEqual(Object.fromEntries(truth))
  } finally {
    worker.stop()
    await running.catch(() => undefined)
    await database.close()
    await pglite.close().catch(() => undefined)
  }
}, 60_000)
