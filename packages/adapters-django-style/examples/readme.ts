/**
 * The README's example, runnable: `pnpm --filter @phonon/adapters-django-style exec tsx
 * --conditions=@phonon/source examples/readme.ts`. On PGlite, in process: no server needed.
 */
import { id, max, setAppend, sum } from '@phonon/core'
import { column, createSink, defineSqlModel, defineTable, F, SqlUpdate } from '../src/index.js'

// A table, and the update Django users would write for it.
const Widget = defineTable(
  'widgets',
  { id: column.text(), clicks: column.integer(), impressions: column.integer() },
  { key: 'id' },
)
class WidgetUpdate extends SqlUpdate<typeof Widget> {
  static override model = Widget
}

// A @phonon/core model bound to a table: its fields say how each column merges.
const Post = defineSqlModel(
  'Post',
  { id: id(), views: sum(), longestRead: max(), tags: setAppend() },
  { table: 'posts' },
)

const sink = await createSink({ dialect: 'pglite', models: [Widget, Post.sqlModel] })
Widget.bind(sink)
Post.sqlModel.bind(sink)
await sink.migrate()

// Django-style manager.
const [widget, created] = await Widget.objects.getOrCreate({ id: 'w1' })
console.log(created, widget) // true { id: 'w1', clicks: 0, impressions: 0 }
await Widget.objects.filter({ id: 'w1' }).update({ clicks: F('clicks').add(3) })

// Updates merge in process, then execute() is one upsert: clicks = widgets.clicks + excluded.clicks.
const update = new WidgetUpdate({ id: 'w1', doc: { clicks: 1 } })
update.merge(new WidgetUpdate({ id: 'w1', doc: { clicks: 1, impressions: 10 } }))
const claim = { resourceId: update.resourceId, epoch: 1 } // what redis-shard hands the last holder
await update.execute(claim)
await update.execute(claim) // the same epoch again: recorded already, nothing changes
console.log(await Widget.objects.get({ id: 'w1' })) // { id: 'w1', clicks: 5, impressions: 10 }

// Several executions: one transaction, one multi-row statement per table.
await sink.executeMany([
  {
    resourceId: 'widgets.w2',
    epoch: 1,
    update: new WidgetUpdate({ id: 'w2', doc: { clicks: 2 } }),
  },
  {
    resourceId: 'Post.p1',
    epoch: 1,
    update: Post.create({ id: 'p1', views: 3, longestRead: 40, tags: ['ts'] }),
  },
])
await Post.create({ id: 'p1', views: 1, longestRead: 25, tags: ['sql'] }).execute({
  resourceId: 'Post.p1',
  epoch: 2,
})
console.log(await Post.objects.get({ id: 'p1' })) // { id: 'p1', views: 4, longestRead: 40, tags: ['sql', 'ts'] }

await sink.close()
