/**
 * The seed's widget: clicks and impressions of a (parent post, target post) pair, a
 * `@phonon/core` model bound to a SQL table `widgets`. Its sums fold into Redis field by field
 * (INCRBY), and the last holder upserts them: `clicks = widgets.clicks + excluded.clicks`.
 */
import { defineSqlModel } from '@phonon/adapters-django-style'
import { Codec, id, sum } from '@phonon/core'

export const Widget = defineSqlModel(
  'Widget',
  { id: id(), clicks: sum(), impressions: sum() },
  { table: 'widgets' },
)
export type WidgetUpdate = ReturnType<typeof Widget.create>
export const codec = () => new Codec([Widget])

/** One event of the seed's stream. */
export interface WidgetEvent {
  readonly parent_post_id: number
  readonly target_post_id: number
  readonly event_type: 'click' | 'impression'
}

/** The widget an event counts for: `parent-target`. */
export const widgetId = (event: WidgetEvent): string =>
  `${event.parent_post_id}-${event.target_post_id}`

/** The update an event feeds. */
export const widgetUpdate = (event: WidgetEvent): WidgetUpdate =>
  Widget.create({
    id: widgetId(event),
    clicks: event.event_type === 'click' ? 1 : 0,
    impressions: event.event_type === 'click' ? 0 : 1,
  })
