// The packed packages' published types, as a user's strict project sees them (skipLibCheck: false).
// Not yet @phonon/events: its stores' types import pg's (TS7016 without @types/pg) and PGlite's
// (which do not check), as the SQL adapter's did before it declared the driver shapes it uses.

import { createSink } from '@phonon/adapters-django-style'
import { ArgumentError, Codec, defineModel, id, type PhononError, sum } from '@phonon/core'
import { type Aggregator, createAggregator } from '@phonon/lru-update'
import { layer } from '@phonon/lru-update/effect'
import { type Claim, MemoryShard } from '@phonon/redis-shard'
import { MemoryBackend } from '@phonon/streams'

const Widget = defineModel(
  'Widget',
  { id: id(), clicks: sum() },
  {
    onComplete: (widget: { id: string; clicks: number }, claim: Claim) =>
      void [widget, claim.epoch],
  },
)
const shard = new MemoryShard({ codec: new Codec([Widget]) })
const aggregator: Aggregator = createAggregator({ shard, max: 2 })
const error: PhononError = new ArgumentError('bad')
export const used = [aggregator, error, layer, createSink, MemoryBackend] as const
