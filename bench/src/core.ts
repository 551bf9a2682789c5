/**
 * `@phonon/core` merge throughput: a 2-field sum model and ConflictFreeUpdate against a
 * hand-written Map loop (the physical limit of local aggregation), over the same pre-generated
 * Zipf(1.1) events, in one run. Writes bench/results/core.json.
 *
 * Run: pnpm --filter @phonon/bench bench:core [-- --events N --keys N --rounds N]
 */
import { parseArgs } from 'node:util'
import { ConflictFreeUpdate, defineModel, id, sum } from '@phonon/core'
import { cliArgs, zipfSample } from '@phonon/testkit'
import { formatRate, median, printTable, writeResult } from './report.js'

const { values: flags } = parseArgs({
  args: cliArgs(),
  options: {
    events: { type: 'string', default: '10000000' },
    keys: { type: 'string', default: '1000000' },
    skew: { type: 'string', default: '1.1' },
    rounds: { type: 'string', default: '3' },
  },
})
const events = Number(flags.events)
const keys = Number(flags.keys)
const skew = Number(flags.skew)
const rounds = Number(flags.rounds)

/** The events, generated before any timing: a key rank and a click (1) or impression (0). */
const ranks = zipfSample({ n: keys, s: skew, seed: 1, count: events })
const clicks = new Uint8Array(events).map((_, i) => (Math.imul(i, 2654435761) >>> 28 === 0 ? 1 : 0))
const ids = Array.from({ length: keys + 1 }, (_, k) => `widget-${k}`)

const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })
class Counters extends ConflictFreeUpdate {
  execute(): void {}
}

type Variant = (count: number) => number

/** Each variant aggregates the first `count` events and returns how many keys it holds. */
const variants: Record<string, Variant> = {
  'Map loop (baseline)': (count) => {
    const held = new Map<string, { clicks: number; impressions: number }>()
    for (let i = 0; i < count; i++) {
      const key = ids[ranks[i] as number] as string
      const click = clicks[i] as number
      const entry = held.get(key)
      if (entry) {
        entry.clicks += click
        entry.impressions += 1 - click
      } else held.set(key, { clicks: click, impressions: 1 - click })
    }
    return held.size
  },
  'model create + merge': (count) => {
    const held = new Map<string, ReturnType<typeof Widget.create>>()
    for (let i = 0; i < count; i++) {
      const key = ids[ranks[i] as number] as string
      const click = clicks[i] as number
      const update = Widget.create({ id: key, clicks: click, impressions: 1 - click })
      const entry = held.get(key)
      if (entry) entry.merge(update)
      else held.set(key, update)
    }
    return held.size
  },
  'model add': (count) => {
    const held = new Map<string, ReturnType<typeof Widget.create>>()
    for (let i = 0; i < count; i++) {
      const key = ids[ranks[i] as number] as string
      const click = clicks[i] as number
      const entry = held.get(key)
      if (entry) entry.add({ clicks: click, impressions: 1 - click })
      else held.set(key, Widget.create({ id: key, clicks: click, impressions: 1 - click }))
    }
    return held.size
  },
  'ConflictFreeUpdate create + merge': (count) => {
    const held = new Map<string, Counters>()
    for (let i = 0; i < count; i++) {
      const key = ids[ranks[i] as number] as string
      const click = clicks[i] as number
      const update = new Counters({ id: key, doc: { clicks: click, impressions: 1 - click } })
      const entry = held.get(key)
      if (entry) entry.merge(update)
      else held.set(key, update)
    }
    return held.size
  },
  'ConflictFreeUpdate add': (count) => {
    const held = new Map<string, Counters>()
    for (let i = 0; i < count; i++) {
      const key = ids[ranks[i] as number] as string
      const click = clicks[i] as number
      const entry = held.get(key)
      if (entry) entry.add({ clicks: click, impressions: 1 - click })
      else held.set(key, new Counters({ id: key, doc: { clicks: click, impressions: 1 - click } }))
    }
    return held.size
  },
}

/** Runs a variant once over every event; returns events per second. */
function measure(variant: Variant): number {
  const started = performance.now()
  variant(events)
  return events / ((performance.now() - started) / 1000)
}

console.log(
  `core merge: ${events.toLocaleString('en-US')} Zipf(${skew}) events over ${keys.toLocaleString('en-US')} keys, ${rounds} rounds`,
)
const names = Object.keys(variants)
const distinct = new Set(
  names.map((name) => (variants[name] as Variant)(Math.min(events, 1_000_000))),
) // warm-up
if (distinct.size !== 1)
  throw new Error(`variants disagree on the number of keys: ${[...distinct]}`)
const samples = new Map<string, number[]>(names.map((name) => [name, []]))
for (let round = 0; round < rounds; round++) {
  for (const name of names) samples.get(name)?.push(measure(variants[name] as Variant))
  process.stdout.write(`  round ${round + 1}/${rounds} done\n`)
}

const rate = (name: string) => median(samples.get(name) ?? [])
const baseline = rate('Map loop (baseline)')
printTable(
  ['variant', 'events/s', 'ns/event', 'vs baseline'],
  names.map((name) => [
    name,
    formatRate(rate(name)),
    (1e9 / rate(name)).toFixed(0),
    `${((rate(name) / baseline) * 100).toFixed(0)}%`,
  ]),
)
const ratio = rate('model create + merge') / baseline
const file = writeResult('core', {
  workload: { events, keys, skew, rounds, statistic: 'median' },
  ratio,
  ratioAdd: rate('model add') / baseline,
  ratioConflictFree: rate('ConflictFreeUpdate create + merge') / baseline,
  ratioConflictFreeAdd: rate('ConflictFreeUpdate add') / baseline,
  target: { ratio: 0.4, met: ratio >= 0.4 },
  variants: Object.fromEntries(
    names.map((name) => [
      name,
      { eventsPerSec: Math.round(rate(name)), samples: samples.get(name)?.map(Math.round) },
    ]),
  ),
})
console.log(`ratio (model create + merge ÷ baseline) = ${ratio.toFixed(2)}; wrote ${file}`)
