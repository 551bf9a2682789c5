import { createZipf } from '@phonon/testkit'

/** One event of the seed's stream. */
export interface WidgetEvent {
  readonly parent_post_id: number
  readonly target_post_id: number
  readonly event_type: 'click' | 'impression'
}

/** The widget an event counts for: `parent-target`. */
export const widgetId = (event: WidgetEvent): string =>
  `${event.parent_post_id}-${event.target_post_id}`

/** What the generator produces. */
export interface StreamOptions {
  /** How many events. */
  readonly events: number
  /** How many distinct widgets (ranks of the Zipf law). */
  readonly widgets: number
  /** The Zipf exponent: how much a few widgets dominate. */
  readonly skew: number
  readonly seed: number
}

/** Clicks and impressions per widget. */
export type Totals = Map<string, { clicks: number; impressions: number }>

/**
 * The seed's event stream: widgets drawn from a Zipf law (widget k is the pair
 * `(k / 100, k % 100)` of parent and target post), one event in ten a click.
 */
export function* widgetEvents(options: StreamOptions): Generator<WidgetEvent> {
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

/** Adds an event to the ground truth (`key`: its widget, when known). */
export function count(truth: Totals, event: WidgetEvent, key = widgetId(event)): void {
  const row = truth.get(key) ?? { clicks: 0, impressions: 0 }
  if (event.event_type === 'click') row.clicks++
  else row.impressions++
  truth.set(key, row)
}
