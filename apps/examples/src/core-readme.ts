/**
 * The `@phonon/core` README example: a model, two updates merged, one execute.
 * Run: pnpm --filter @phonon/examples exec tsx --conditions=@phonon/source src/core-readme.ts
 */
import { defineModel, id, max, setAppend, sum } from '@phonon/core'

/** What the example wrote, for its test. */
export const written: unknown[] = []

const Widget = defineModel(
  'Widget',
  { id: id(), clicks: sum(), impressions: sum(), tags: setAppend(), best: max() },
  {
    onComplete: (widget) => {
      written.push(widget)
      console.log('write', widget)
    },
  },
)

const update = Widget.create({ id: 'w1', clicks: 1, tags: ['home'] })
update.merge(Widget.create({ id: 'w1', impressions: 3, best: 7, tags: ['top'] }))
await update.execute()
