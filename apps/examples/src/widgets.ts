/**
 * The main job, on `@phonon/core` alone until the Redis and SQL layers land: a Zipf-distributed
 * stream of widget click/impression events is merged in a bounded, least-recently-used map of
 * model updates; every update that leaves the map (capacity or the end of the stream) is executed
 * into an in-memory table, which is then checked against the ground truth.
 *
 * Run: pnpm start [-- --events N --widgets N --skew S --capacity N --json]
 */
import { parseArgs } from 'node:util'
import { defineModel, id, sum } from '@phonon/core'
import { cliArgs, createZipf } from '@phonon/testkit'

/** One event of the seed's stream. */
export interface WidgetEvent {
  readonly parent_post_id: number
  readonly target_post_id: number
  readonly event_type: 'click' | 'impression'
}

/** Options of {@link runWidgets}. */
export interface WidgetsOptions {
  readonly events: number
  readonly widgets: number
  readonly skew: number
  readonly capacity: number
  readonly seed: number
}

/** What a run did and whether the table is exact. */
export interface WidgetsSummary {
  readonly events: number
  readonly merges: number
  readonly sinkWrites: number
  readonly eventsPerWrite: number
  readonly wallMs: number
  readonly check: boolean
  readonly differences: ReadonlyArray<{ widget: string; expected: Row; actual: Row | undefined }>
}

type Row = { clicks: number; impressions: number }

/** Generates the seed's event stream: widgets are (parent, target) pairs drawn from a Zipf law. */
export function* widgetEvents(options: WidgetsOptions): Generator<WidgetEvent> {
  const zipf = createZipf({ n: options.widgets, s: options.skew, seed: options.seed })
  for (let i = 0; i < options.events; i++) {
    const widget = zipf.next() - 1
    yield {
      parent_post_id: Math.floor(widget / 100),
      target_post_id: widget % 100,
      event_type: (i * 7919) % 10 === 0 ? 'click' : 'impression',
    }
  }
}

/** Runs the pipeline and checks the table against the ground truth. */
export async function runWidgets(options: WidgetsOptions): Promise<WidgetsSummary> {
  const table = new Map<string, Row>()
  const Widget = defineModel(
    'Widget',
    { id: id(), clicks: sum(), impressions: sum() },
    {
      onComplete: ({ id: widget, clicks, impressions }) => {
        const row = table.get(widget) ?? { clicks: 0, impressions: 0 }
        table.set(widget, {
          clicks: row.clicks + clicks,
          impressions: row.impressions + impressions,
        })
      },
    },
  )
  type WidgetUpdate = ReturnType<typeof Widget.create>

  const truth = new Map<string, Row>()
  const pending = new Map<string, WidgetUpdate>()
  let merges = 0
  let sinkWrites = 0
  const started = performance.now()

  for (const event of widgetEvents(options)) {
    const key = `${event.parent_post_id}-${event.target_post_id}`
    const click = event.event_type === 'click' ? 1 : 0
    const row = truth.get(key)
    if (row) {
      row.clicks += click
      row.impressions += 1 - click
    } else truth.set(key, { clicks: click, impressions: 1 - click })

    const held = pending.get(key)
    if (held) {
      held.add({ clicks: click, impressions: 1 - click })
      pending.delete(key) // re-insert: Map order is recency order
      pending.set(key, held)
      merges++
      continue
    }
    pending.set(key, Widget.create({ id: key, clicks: click, impressions: 1 - click }))
    if (pending.size > options.capacity) {
      const [oldestKey, oldest] = pending.entries().next().value as [string, WidgetUpdate]
      pending.delete(oldestKey)
      await oldest.execute()
      sinkWrites++
    }
  }
  for (const update of pending.values()) {
    await update.execute()
    sinkWrites++
  }

  const differences = [...truth]
    .filter(([key, expected]) => {
      const actual = table.get(key)
      return actual?.clicks !== expected.clicks || actual.impressions !== expected.impressions
    })
    .map(([widget, expected]) => ({ widget, expected, actual: table.get(widget) }))
  return {
    events: options.events,
    merges,
    sinkWrites,
    eventsPerWrite: options.events / Math.max(1, sinkWrites),
    wallMs: Math.round(performance.now() - started),
    check: differences.length === 0 && table.size === truth.size,
    differences: differences.slice(0, 10),
  }
}

function printSummary(summary: WidgetsSummary): void {
  const rows: Array<[string, string]> = [
    ['events in', summary.events.toLocaleString('en-US')],
    ['local merges', summary.merges.toLocaleString('en-US')],
    ['sink writes', summary.sinkWrites.toLocaleString('en-US')],
    ['events per sink write', summary.eventsPerWrite.toFixed(1)],
    ['wall time', `${summary.wallMs} ms`],
    ['table vs ground truth', summary.check ? '✔ exact' : '✘ differs'],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`)
  for (const d of summary.differences)
    console.log(`  ✘ ${d.widget}: expected`, d.expected, 'got', d.actual)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: cliArgs(),
    options: {
      events: { type: 'string', default: '1000000' },
      widgets: { type: 'string', default: '100000' },
      skew: { type: 'string', default: '1.1' },
      capacity: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '42' },
      json: { type: 'boolean', default: false },
    },
  })
  const summary = await runWidgets({
    events: Number(values.events),
    widgets: Number(values.widgets),
    skew: Number(values.skew),
    capacity: Number(values.capacity),
    seed: Number(values.seed),
  })
  if (values.json) console.log(JSON.stringify(summary))
  else printSummary(summary)
  process.exitCode = summary.check ? 0 : 1
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
