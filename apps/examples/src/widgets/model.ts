/**
 * The seed's widget: clicks and impressions of a (parent post, target post) pair, a
 * `@phonon/core` model bound to a SQL table `widgets`. Its sums fold into Redis field by field
 * (INCRBY), and the last holder upserts them: `clicks = widgets.clicks + excluded.clicks`.
 */
import { defineSqlModel } from '@phonon/adapters-django-style'
import { Codec, id, sum } from '@phonon/core'
import { type WidgetEvent, widgetId } from './events.js'

export { type WidgetEvent, widgetId } from './events.js'

export const Widget = defineSqlModel(
  'Widget',
  { id: id(), clicks: sum(), impressions: sum() },
  { table: 'widgets' },
)
export type WidgetUpdate = ReturnType<typeof Widget.create>
export const codec = () => new Codec([Widget])

/** The update an event feeds. */
export const widgetUpdate = (event: WidgetEvent): WidgetUpdate =>
  Widget.create({
    id: widgetId(event),
    clicks: event.event_type === 'click' ? 1 : 0,
    impressions: event.event_type === 'click' ? 0 : 1,
  })
