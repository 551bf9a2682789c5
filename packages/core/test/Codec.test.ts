import {
  ArgumentError,
  Codec,
  CodecError,
  ConflictFreeUpdate,
  defineModel,
  id,
  listAppend,
  setAppend,
  sum,
  Update,
  updateType,
} from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

class Counters extends ConflictFreeUpdate {
  execute(): void {}
}

class Unregistered extends Update {
  merge(): void {}
  execute(): void {}
}

const Post = defineModel('Post', {
  id: id(),
  views: sum(),
  reach: sum('bigint'),
  tags: setAppend(),
  log: listAppend<string>({ cap: 5 }),
})

const codec = new Codec([Post, updateType('Counters', Counters)])

const postInput = fc.record(
  {
    views: fc.integer({ min: 0, max: 1e9 }),
    reach: fc.bigInt({ min: 0n, max: 2n ** 62n }),
    tags: fc.array(fc.string(), { maxLength: 4 }),
    log: fc.array(fc.string(), { maxLength: 5 }),
  },
  { requiredKeys: [] },
)

describe('Codec', () => {
  it('round-trips model updates through JSON text', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), postInput, (postId, input) => {
        fc.pre(!/[{}\p{Cc}]/u.test(postId))
        const update = Post.create({ id: postId, ...input })
        const copy = codec.parse(codec.stringify(update))
        expect(copy).toBeInstanceOf(Post.updateClass)
        expect(copy.resourceId).toBe(update.resourceId)
        expect(copy.doc).toEqual(update.doc)
      }),
    )
  })

  it('round-trips class-based updates, keeping database and spec', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }), fc.integer()), (doc) => {
        fc.pre(!Object.hasOwn(doc, '__proto__'))
        const update = new Counters({
          id: 'c',
          collection: 'counts',
          database: 'db',
          spec: { k: 1 },
          doc,
        })
        const copy = codec.decode(JSON.parse(JSON.stringify(codec.encode(update))))
        expect(copy).toBeInstanceOf(Counters)
        expect([copy.doc, copy.database, copy.spec, copy.collection]).toEqual([
          doc,
          'db',
          { k: 1 },
          'counts',
        ])
      }),
    )
  })

  it('writes a versioned envelope', () => {
    expect(codec.encode(Post.create({ id: 'p', views: 2 }))).toEqual({
      format: 1,
      type: 'Post',
      version: 1,
      id: 'p',
      collection: 'Post',
      spec: { id: 'p' },
      state: { views: 2, reach: '0', tags: [], log: [] },
    })
  })

  const good = () => JSON.parse(codec.stringify(Post.create({ id: 'p', views: 2, tags: ['x'] })))

  it.each([
    ['not an object', () => 'text'],
    ['an array', () => [1]],
    ['another format', () => ({ ...good(), format: 2 })],
    ['an unknown type', () => ({ ...good(), type: 'Nope' })],
    ['another version', () => ({ ...good(), version: 2 })],
    ['a missing state', () => ({ ...good(), state: undefined })],
    ['a non-string id', () => ({ ...good(), id: 5 })],
    ['an unsafe id', () => ({ ...good(), id: 'a{b}' })],
    ['a spec that is not an object', () => ({ ...good(), spec: 'x' })],
    ['a NaN in the state', () => ({ ...good(), state: { views: Number.NaN } })],
    ['an Infinity in the state', () => ({ ...good(), state: { views: Number.POSITIVE_INFINITY } })],
    ['a wrong field type', () => ({ ...good(), state: { views: 'two' } })],
    ['a float in an int sum', () => ({ ...good(), state: { views: 1.5 } })],
    ['a non-decimal bigint', () => ({ ...good(), state: { reach: '0x10' } })],
    ['an unknown field', () => ({ ...good(), state: { likes: 1 } })],
    ['a state that is not an object', () => ({ ...good(), state: [1] })],
  ])('decoding %s throws a CodecError', (_, payload) => {
    expect(() => codec.decode(payload())).toThrow(CodecError)
  })

  it('keeps the underlying error as the cause', () => {
    const error = (() => {
      try {
        codec.decode({ ...good(), state: { views: 'two' } })
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(CodecError)
    expect((error as CodecError).cause).toBeInstanceOf(ArgumentError)
  })

  it('parse rejects malformed JSON with a CodecError', () => {
    expect(() => codec.parse('{"format":1,')).toThrow(CodecError)
  })

  it('encode rejects unregistered classes and non-JSON state with ArgumentErrors', () => {
    expect(() => codec.encode(new Unregistered({ id: 'u' }))).toThrow(/not registered/)
    const bad = new Counters({ id: 'c' })
    bad.doc.clicks = Number.NaN
    expect(() => codec.encode(bad)).toThrow(ArgumentError)
  })

  it('refuses to register a name or class twice', () => {
    expect(() => new Codec([Post, Post])).toThrow(ArgumentError)
    const Twin = defineModel('Post', { id: id() })
    expect(() => codec.register(Twin)).toThrow(/already registered/)
    expect(() => updateType('', Counters)).toThrow(ArgumentError)
    expect(() => updateType('X', Counters, 0)).toThrow(ArgumentError)
  })
})
