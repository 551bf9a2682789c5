import {
  ArgumentError,
  ConflictFreeUpdate,
  counterMap,
  defineModel,
  distinctCount,
  type Fields,
  id,
  lastWrite,
  listAppend,
  Model,
  type ModelInput,
  max,
  setAppend,
  sum,
  windowedList,
} from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })

const Profile = defineModel('Profile', {
  id: id(),
  visits: sum(),
  best: max(),
  email: lastWrite<string>(),
  recent: listAppend<string>({ cap: 3 }),
  tags: setAppend(),
  visitors: distinctCount(),
  top: windowedList({ keep: 2 }),
  byCountry: counterMap(),
})

const member = fc.constantFrom('a', 'b', 'c')
/** Random Profile inputs for one id. */
const profileInput = fc.record(
  {
    visits: fc.integer({ min: 0, max: 1000 }),
    best: fc.integer({ min: -50, max: 50 }),
    email: fc.record({ at: fc.integer({ min: 0, max: 3 }), value: member }),
    recent: fc.array(member, { maxLength: 3 }),
    tags: fc.array(member, { maxLength: 3 }),
    visitors: fc.array(member, { maxLength: 3 }),
    top: fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), member), { maxLength: 3 }),
    byCountry: fc.dictionary(member, fc.integer({ min: 0, max: 9 }), { maxKeys: 2 }),
  },
  { requiredKeys: [] },
)

const aggregateOf = (update: { aggregate(): unknown }) => JSON.stringify(update.aggregate())

describe('defineModel', () => {
  it('creates updates whose missing fields are empty and whose doc holds field values', () => {
    const update = Widget.create({ id: 'w1', clicks: 2 })
    expect(update.doc).toEqual({ id: 'w1', clicks: 2, impressions: 0 })
    expect(update.resourceId).toBe('Widget.w1')
    expect(update.collection).toBe('Widget')
  })

  it('merges field by field: any grouping of a sequence of updates gives the same aggregate', () => {
    fc.assert(
      fc.property(
        fc.array(profileInput, { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (inputs, cut) => {
          const create = (input: (typeof inputs)[number]) => Profile.create({ id: 'p', ...input })
          const leftToRight = create(inputs[0]!)
          for (const input of inputs.slice(1)) leftToRight.merge(create(input))

          const at = 1 + (cut % inputs.length)
          const head = create(inputs[0]!)
          for (const input of inputs.slice(1, at)) head.merge(create(input))
          const tail = Profile.create({ id: 'p' })
          for (const input of inputs.slice(at)) tail.merge(create(input))
          head.merge(tail)

          expect(aggregateOf(head)).toBe(aggregateOf(leftToRight))
        },
      ),
    )
  })

  it('commutes exactly when every field does, as its laws say', () => {
    const Counts = defineModel('Counts', { id: id(), n: sum(), tags: setAppend() })
    const Logged = defineModel('Logged', { id: id(), n: sum(), log: listAppend<string>() })
    expect([Counts.laws.commutative, Logged.laws.commutative, Profile.laws.commutative]).toEqual([
      true,
      false,
      false,
    ])
    const input = fc.record({
      n: fc.integer({ min: 0, max: 9 }),
      tags: fc.array(member),
      log: fc.array(member),
    })
    const commutes = <F extends Fields>(model: Model<F, []>) =>
      fc.property(input, input, (a, b) => {
        const pick = (x: typeof a) =>
          ({
            id: 'x',
            ...Object.fromEntries(Object.entries(x).filter(([k]) => k in model.fields)),
          }) as ModelInput<F>
        const ab = model.create(pick(a))
        ab.merge(model.create(pick(b)))
        const ba = model.create(pick(b))
        ba.merge(model.create(pick(a)))
        return aggregateOf(ab) === aggregateOf(ba)
      })
    fc.assert(commutes(Counts))
    expect(() => fc.assert(commutes(Logged))).toThrow(/Property failed/)
  })

  it('merging an empty update changes nothing (identity)', () => {
    fc.assert(
      fc.property(profileInput, (input) => {
        const update = Profile.create({ id: 'p', ...input })
        const before = aggregateOf(update)
        update.merge(Profile.create({ id: 'p' }))
        expect(aggregateOf(update)).toBe(before)
      }),
    )
  })

  it('clear() empties every field and keeps the id', () => {
    const update = Widget.create({ id: 'w1', clicks: 2, impressions: 5 })
    update.clear()
    expect(update.doc).toEqual({ id: 'w1', clicks: 0, impressions: 0 })
    expect(update.isEmpty()).toBe(true)
  })

  it('execute calls onComplete with the aggregate and the extra arguments', async () => {
    const seen: unknown[] = []
    const Session = defineModel(
      'Session',
      { id: id(), impressions: sum(), clicks: sum() },
      { onComplete: (aggregate, message: string) => void seen.push([aggregate, message]) },
    )
    const update = Session.create({ id: 's1', impressions: 1 })
    update.merge(Session.create({ id: 's1', clicks: 1, impressions: 2 }))
    await update.execute('msg-1')
    expect(seen).toEqual([[{ id: 's1', impressions: 3, clicks: 1 }, 'msg-1']])
  })

  it('refuses a ConflictFreeUpdate, a plain object or null with an ArgumentError, not a TypeError', () => {
    class Clicks extends ConflictFreeUpdate {
      execute(): void {}
    }
    const update = Widget.create({ id: 'w1', clicks: 1 })
    const others = [new Clicks({ id: 'w1', collection: 'Widget', doc: { clicks: 1 } }), {}, null]
    for (const other of others) {
      expect(() => update.merge(other as never)).toThrow(ArgumentError)
    }
    expect(update.aggregate()).toEqual({ id: 'w1', clicks: 1, impressions: 0 })
  })

  it('refuses to merge updates of other ids or other models', () => {
    const Other = defineModel('Other', { id: id(), likes: sum() })
    const update = Widget.create({ id: 'w1' })
    expect(() => update.merge(Widget.create({ id: 'w2' }))).toThrow(ArgumentError)
    // @ts-expect-error an update of another model
    expect(() => update.merge(Other.create({ id: 'w1' }))).toThrow(ArgumentError)
  })

  it('requires an id field and an id on create', () => {
    // @ts-expect-error no id field
    expect(() => defineModel('NoId', { clicks: sum() })).toThrow(/needs an id field/)
    // @ts-expect-error missing id
    expect(() => Widget.create({ clicks: 1 })).toThrow(/id is required/)
    expect(() => defineModel('', { id: id() })).toThrow(ArgumentError)
  })

  it.each([
    [{ id: 'w', clicks: 1.5 }, /Widget.clicks must be a safe integer/],
    [{ id: 'w', clicks: Number.NaN }, /Widget.clicks/],
    [{ id: 'w', clicks: '3' }, /Widget.clicks/],
    [{ id: 'w', likes: 1 }, /unknown field likes/],
    [{ id: 'w{1}' }, /braces/],
  ])('rejects the input %o with an ArgumentError', (input, message) => {
    expect(() => Widget.create(input as never)).toThrow(ArgumentError)
    expect(() => Widget.create(input as never)).toThrow(message)
  })

  it('lets a subclass of the model update class override execute', async () => {
    const written: unknown[] = []
    class WidgetWriter extends Widget.updateClass {
      override execute() {
        written.push(this.aggregate())
      }
    }
    const update = new WidgetWriter({ id: 'w9' })
    update.merge(Widget.create({ id: 'w9', clicks: 4 }))
    await update.execute()
    expect(written).toEqual([{ id: 'w9', clicks: 4, impressions: 0 }])
  })
})

describe('the per-event operations', () => {
  it('add(input) is merge(create(input)), compiled or not', () => {
    const Generic = new Model('Profile', Profile.fields, { codegen: false })
    fc.assert(
      fc.property(fc.array(profileInput, { minLength: 1, maxLength: 6 }), (inputs) => {
        const merged = Profile.create({ id: 'p' })
        const added = Profile.create({ id: 'p' })
        const generic = Generic.create({ id: 'p' })
        for (const input of inputs) {
          merged.merge(Profile.create({ id: 'p', ...input }))
          added.add(input)
          generic.add(input)
        }
        expect(aggregateOf(added)).toBe(aggregateOf(merged))
        expect(aggregateOf(generic)).toBe(aggregateOf(merged))
      }),
    )
  })

  it('a merge or add whose total overflows changes nothing', () => {
    for (const codegen of [true, false]) {
      const Mixed = new Model(
        'Mixed',
        { id: id(), tags: setAppend(), big: sum(), small: sum() },
        { codegen },
      )
      const update = Mixed.create({ id: 'm', tags: ['a'], big: Number.MAX_SAFE_INTEGER, small: 1 })
      const before = aggregateOf(update)
      const overflowing = Mixed.create({ id: 'm', tags: ['b'], small: 1, big: 1 })
      expect(() => update.merge(overflowing)).toThrow(ArgumentError)
      expect(() => update.add({ tags: ['b'], small: 1, big: 1 })).toThrow(ArgumentError)
      expect(() => update.add({ tags: ['b'], small: 1.5 })).toThrow(ArgumentError)
      expect(aggregateOf(update)).toBe(before)
    }
  })

  it('add rejects unknown fields and another id, changing nothing', () => {
    const update = Widget.create({ id: 'w1', clicks: 1 })
    expect(() => update.add({ clicks: 1, likes: 2 } as never)).toThrow(/unknown field likes/)
    expect(() => update.add({ id: 'w2', clicks: 1 })).toThrow(ArgumentError)
    expect(update.add({ id: 'w1', clicks: 2 }).doc).toEqual({ id: 'w1', clicks: 3, impressions: 0 })
  })

  it('field names are data, never code, in the compiled operations', () => {
    const name = '"]; throw new Error("injected"); //'
    const Odd = defineModel('Odd', { id: id(), [name]: sum() })
    const update = Odd.create({ id: 'o', [name]: 2 })
    update.add({ [name]: 3 })
    expect(update.aggregate()).toEqual({ id: 'o', [name]: 5 })
  })
})
