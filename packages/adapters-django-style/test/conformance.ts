/**
 * The behaviour every backend must show, run by pglite.test.ts, postgres.test.ts and
 * mariadb.test.ts: getOrCreate, F expressions, upsert-with-merge under concurrency, batched
 * execution, idempotent executions, fenced writes, core models' field semantics, and every bad
 * input rejected with ArgumentError before any SQL is sent.
 */
import {
  ArgumentError,
  Codec,
  defineModel,
  diff,
  id,
  lastWrite,
  max,
  min,
  SinkError,
  StaleFencingToken,
  type Stamped,
  setAppend,
  sum,
} from '@phonon/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { column, DoesNotExist, defineSqlModel, type Execution, F, type Sink } from '../src/index.js'
import type { Backend, OpenBackend } from './backends.js'

/** The tables of the suite, declared afresh for each backend. */
function declare() {
  const Widget = defineSqlModel(
    'Widget',
    {
      id: id(),
      clicks: sum(),
      impressions: sum(),
      best: max(),
      worst: min(),
      revenue: sum('float'),
      big: sum('bigint'),
    },
    {
      table: 'widgets',
      collection: 'widgets',
      columns: { worst: column.integer({ merge: 'min' }), label: column.text({ maxLength: 20 }) },
    },
  )
  // A composite integer key: an id names it as 'parent:target'.
  const Pair = defineSqlModel(
    'Pair',
    { id: id(), clicks: sum() },
    {
      table: 'pairs',
      collection: 'pairs',
      key: { parent: column.integer(), target: column.integer() },
    },
  )
  const Profile = defineSqlModel(
    'Profile',
    {
      id: id(),
      visits: sum(),
      revenue: sum('float'),
      total: sum('bigint'),
      taken: diff(),
      top: max(),
      low: min(),
      email: lastWrite<string>(),
      tags: setAppend(),
    },
    { table: 'profiles' },
  )
  return { Widget, Pair, Profile }
}

type Models = ReturnType<typeof declare>

let counter = 0
/** An id no other test of the run uses. */
function uid(prefix = 'w'): string {
  return `${prefix}${++counter}-${Math.random().toString(36).slice(2, 8)}`
}

/** The execution of `resourceId` at `epoch`, optionally fenced. */
function run(resourceId: string, epoch: number, fencingToken?: number): Execution {
  return fencingToken === undefined ? { resourceId, epoch } : { resourceId, epoch, fencingToken }
}

/** The SQLSTATE of a driver's error (pg, PGlite: `code`; mysql2: `sqlState`). */
function sqlStateOf(error: unknown): unknown {
  const e = error as { code?: unknown; sqlState?: unknown }
  return e?.sqlState ?? e?.code
}

/**
 * Defines the suite for one backend.
 *
 * @param name - the backend's name in test titles.
 * @param open - opens the backend on the suite's tables.
 * @param options.propertyRuns - fast-check runs of each property (servers are slower).
 */
export function conformanceSuite(
  name: string,
  open: OpenBackend,
  options: { propertyRuns: number },
): void {
  describe(`conformance: ${name}`, () => {
    const models: Models = declare()
    const { Widget, Pair, Profile } = models
    type WidgetDoc = Omit<Parameters<typeof Widget.create>[0], 'id'>
    /** An update of the widget `key`. */
    const widget = (key: string, doc: WidgetDoc = {}) => Widget.create({ id: key, ...doc })
    let backend: Backend
    let sink: Sink

    beforeAll(async () => {
      backend = await open([Widget.sqlModel, Pair.sqlModel, Profile.sqlModel])
      sink = backend.sink
      for (const model of [Widget, Pair, Profile]) model.sqlModel.bind(sink)
    }, 60_000)

    afterAll(async () => {
      await backend?.drop()
    })

    /** A claim of `widgets.<key>` at `epoch` with its update. */
    function claim(key: string, epoch: number, doc: WidgetDoc) {
      return { ...run(`widgets.${key}`, epoch), update: widget(key, doc) }
    }

    /** The epochs recorded for a resource. */
    async function recorded(resourceId: string): Promise<number[]> {
      const rows = await sink.db
        .selectFrom(sink.executionsTable)
        .select('epoch')
        .where('resource_id', '=', resourceId)
        .execute()
      return rows.map((r) => Number(r.epoch)).sort((x, y) => x - y)
    }

    /** Every row of every table of the suite (and the recorded executions), sorted. */
    async function snapshot(): Promise<unknown> {
      const tables = ['widgets', 'pairs', 'profiles', 'profiles__tags']
      const out: Record<string, unknown> = {}
      for (const table of tables) {
        const rows = await sink.db.selectFrom(table).selectAll().execute()
        out[table] = rows
          .map((r) => JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? `${v}` : v)))
          .sort()
      }
      const executions = await sink.db
        .selectFrom(sink.executionsTable)
        .select(['resource_id', 'epoch'])
        .execute()
      out.executions = executions.map((e) => `${e.resource_id}@${e.epoch}`).sort()
      return out
    }

    /** Asserts that `attempt` throws `ArgumentError` without sending any SQL or changing a row. */
    async function rejectsBeforeSql(attempt: () => unknown): Promise<void> {
      const before = await snapshot()
      backend.queries.length = 0
      let thrown: unknown
      try {
        await attempt()
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(ArgumentError)
      expect(backend.queries).toEqual([])
      expect(await snapshot()).toEqual(before)
    }

    it('migrate() is idempotent', async () => {
      await sink.migrate()
      await sink.migrate()
      expect(await Widget.objects.filter({ label: 'never' }).count()).toBe(0)
    })

    describe('getOrCreate and get', () => {
      it('creates the row once, with its defaults, and returns it afterwards', async () => {
        const key = uid()
        expect(await Widget.objects.getOrUndefined({ id: key })).toBeUndefined()
        const missing = await Widget.objects.get({ id: key }).catch((error: unknown) => error)
        expect(missing).toBeInstanceOf(DoesNotExist)
        expect((missing as DoesNotExist).message).toBe(`widgets has no row id = "${key}"`)
        const [row, created] = await Widget.objects.getOrCreate(
          { id: key },
          { label: 'new', clicks: 5 },
        )
        expect(created).toBe(true)
        expect(row).toEqual({
          id: key,
          clicks: 5,
          impressions: 0,
          best: null,
          worst: null,
          revenue: 0,
          big: 0n,
          label: 'new',
        })
        const [again, createdAgain] = await Widget.objects.getOrCreate(
          { id: key },
          { label: 'other' },
        )
        expect(createdAgain).toBe(false)
        expect(again).toEqual(row)
        expect(await Widget.objects.get({ id: key })).toEqual(row)
      })

      it('creates exactly once under 8 concurrent calls', async () => {
        const key = uid()
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            Widget.objects.getOrCreate({ id: key }, { clicks: i }),
          ),
        )
        expect(results.filter(([, created]) => created)).toHaveLength(1)
        const winner = results.find(([, created]) => created)?.[0]
        for (const [row] of results) expect(row).toEqual(winner)
      })

      it('works with a composite integer key, and keeps keys that differ only in case or trailing space apart', async () => {
        const [pair, created] = await Pair.objects.getOrCreate({ parent: 7, target: 9 })
        expect(created).toBe(true)
        expect(pair).toEqual({ parent: 7, target: 9, clicks: 0 })
        const base = uid('k')
        for (const key of [base, base.toUpperCase(), `${base} `, `${base}é`]) {
          expect((await Widget.objects.getOrCreate({ id: key }))[1]).toBe(true)
        }
        const keys = (await Widget.objects.all())
          .map((r) => r.id)
          .filter((k) => k.toLowerCase().startsWith(base))
        expect(keys.sort()).toEqual([base, base.toUpperCase(), `${base} `, `${base}é`].sort())
      })

      it('all() and filter().all() order by key', async () => {
        const label = uid('L').slice(0, 20)
        for (const key of ['c', 'a', 'b'])
          await Widget.objects.getOrCreate({ id: `${label}${key}` }, { label })
        const rows = await Widget.objects.filter({ label }).all()
        expect(rows.map((r) => r.id)).toEqual(['a', 'b', 'c'].map((k) => `${label}${k}`))
        expect(await Widget.objects.filter({ label }).count()).toBe(3)
      })
    })

    describe('filter().update() with F expressions', () => {
      it('adds, subtracts and keeps extrema in SQL', async () => {
        const key = uid()
        await Widget.objects.getOrCreate({ id: key }, { clicks: 10 })
        expect(
          await Widget.objects.filter({ id: key }).update({
            clicks: F('clicks').add(3),
            impressions: F('impressions').subtract(2),
            best: F('best').greatest(2.5),
            worst: F('worst').least(4),
          }),
        ).toBe(1)
        expect(await Widget.objects.get({ id: key })).toMatchObject({
          clicks: 13,
          impressions: -2,
          best: 2.5,
          worst: 4,
        })
        await Widget.objects.filter({ id: key }).update({
          best: F('best').greatest(1),
          worst: F('worst').least(9).subtract(1),
          clicks: F('clicks').add(F('impressions')).greatest(0),
        })
        expect(await Widget.objects.get({ id: key })).toMatchObject({
          clicks: 11,
          best: 2.5,
          worst: 3,
        })
      })

      it('updates every matching row, sets plain values, and counts rows matched', async () => {
        const label = uid('M').slice(0, 20)
        const keys = [uid(), uid(), uid()]
        for (const key of keys) await Widget.objects.getOrCreate({ id: key }, { label, clicks: 1 })
        expect(
          await Widget.objects
            .filter({ label })
            .update({ clicks: F('clicks').add(1), revenue: 2.5 }),
        ).toBe(3)
        // Matched, even when nothing changes.
        expect(await Widget.objects.filter({ label }).update({ revenue: 2.5 })).toBe(3)
        for (const key of keys) {
          expect(await Widget.objects.get({ id: key })).toMatchObject({
            clicks: 2,
            revenue: 2.5,
            label,
          })
        }
        expect(await Widget.objects.filter({ label: null, id: keys[0] as string }).count()).toBe(0)
        expect(await Widget.objects.filter({ id: uid() }).update({ clicks: 1 })).toBe(0)
      })
    })

    describe('upsert with merge', () => {
      it('16 concurrent executions on the same row give the exact total', async () => {
        const key = uid()
        await Promise.all(
          Array.from({ length: 16 }, (_, i) =>
            widget(key, { clicks: i + 1, impressions: 1, best: i }).execute(
              run(`widgets.${key}`, i + 1),
            ),
          ),
        )
        expect(await Widget.objects.get({ id: key })).toMatchObject({
          clicks: 136,
          impressions: 16,
          best: 15,
        })
        const recorded = await sink.db
          .selectFrom(sink.executionsTable)
          .select('epoch')
          .where('resource_id', '=', `widgets.${key}`)
          .execute()
        expect(recorded).toHaveLength(16)
      })

      it('16 concurrent plain executes (no execution id) give the exact total too', async () => {
        const key = uid()
        await Promise.all(Array.from({ length: 16 }, () => widget(key, { clicks: 2 }).execute()))
        expect((await Widget.objects.get({ id: key }))?.clicks).toBe(32)
      })

      it('is one statement: an upsert with the increment computed in SQL, not read-modify-write', async () => {
        const key = uid()
        backend.queries.length = 0
        await widget(key, { clicks: 4 }).execute()
        expect(backend.queries).toHaveLength(1)
        expect(backend.queries[0]).toMatch(/^insert into .* (on conflict|on duplicate key update)/i)
        expect(backend.queries[0]).toMatch(
          sink.flavor === 'postgres'
            ? /"clicks" = COALESCE\(("\w+"\.)?"widgets"\."clicks", 0\) \+ "excluded"\."clicks"/
            : /`clicks` = COALESCE\(`clicks`, 0\) \+ VALUES\(`clicks`\)/,
        )
      })

      it('an execution with its id is one statement on PostgreSQL and PGlite, a transaction on MySQL', async () => {
        const key = uid()
        backend.queries.length = 0
        await widget(key, { clicks: 4 }).execute(run(`widgets.${key}`, 1))
        if (sink.flavor === 'postgres') {
          expect(backend.queries).toHaveLength(1)
          expect(backend.queries[0]).toMatch(
            /^with "recorded" as \(insert into .* on conflict .* do nothing returning/,
          )
        } else {
          expect(backend.queries[0]).toMatch(/^(begin|start transaction)/i)
          expect(backend.queries.at(-1)).toMatch(/^commit/i)
        }
        // An empty doc still records its execution and creates nothing new.
        expect(await sink.execute(widget(key), run(`widgets.${key}`, 2))).toEqual({ applied: true })
        expect(await sink.execute(widget(key), run(`widgets.${key}`, 2))).toEqual({
          applied: false,
        })
        expect((await Widget.objects.get({ id: key }))?.clicks).toBe(4)
        const fresh = uid()
        expect(await sink.execute(widget(fresh), run(`widgets.${fresh}`, 1))).toEqual({
          applied: true,
        })
        expect(await Widget.objects.get({ id: fresh })).toMatchObject({ clicks: 0, best: null })
      })

      it('merges in process first: merge adds sums and keeps extrema', async () => {
        const key = uid()
        const update = widget(key, { clicks: 1, best: 3, worst: 5 })
        update.merge(widget(key, { clicks: 2, best: 1, worst: 2, revenue: 0.5 }))
        update.add({ impressions: 7 })
        expect(update.aggregate()).toMatchObject({
          clicks: 3,
          best: 3,
          worst: 2,
          revenue: 0.5,
          impressions: 7,
        })
        await update.execute()
        expect(await Widget.objects.get({ id: key })).toMatchObject({
          clicks: 3,
          impressions: 7,
          best: 3,
          worst: 2,
          revenue: 0.5,
        })
      })

      it('objects.upsert merges a delta into a row with a composite key', async () => {
        await Pair.objects.upsert({ parent: 1, target: 2 }, { clicks: 5 })
        await Pair.objects.upsert({ parent: 1, target: 2 }, { clicks: -2 }, run('pairs.1:2', 1))
        await Pair.objects.upsert({ parent: 1, target: 2 }, { clicks: 100 }, run('pairs.1:2', 1))
        expect(await Pair.objects.get({ parent: 1, target: 2 })).toEqual({
          parent: 1,
          target: 2,
          clicks: 3,
        })
      })

      it('an update of a composite key survives the codec (what the shared tier stores)', async () => {
        const codec = new Codec([Pair])
        const update = Pair.create({ id: '3:4', clicks: 6 })
        const copy = codec.parse(codec.stringify(update))
        await copy.execute(run('pairs.3:4', 1))
        expect(await Pair.objects.get({ parent: 3, target: 4 })).toMatchObject({ clicks: 6 })
        // Its id names the key: a write of another id is another row.
        await Pair.create({ id: '4:3', clicks: 1 }).execute()
        expect(await Pair.objects.get({ parent: 4, target: 3 })).toMatchObject({ clicks: 1 })
      })
    })

    describe('batched execution', () => {
      it('writes many executions with one multi-row statement per table, in one transaction', async () => {
        const keys = Array.from({ length: 20 }, () => uid())
        const items = [
          ...keys.map((key, i) => ({
            ...run(`widgets.${key}`, 1),
            update: widget(key, i % 2 ? { clicks: i } : { impressions: i, best: i }),
          })),
          ...keys.map((_, i) => ({
            ...run(`pairs.900:${i}`, 1),
            update: Pair.create({ id: `900:${i}`, clicks: i }),
          })),
          widget(keys[0] as string, { clicks: 1000 }),
        ]
        backend.queries.length = 0
        expect(await sink.executeMany(items)).toEqual({ applied: 41, skipped: 0, failed: [] })
        const inserts = (table: string) =>
          backend.queries.filter((q) =>
            new RegExp(`^insert into (["\`]\\w+["\`]\\.)?["\`]${table}["\`] `).test(q),
          )
        expect(inserts('widgets')).toHaveLength(2) // keys[0] twice: a second round
        expect(inserts('pairs')).toHaveLength(1)
        expect(inserts(sink.executionsTable)).toHaveLength(1)
        expect(backend.queries.filter((q) => /^(begin|start transaction)/i.test(q))).toHaveLength(1)
        for (const [i, key] of keys.entries()) {
          const row = await Widget.objects.get({ id: key })
          expect(row).toMatchObject(
            i % 2 ? { clicks: i } : { clicks: i === 0 ? 1000 : 0, impressions: i, best: i },
          )
          expect((await Pair.objects.get({ parent: 900, target: i }))?.clicks).toBe(i)
        }
      })

      it('10,000 rows: one statement on PostgreSQL (arrays), split past 30,000 placeholders on MySQL', async () => {
        const updates = Array.from({ length: 10_000 }, (_, i) =>
          Pair.create({ id: `77:${i}`, clicks: 1 }),
        )
        backend.queries.length = 0
        expect(await sink.executeMany(updates)).toEqual({ applied: 10_000, skipped: 0, failed: [] })
        expect(backend.queries.filter((q) => /^insert into/i.test(q))).toHaveLength(
          sink.flavor === 'postgres' ? 1 : 2,
        )
        expect(await Pair.objects.filter({ parent: 77, clicks: 1 }).count()).toBe(10_000)
        // Keep the snapshots of later tests small.
        await sink.db.deleteFrom('pairs').where('parent', '=', 77).execute()
      })

      it('a stale row fails alone: the other rows of the batch are written', async () => {
        const fenced = uid()
        await widget(fenced, { clicks: 1 }).execute(run(`widgets.${fenced}`, 1, 10))
        const other = uid()
        const result = await sink.executeMany([
          {
            ...run(`widgets.${other}`, 1),
            update: widget(other, { clicks: 1 }),
          },
          {
            ...run(`widgets.${fenced}`, 2, 9),
            update: widget(fenced, { clicks: 1 }),
          },
        ])
        expect(result.applied).toBe(1)
        expect(result.failed.map((f) => [f.index, f.resourceId])).toEqual([
          [1, `widgets.${fenced}`],
        ])
        expect(result.failed[0]?.error).toBeInstanceOf(StaleFencingToken)
        expect((await Widget.objects.get({ id: other })).clicks).toBe(1)
        expect((await Widget.objects.get({ id: fenced })).clicks).toBe(1)
        expect(await recorded(`widgets.${fenced}`)).toEqual([1])
      })

      it('a row the database refuses fails alone, with a SinkError naming it; the valid rows are written', async () => {
        const full = uid()
        await Widget.objects.upsert({ id: full }, { big: 2n ** 63n - 1n })
        const keys = Array.from({ length: 5 }, () => uid())
        const claims = [
          ...keys.slice(0, 2).map((key) => claim(key, 1, { clicks: 2 })),
          claim(full, 1, { clicks: 1, big: 1 }), // BIGINT overflow: the database refuses the row
          ...keys.slice(2).map((key) => claim(key, 1, { clicks: 2 })),
        ]
        const result = await sink.executeMany(claims)
        expect(result.applied).toBe(5)
        expect(result.failed.map((f) => [f.index, f.resourceId])).toEqual([[2, `widgets.${full}`]])
        const error = result.failed[0]?.error
        expect(error).toBeInstanceOf(SinkError)
        expect(error?.message).toMatch(new RegExp(`^widgets\\.${full}: .* refused it: .*range`))
        expect(sqlStateOf(error?.cause)).toMatch(/^22/)
        for (const key of keys) expect((await Widget.objects.get({ id: key })).clicks).toBe(2)
        expect(await Widget.objects.get({ id: full })).toMatchObject({
          clicks: 0,
          big: 2n ** 63n - 1n,
        })
        expect(await recorded(`widgets.${full}`)).toEqual([])
        // The same batch again: the five are recorded already, the sixth fails again.
        const again = await sink.executeMany(claims)
        expect([again.applied, again.skipped, again.failed.length]).toEqual([0, 5, 1])
        for (const key of keys) expect((await Widget.objects.get({ id: key })).clicks).toBe(2)
        // Alone, the same refusal is thrown.
        await expect(sink.execute(claims[2]!.update, claims[2])).rejects.toBeInstanceOf(SinkError)
      })

      it('an invalid item fails alone, before any SQL; the valid items are written', async () => {
        const [a, b] = [uid(), uid()]
        const result = await sink.executeMany([
          null as never,
          claim(a, 1, { clicks: 3 }),
          { ...run('widgets.other', 1), update: widget(b, { clicks: 1 }) },
          { resourceId: 'widgets.x', epoch: 1 } as never,
          defineModel('Loose', { id: id(), n: sum() }).create({ id: 'x' }),
          claim(b, 1, { clicks: 4 }),
        ])
        expect(result.applied).toBe(2)
        expect(result.failed.map((f) => [f.index, f.resourceId])).toEqual([
          [0, undefined],
          [2, `widgets.${b}`],
          [3, 'widgets.x'],
          [4, 'Loose.x'],
        ])
        for (const { error } of result.failed) expect(error).toBeInstanceOf(ArgumentError)
        expect((await Widget.objects.get({ id: a })).clicks).toBe(3)
        expect((await Widget.objects.get({ id: b })).clicks).toBe(4)
      })
    })

    describe('idempotent executions', () => {
      it('executing the same epoch twice changes nothing the second time', async () => {
        const key = uid()
        const execution = run(`widgets.${key}`, 42)
        expect(await sink.execute(widget(key, { clicks: 5 }), execution)).toEqual({
          applied: true,
        })
        const before = await snapshot()
        expect(await sink.execute(widget(key, { clicks: 5 }), execution)).toEqual({
          applied: false,
        })
        await widget(key, { clicks: 5 }).execute(execution)
        expect(await snapshot()).toEqual(before)
        await widget(key, { clicks: 1 }).execute(run(`widgets.${key}`, 43))
        expect((await Widget.objects.get({ id: key }))?.clicks).toBe(6)
      })

      it('12 concurrent executions of the same epoch apply exactly once', async () => {
        const key = uid()
        const results = await Promise.all(
          Array.from({ length: 12 }, () =>
            sink.execute(widget(key, { clicks: 3 }), run(`widgets.${key}`, 7)),
          ),
        )
        expect(results.filter((r) => r.applied)).toHaveLength(1)
        expect((await Widget.objects.get({ id: key }))?.clicks).toBe(3)
      })

      it('batches skip executions recorded earlier or repeated in the batch, also concurrently', async () => {
        const keys = Array.from({ length: 6 }, () => uid())
        const item = (key: string, epoch: number) => ({
          ...run(`widgets.${key}`, epoch),
          update: widget(key, { clicks: 1 }),
        })
        await sink.executeMany([item(keys[0] as string, 1)])
        expect(
          await sink.executeMany([
            item(keys[0] as string, 1),
            item(keys[1] as string, 1),
            item(keys[1] as string, 1),
          ]),
        ).toEqual({ applied: 1, skipped: 2, failed: [] })
        const batch = keys.map((key) => item(key, 1))
        const results = await Promise.all([
          sink.executeMany(batch),
          sink.executeMany([...batch].reverse()),
          sink.executeMany(batch.slice(2)),
        ])
        expect(results.reduce((n, r) => n + r.applied, 0)).toBe(4)
        for (const key of keys) expect((await Widget.objects.get({ id: key }))?.clicks).toBe(1)
      })
    })

    describe('fenced writes', () => {
      it('rejects a lower token with StaleFencingToken and changes nothing; equal and higher pass', async () => {
        const key = uid()
        const resource = `widgets.${key}`
        await widget(key, { clicks: 1 }).execute(run(resource, 1, 5))
        const before = await snapshot()
        const stale = widget(key, { clicks: 100 })
        await expect(stale.execute(run(resource, 2, 3))).rejects.toBeInstanceOf(StaleFencingToken)
        await expect(stale.execute(run(resource, 2, 3))).rejects.toThrow(/fencing token 3/)
        expect(await snapshot()).toEqual(before) // epoch 2 not recorded either
        await widget(key, { clicks: 1 }).execute(run(resource, 3, 5))
        await widget(key, { clicks: 1 }).execute(run(resource, 2, 8))
        await expect(
          widget(key, { clicks: 1 }).execute(run(resource, 4, 7)),
        ).rejects.toBeInstanceOf(StaleFencingToken)
        expect((await Widget.objects.get({ id: key }))?.clicks).toBe(3)
        const fences = await sink.db
          .selectFrom('widgets')
          .select('phonon_fence')
          .where('id', '=', key)
          .execute()
        expect(Number(fences[0]?.phonon_fence)).toBe(8)
      })

      it('applies the tokens of one batch in order: rising passes, falling is stale', async () => {
        const key = uid()
        const item = (epoch: number, token: number) => ({
          ...run(`widgets.${key}`, epoch, token),
          update: widget(key, { clicks: 1 }),
        })
        expect(await sink.executeMany([item(1, 4), item(2, 6)])).toEqual({
          applied: 2,
          skipped: 0,
          failed: [],
        })
        const { failed, ...counts } = await sink.executeMany([item(3, 7), item(4, 6)])
        expect(counts).toEqual({ applied: 1, skipped: 0 })
        expect(failed.map((f) => [f.index, f.resourceId])).toEqual([[1, `widgets.${key}`]])
        expect(failed[0]?.error).toBeInstanceOf(StaleFencingToken)
        expect((await Widget.objects.get({ id: key })).clicks).toBe(3)
      })

      it('fences a core model and its set members too', async () => {
        const key = uid('p')
        await Profile.create({ id: key, visits: 1, tags: ['a'] }).execute(
          run(`Profile.${key}`, 1, 2),
        )
        await expect(
          Profile.create({ id: key, visits: 1, tags: ['b'] }).execute(run(`Profile.${key}`, 2, 1)),
        ).rejects.toBeInstanceOf(StaleFencingToken)
        expect(await Profile.objects.get({ id: key })).toMatchObject({ visits: 1, tags: ['a'] })
      })
    })

    describe('core models bound to a table', () => {
      it('maps sum, diff, float and bigint sums, max, min, lastWrite and setAppend', async () => {
        const key = uid('p')
        const big = 2n ** 60n
        await Profile.create({
          id: key,
          visits: 2,
          revenue: 1.25,
          total: big,
          taken: 3,
          top: 5,
          low: 5,
          email: { at: 10, value: 'b@x' },
          tags: ['b', 'a'],
        }).execute()
        await Profile.create({
          id: key,
          visits: 3,
          revenue: 0.5,
          total: big,
          taken: 1,
          top: 2,
          low: 1,
          email: { at: 9, value: 'z@x' },
          tags: ['c', 'a'],
        }).execute(run(`Profile.${key}`, 1))
        expect(await Profile.objects.get({ id: key })).toEqual({
          id: key,
          visits: 5,
          revenue: 1.75,
          total: 2n * big,
          taken: -4,
          top: 5,
          low: 1,
          email: { at: 10, value: 'b@x' },
          tags: ['a', 'b', 'c'],
        })
      })

      it('an empty aggregate writes the row with identities and leaves extrema and lastWrite alone', async () => {
        const key = uid('p')
        await Profile.create({ id: key, top: 3, email: { at: 1, value: 'a' } }).execute()
        await Profile.create({ id: key }).execute()
        expect(await Profile.objects.get({ id: key })).toMatchObject({
          top: 3,
          low: null,
          email: { at: 1, value: 'a' },
          visits: 0,
        })
      })

      it('lastWrite ends as core merges it, in any execution order (ties: larger JSON text)', async () => {
        const value = fc.oneof(
          fc.constantFrom('a', 'B', 'é', 'Z', 'a b', '\u{1F600}', '\uFFFD'),
          fc.string({ unit: 'binary', maxLength: 4 }),
        )
        const stamped = fc.record({ at: fc.integer({ min: 0, max: 3 }), value })
        await fc.assert(
          fc.asyncProperty(fc.array(stamped, { minLength: 1, maxLength: 6 }), async (writes) => {
            const key = uid('lw')
            for (const email of writes) await Profile.create({ id: key, email }).execute()
            const merged = writes
              .map((email) => Profile.create({ id: key, email }))
              .reduce((a, b) => {
                a.merge(b)
                return a
              })
            const expected = merged.aggregate().email as Stamped<string>
            expect((await Profile.objects.get({ id: key }))?.email).toEqual(expected)
          }),
          { numRuns: options.propertyRuns },
        )
      }, 60_000)

      it('the model’s execute(claim) records the execution: re-executing it changes nothing', async () => {
        const key = uid('p')
        const update = Profile.create({ id: key, visits: 4, tags: ['x'] })
        await update.execute(run(`Profile.${key}`, 5))
        await update.execute(run(`Profile.${key}`, 5))
        expect(await Profile.objects.get({ id: key })).toMatchObject({ visits: 4, tags: ['x'] })
        expect(
          await sink.execute(Profile.create({ id: key, visits: 1 }), run(`Profile.${key}`, 6)),
        ).toEqual({
          applied: true,
        })
        expect((await Profile.objects.get({ id: key }))?.visits).toBe(5)
      })
    })

    describe('bad input is an ArgumentError before any SQL, and no row changes', () => {
      const key = 'bad-input-row'
      beforeAll(async () => {
        await Widget.objects.getOrCreate({ id: key }, { clicks: 1 })
      })

      const cases: Array<[string, () => unknown]> = [
        ['an unknown field in an update', () => widget(key, { nope: 1 } as never).execute()],
        ['a NaN in a doc', () => widget(key, { clicks: Number.NaN }).execute()],
        [
          'an Infinity in a float doc',
          () => widget(key, { revenue: Number.POSITIVE_INFINITY }).execute(),
        ],
        ['a string for an integer', () => widget(key, { clicks: '1' as never }).execute()],
        ['a fraction for an integer column', () => widget(key, { clicks: 1.5 }).execute()],
        [
          'a column that is not a field in an update',
          () => widget(key, { label: 1 } as never).execute(),
        ],
        [
          'a fraction for a min field stored in an integer column',
          () => widget(key, { worst: 1.5 }).execute(),
        ],
        [
          'an id of a composite key with one part',
          () => Pair.create({ id: '1', clicks: 1 }).execute(),
        ],
        [
          'an id of a composite key with three parts',
          () => Pair.create({ id: '1:2:3', clicks: 1 }).execute(),
        ],
        [
          'an id with a text for an integer key column',
          () => Pair.create({ id: 'a:2', clicks: 1 }).execute(),
        ],
        [
          'an id past the integer range in a batch',
          async () => {
            const { failed } = await sink.executeMany([
              Pair.create({ id: '1:9007199254740993', clicks: 1 }),
            ])
            throw failed[0]?.error
          },
        ],
        [
          'an unknown column in upsert',
          () => Widget.objects.upsert({ id: key }, { nope: 1 } as never),
        ],
        ['a bigint out of range', () => Widget.objects.upsert({ id: key }, { big: 2n ** 63n })],
        [
          'a non-finite max',
          () => Widget.objects.upsert({ id: key }, { best: Number.NEGATIVE_INFINITY }),
        ],
        ['a too long key', () => Widget.objects.upsert({ id: 'x'.repeat(513) }, { clicks: 1 })],
        ['a NUL in a key', () => Widget.objects.upsert({ id: 'a\u0000b' }, { clicks: 1 })],
        [
          'a lone surrogate in a key',
          () => Widget.objects.upsert({ id: 'a\ud800' }, { clicks: 1 }),
        ],
        ['a missing key', () => Widget.objects.upsert({} as never, { clicks: 1 })],
        [
          'an extra key column',
          () => Widget.objects.upsert({ id: key, clicks: 1 } as never, { clicks: 1 }),
        ],
        [
          'a non-string set member',
          () => Profile.objects.upsert({ id: key }, { tags: [1] as never }),
        ],
        [
          'a too long set member',
          () => Profile.objects.upsert({ id: key }, { tags: ['m'.repeat(256)] }),
        ],
        [
          'a lastWrite without at',
          () => Profile.objects.upsert({ id: key }, { email: { value: 'a' } as never }),
        ],
        [
          'a lastWrite with a non-JSON value',
          () =>
            Profile.objects.upsert({ id: key }, { email: { at: 1, value: (() => 1) as never } }),
        ],
        [
          'update() of an unknown column',
          () => Widget.objects.filter({ id: key }).update({ nope: 1 } as never),
        ],
        [
          'update() with a NaN',
          () => Widget.objects.filter({ id: key }).update({ clicks: Number.NaN }),
        ],
        [
          'update() with F of an unknown column',
          () => Widget.objects.filter({ id: key }).update({ clicks: F('nope' as 'clicks').add(1) }),
        ],
        [
          'update() with F of a text column',
          () => Widget.objects.filter({ id: key }).update({ clicks: F('label' as 'clicks') }),
        ],
        [
          'update() with a float F into an integer',
          () => Widget.objects.filter({ id: key }).update({ clicks: F('revenue').add(1) }),
        ],
        [
          'update() with a non-finite F operand',
          () =>
            Widget.objects.filter({ id: key }).update({ revenue: F('revenue').add(Number.NaN) }),
        ],
        [
          'update() with a fraction into an integer',
          () => Widget.objects.filter({ id: key }).update({ clicks: F('clicks').add(0.5) }),
        ],
        [
          'update() with a too long text',
          () => Widget.objects.filter({ id: key }).update({ label: 'x'.repeat(21) }),
        ],
        ['update() of nothing', () => Widget.objects.filter({ id: key }).update({})],
        [
          'update() of a set column',
          () => Profile.objects.filter({ id: key }).update({ tags: ['a'] } as never),
        ],
        [
          'update() with null in a counter',
          () => Widget.objects.filter({ id: key }).update({ clicks: null as never }),
        ],
        [
          'filter() on an unknown column',
          () => Widget.objects.filter({ nope: 1 } as never).update({ clicks: 1 }),
        ],
        [
          'filter() with a wrong type',
          () => Widget.objects.filter({ clicks: 'x' as never }).count(),
        ],
        [
          'getOrCreate() with an unknown default',
          () => Widget.objects.getOrCreate({ id: uid() }, { nope: 1 } as never),
        ],
        [
          'getOrCreate() with a default for the key',
          () => Widget.objects.getOrCreate({ id: uid() }, { id: 'x' } as never),
        ],
        ['get() with a wrong key type', () => Widget.objects.get({ id: 5 as never })],
        ['a negative epoch', () => widget(key, { clicks: 1 }).execute(run(`widgets.${key}`, -1))],
        [
          'a fractional epoch',
          () => widget(key, { clicks: 1 }).execute(run(`widgets.${key}`, 1.5)),
        ],
        [
          'an execution of another resource',
          () => widget(key, { clicks: 1 }).execute(run('widgets.other', 1)),
        ],
        [
          'a negative fencing token',
          () => widget(key, { clicks: 1 }).execute(run(`widgets.${key}`, 1, -2)),
        ],
        [
          'an update of a model without a table',
          () =>
            sink.execute(defineModel('Loose', { id: id(), n: sum() }).create({ id: 'x', n: 1 })),
        ],
        ['a batch that is not an array', () => sink.executeMany({} as never)],
        [
          'a core model update with a bad value',
          () => Profile.create({ id: key, visits: Number.NaN }),
        ],
      ]
      for (const [what, attempt] of cases) {
        it(what, () => rejectsBeforeSql(attempt))
      }
    })

    it('property: random increments split over random executions, batches and replays sum exactly', async () => {
      const events = fc.array(
        fc.record({
          key: fc.integer({ min: 0, max: 3 }),
          execution: fc.integer({ min: 0, max: 5 }),
          clicks: fc.integer({ min: -1_000, max: 1_000 }),
          impressions: fc.nat(1_000),
        }),
        { minLength: 1, maxLength: 40 },
      )
      await fc.assert(
        fc.asyncProperty(
          events,
          fc.integer({ min: 1, max: 8 }),
          fc.boolean(),
          fc.array(fc.nat(), { maxLength: 5 }),
          async (events, batchSize, parallel, replays) => {
            const prefix = uid('prop')
            // One execution per (key, execution index): the sum of its events.
            const groups = new Map<
              string,
              { key: string; epoch: number; clicks: number; impressions: number }
            >()
            for (const e of events) {
              const group = `${e.key}/${e.execution}`
              const g = groups.get(group) ?? {
                key: `${prefix}-${e.key}`,
                epoch: e.execution + 1,
                clicks: 0,
                impressions: 0,
              }
              g.clicks += e.clicks
              g.impressions += e.impressions
              groups.set(group, g)
            }
            const items = [...groups.values()].map((g) => ({
              ...run(`widgets.${g.key}`, g.epoch),
              update: widget(g.key, { clicks: g.clicks, impressions: g.impressions }),
            }))
            // Some executions run again (a retried claim): they must change nothing.
            const all = [
              ...items,
              ...replays.map((r) => items[r % items.length] as (typeof items)[number]),
            ]
            const batches: Array<typeof all> = []
            for (let i = 0; i < all.length; i += batchSize)
              batches.push(all.slice(i, i + batchSize))
            const write = (batch: typeof all) =>
              batch.length === 1
                ? sink.execute(batch[0]!.update, batch[0])
                : sink.executeMany(batch)
            if (parallel) await Promise.all(batches.map(write))
            else for (const batch of batches) await write(batch)
            const expected = new Map<string, { clicks: number; impressions: number }>()
            for (const e of events) {
              const t = expected.get(`${prefix}-${e.key}`) ?? { clicks: 0, impressions: 0 }
              t.clicks += e.clicks
              t.impressions += e.impressions
              expected.set(`${prefix}-${e.key}`, t)
            }
            for (const [key, totals] of expected) {
              expect(await Widget.objects.get({ id: key })).toMatchObject(totals)
            }
          },
        ),
        { numRuns: options.propertyRuns },
      )
    }, 60_000)
  })
}
