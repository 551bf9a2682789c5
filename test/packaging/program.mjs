// What a user does first with the packed packages, installed from their tarballs: import every
// entry point and run a few sessions end to end on a MemoryShard. Prints one JSON line.

import * as sql from '@phonon/adapters-django-style'
import { Codec, defineModel, id, sum } from '@phonon/core'
import * as events from '@phonon/events'
import { createAggregator } from '@phonon/lru-update'
import * as effectApi from '@phonon/lru-update/effect'
import { MemoryShard } from '@phonon/redis-shard'
import * as streams from '@phonon/streams'

const clicks = {}
const Widget = defineModel(
  'Widget',
  { id: id(), clicks: sum() },
  { onComplete: (widget) => (clicks[widget.id] = (clicks[widget.id] ?? 0) + widget.clicks) },
)
const aggregator = createAggregator({
  shard: new MemoryShard({ codec: new Codec([Widget]) }),
  max: 2,
})
for (const widget of ['w1', 'w2', 'w1', 'w3', 'w1']) {
  await aggregator.offer(Widget.create({ id: widget, clicks: 1 }))
}
await aggregator.close()
console.log(
  JSON.stringify({
    clicks,
    effect: typeof effectApi.layer,
    sql: typeof sql.createSink,
    streams: typeof streams.MemoryBackend,
    events: Object.keys(events).length > 0,
  }),
)
