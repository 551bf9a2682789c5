/**
 * The widget workload the aggregator benchmarks share: Zipf events over many keys generated
 * before any timing, the 2-field sum model they are offered as, and the core-merge baseline (the
 * same events merged into a Map, no eviction, no Redis).
 *
 * @module
 */
import { defineModel, id, sum } from '@phonon/core'
import { seededRandom, zipfSample } from '@phonon/testkit'

/** The share of events that are clicks; the others are impressions. */
export const CLICK_SHARE = 1 / 16

/** The model every event is offered as: a widget's clicks and impressions. */
export const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })

/** One event as a model update. */
export type WidgetUpdate = ReturnType<typeof Widget.create>

/** Options of {@link generateWorkload}. */
export interface WorkloadOptions {
  /** How many events. */
  readonly events: number
  /** Over how many keys (Zipf ranks 1..keys). */
  readonly keys: number
  /** The Zipf exponent. */
  readonly skew: number
  /** Seeds the key ranks (`seed`) and the event types (`seed + 1`). */
  readonly seed: number
}

/** Pre-generated events: arrays indexed by event, and each key's id. */
export interface Workload extends WorkloadOptions {
  /** The key rank of each event, 1..keys. */
  readonly keyOf: Int32Array
  /** 1 for a click, 0 for an impression. */
  readonly clickOf: Uint8Array
  /** The id of each key rank (index 0 unused). */
  readonly ids: readonly string[]
}

/**
 * Generates the events: Zipf(skew) key ranks, one click in sixteen. Deterministic for a seed.
 *
 * @param options - events, keys, skew and seed.
 * @returns the events as typed arrays, and the keys' ids (`w1`, `w2`…).
 * @example
 * const workload = generateWorkload({ events: 1e6, keys: 1e6, skew: 1.1, seed: 1 })
 */
export function generateWorkload(options: WorkloadOptions): Workload {
  const { events, keys, skew, seed } = options
  const keyOf = zipfSample({ n: keys, s: skew, seed, count: events })
  const random = seededRandom(seed + 1)
  const clickOf = new Uint8Array(events)
  for (let i = 0; i < events; i++) clickOf[i] = random() < CLICK_SHARE ? 1 : 0
  const ids = Array.from({ length: keys + 1 }, (_, k) => `w${k}`)
  return { ...options, keyOf, clickOf, ids }
}

/** Event `i` of `workload` as a model update (created at the time of the call). */
export function widgetUpdate(workload: Workload, i: number): WidgetUpdate {
  const click = workload.clickOf[i] as number
  return Widget.create({
    id: workload.ids[workload.keyOf[i] as number] as string,
    clicks: click,
    impressions: 1 - click,
  })
}

/**
 * The core-merge baseline: every event created as an update and merged into a Map of updates, no
 * eviction, no Redis — what the aggregator would do with an unbounded LRU and no shared tier.
 *
 * @returns events per second.
 */
export function coreMergeRate(workload: Workload): number {
  const held = new Map<string, WidgetUpdate>()
  const started = performance.now()
  for (let i = 0; i < workload.events; i++) {
    const update = widgetUpdate(workload, i)
    const entry = held.get(update.resourceId)
    if (entry === undefined) held.set(update.resourceId, update)
    else entry.merge(update)
  }
  return workload.events / ((performance.now() - started) / 1000)
}
