/**
 * The README's example, runnable: `pnpm --filter @phonon/adapters-django-style exec tsx
 * --conditions=@phonon/source examples/readme.ts`. On PGlite, in process: no server needed.
 */
import { id, max, setAppend, sum } from '@phonon/core'
import { column, createSink, defineSqlModel, F } from '../src/index.js'

// A table is a @phonon/core model: its fields say how each column merges.
const Widget = defineSqlModel(
  'Widget',
  { id: id(), clicks: sum(), impressions: sum() },
  { table: 'widgets' },
)
const Post = defineSqlModel(
  'Post',
  { id: id(), views: sum(), longestRead: max(), tags: setAppend() },
  { table: 'posts' },
)
// A key of two integers (an update's id names both: '3:7'), and a column no update writes.
const Link = defineSqlModel(
  'Link',
  { id: id(), clicks: sum() },
  {
    table: 'links',
    key: { parent: column.integer(), target: column.integer() },
    columns: { label: column.text({ maxLength: 40 }) },
  },
)

const models = [Widget, Post, Link]
const sink = await createSink({ dialect: 'pglite', models: models.map((m) => m.sqlModel) })
for (const model of models) model.sqlModel.bind(sink)
await sink.migrate()

// Django-style manager.
const [widget, created] = await Widget.objects.getOrCreate({ id: 'w1' })
console.log(created, widget) // true { id: 'w1', clicks: 0, impressions: 0 }
await Widget.objects.filter({ id: 'w1' }).update({ clicks: F('clicks').add(3) })

// Updates merge in process, then execute() is one upsert: clicks = widgets.clicks + excluded.clicks.
const update = Widget.create({ id: 'w1', clicks: 1 })
update.merge(Widget.create({ id: 'w1', clicks: 1, impressions: 10 }))
const claim = { resourceId: update.resourceId, epoch: 1 } // what redis-shard hands the last holder
await update.execute(claim)
await update.execute(claim) // the same epoch again: recorded already, nothing changes
console.log(await Widget.objects.get({ id: 'w1' })) // { id: 'w1', clicks: 5, impressions: 10 }

await Link.create({ id: '3:7', clicks: 2 }).execute()
await Link.objects.filter({ parent: 3, target: 7 }).update({ label: 'home → post 7' })
console.log(await Link.objects.get({ parent: 3, target: 7 })) // { parent: 3, target: 7, clicks: 2, label: 'home → post 7' }

// Several executions: one transaction, one multi-row statement per table; an item that fails
// fails alone (in `failed`), the others are written.
const { applied, failed } = await sink.executeMany([
  { resourceId: 'Widget.w2', epoch: 1, update: Widget.create({ id: 'w2', clicks: 2 }) },
  {
    resourceId: 'Post.p1',
    epoch: 1,
    update: Post.create({ id: 'p1', views: 3, longestRead: 40, tags: ['ts'] }),
  },
  { resourceId: 'Link.3:x', epoch: 1, update: Link.create({ id: '3:x', clicks: 1 }) },
])
console.log(
  applied,
  failed.map((f) => `${f.index} ${f.error.name}`),
) // 2 [ '2 ArgumentError' ]
await Post.create({ id: 'p1', views: 1, longestRead: 25, tags: ['sql'] }).execute({
  resourceId: 'Post.p1',
  epoch: 2,
})
console.log(await Post.objects.get({ id: 'p1' })) // { id: 'p1', views: 4, longestRead: 40, tags: ['sql', 'ts'] }

await sink.close()
