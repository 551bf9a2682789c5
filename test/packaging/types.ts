// The packed packages' published types, as a user's strict project sees them (skipLibCheck: false).

import { createSink } from '@phonon/adapters-django-style'
import { ArgumentError, Codec, defineModel, id, type PhononError, sum } from '@phonon/core'
import { createEventManager, type PgPool, pgliteStore } from '@phonon/events'
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
const pool: PgPool | undefined = undefined
export const used = [
  aggregator,
  error,
  layer,
  createSink,
  MemoryBackend,
  createEventManager,
  pgliteStore,
  pool,
] as const
