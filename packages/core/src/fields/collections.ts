import { ArgumentError } from '../errors.js'
import type { Field, Laws } from '../Field.js'
import { assertJson, compareCodePoints, describe, type Json } from '../json.js'
import {
  addSafe,
  collection,
  entries,
  finiteNumber,
  parseJson,
  positiveIntegerOption,
  replyNumber,
  replyPairs,
  replyStrings,
  safeInteger,
  string,
} from './checks.js'
import { SEMILATTICE } from './numeric.js'

/** Concatenation: associative only. */
const SEQUENCE: Laws = { associative: true, commutative: false, idempotent: false }
const ADDITIVE: Laws = { associative: true, commutative: true, idempotent: false }

// ---------------------------------------------------------------------------------------------
// listAppend

/** An append-only list, optionally capped to its last `cap` items. */
export type ListAppendField<V extends Json> = Field<readonly V[], V[], V[]>

/** Keeps the last `cap` items of `list`, in place. */
function keepLast<V>(list: V[], cap: number | null): V[] {
  if (cap !== null && list.length > cap) list.splice(0, list.length - cap)
  return list
}

/**
 * Items appended in order; with `cap`, only the last `cap` items are kept (`RPUSH` + `LTRIM`).
 * Items are any JSON values.
 *
 * @param options.cap - keep at most this many of the newest items.
 * @throws {@link ArgumentError} when `cap` is not a positive integer.
 * @example
 * const Feed = defineModel('Feed', { id: id(), recent: listAppend<string>({ cap: 50 }) })
 */
export function listAppend<V extends Json = Json>(
  options: { cap?: number } = {},
): ListAppendField<V> {
  const cap = options.cap === undefined ? null : positiveIntegerOption(options.cap, 'cap')
  const lift = (input: unknown, path: string): V[] => {
    if (!Array.isArray(input))
      throw new ArgumentError(`${path} must be an array, got ${describe(input)}`)
    return keepLast(
      input.map((item, i) => assertJson(item, `${path}[${i}]`) as V),
      cap,
    )
  }
  return {
    kind: 'listAppend',
    laws: SEQUENCE,
    redis: { op: 'rpush', cap },
    fallible: false,
    empty: () => [],
    combine: (a, b) => keepLast([...a, ...b], cap),
    absorb: (a, b) => {
      for (const item of b) a.push(item)
      return keepLast(a, cap)
    },
    lift,
    output: (value) => [...value],
    encode: (value) => value,
    decode: lift,
    redisArgs: (value) => value.map((item) => JSON.stringify(item)),
    readTotal: (reply, path) =>
      replyStrings(reply, path).map((text) => assertJson(parseJson(text, path), path) as V),
    isEmpty: (value) => value.length === 0,
  }
}

// ---------------------------------------------------------------------------------------------
// setAppend and distinctCount: sets of strings

function liftStrings(input: unknown, path: string, bound = Number.POSITIVE_INFINITY): Set<string> {
  const set = new Set<string>()
  let i = 0
  for (const item of collection(input, path)) set.add(string(item, `${path}[${i++}]`))
  if (set.size > bound) {
    throw new ArgumentError(
      `${path} holds ${set.size} distinct members, more than its bound of ${bound}`,
    )
  }
  return set
}

function union(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  return addAll(new Set(a), b)
}

function addAll(a: Set<string>, b: ReadonlySet<string>): Set<string> {
  for (const item of b) a.add(item)
  return a
}

function sortedMembers(value: ReadonlySet<string>): string[] {
  return [...value].sort(compareCodePoints)
}

/** A set of strings; the sink sees the members sorted. */
export type SetAppendField = Field<Iterable<string>, Set<string>, string[]>

const setAppendField: SetAppendField = {
  kind: 'setAppend',
  laws: SEMILATTICE,
  redis: { op: 'sadd' },
  fallible: false,
  empty: () => new Set(),
  combine: union,
  absorb: addAll,
  lift: (input, path) => liftStrings(input, path),
  output: sortedMembers,
  encode: sortedMembers,
  decode: (json, path) => liftStrings(json, path),
  redisArgs: (value) => [...value],
  readTotal: (reply, path) => replyStrings(reply, path).sort(compareCodePoints),
  isEmpty: (value) => value.size === 0,
}

/**
 * The union of the string members given (`SADD`).
 *
 * @example
 * const Post = defineModel('Post', { id: id(), tags: setAppend() })
 */
export function setAppend(): SetAppendField {
  return setAppendField
}

/** A distinct count: exact members locally, a HyperLogLog in Redis; the sink sees the count. */
export type DistinctCountField = Field<Iterable<string>, Set<string>, number>

/**
 * How many distinct strings were seen. Locally the members are kept exactly (so a single process
 * counts exactly); in Redis they fold into a HyperLogLog (`PFADD`), whose `PFCOUNT` is an estimate
 * with a standard error of 0.81%.
 *
 * @param options.bound - the most members one input may carry (default 10,000); a larger input
 *   is an {@link ArgumentError}. Merged partials may grow past it; bound the LRU to bound them.
 * @example
 * const Page = defineModel('Page', { id: id(), visitors: distinctCount() })
 */
export function distinctCount(options: { bound?: number } = {}): DistinctCountField {
  const bound = positiveIntegerOption(options.bound ?? 10_000, 'bound')
  const lift = (input: unknown, path: string) => liftStrings(input, path, bound)
  const output = (value: Set<string>) => value.size
  const readTotal = (reply: unknown, path: string) => safeInteger(reply, path)
  return {
    ...setAppendField,
    kind: 'distinctCount',
    redis: { op: 'pfadd' },
    lift,
    decode: lift,
    output,
    readTotal,
  }
}

// ---------------------------------------------------------------------------------------------
// windowedList: ranked (score, member) pairs, top N

/** A ranked entry: a score and the member it ranks. */
export type Ranked = readonly [score: number, member: string]

/** Ranked members, highest score per member, top `keep` kept; the sink sees them best first. */
export type WindowedListField = Field<Iterable<Ranked>, Map<string, number>, Ranked[]>

/** Best first: higher score, then (as Redis orders ties) the larger member. */
function byRank(a: Ranked, b: Ranked): number {
  return b[0] - a[0] || compareCodePoints(b[1], a[1])
}

function ranked(value: ReadonlyMap<string, number>): Ranked[] {
  return [...value].map(([member, score]): Ranked => [score, member]).sort(byRank)
}

/**
 * Ranked `(score, member)` pairs: each member keeps its highest score, and only the `keep`
 * best-ranked members are kept (ties by member in byte order, as Redis ranks them).
 * Folds with `ZADD GT` + `ZREMRANGEBYRANK`.
 *
 * @param options.keep - how many members to keep (default 10, as in phonon).
 * @throws {@link ArgumentError} when `keep` is not a positive integer.
 * @example
 * const Board = defineModel('Board', { id: id(), top: windowedList({ keep: 3 }) })
 * Board.create({ id: 'b', top: [[42, 'alice'], [17, 'bob']] })
 */
export function windowedList(options: { keep?: number } = {}): WindowedListField {
  const keep = positiveIntegerOption(options.keep ?? 10, 'keep')

  const trim = (value: Map<string, number>): Map<string, number> => {
    if (value.size <= keep) return value
    const dropped = ranked(value).slice(keep)
    for (const [, member] of dropped) value.delete(member)
    return value
  }
  const absorb = (a: Map<string, number>, b: ReadonlyMap<string, number>) => {
    for (const [member, score] of b) {
      const current = a.get(member)
      if (current === undefined || score > current) a.set(member, score)
    }
    return trim(a)
  }
  const lift = (input: unknown, path: string): Map<string, number> => {
    const value = new Map<string, number>()
    let i = 0
    for (const pair of collection(input, path)) {
      const at = `${path}[${i++}]`
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new ArgumentError(`${at} must be a [score, member] pair, got ${describe(pair)}`)
      }
      const entry = new Map([[string(pair[1], `${at}[1]`), finiteNumber(pair[0], `${at}[0]`)]])
      absorb(value, entry)
    }
    return value
  }
  return {
    kind: 'windowedList',
    laws: SEMILATTICE,
    redis: { op: 'zadd', keep },
    fallible: false,
    empty: () => new Map(),
    combine: (a, b) => absorb(new Map(a), b),
    absorb,
    lift,
    output: ranked,
    encode: (value) => ranked(value).map(([score, member]) => [score, member]),
    decode: lift,
    redisArgs: (value) => ranked(value).flatMap(([score, member]) => [String(score), member]),
    readTotal: (reply, path) =>
      replyPairs(reply, path).map(
        ([member, score]): Ranked => [replyNumber(score, path, 0), member],
      ),
    isEmpty: (value) => value.size === 0,
  }
}

// ---------------------------------------------------------------------------------------------
// counterMap: a map of integer sums

/** A map of exact integer counters; the sink sees a plain object. */
export type CounterMapField = Field<
  Readonly<Record<string, number>> | ReadonlyMap<string, number>,
  Map<string, number>,
  Record<string, number>
>

function addCounters(a: Map<string, number>, b: ReadonlyMap<string, number>): Map<string, number> {
  for (const [key, n] of b)
    a.set(key, addSafe(a.get(key) ?? 0, n, `counter ${JSON.stringify(key)}`))
  return a
}

function liftCounters(input: unknown, path: string): Map<string, number> {
  const value = new Map<string, number>()
  for (const [key, n] of entries(input, path)) value.set(key, safeInteger(n, `${path}.${key}`))
  return value
}

function counterObject(value: ReadonlyMap<string, number>): Record<string, number> {
  const keys = [...value.keys()].sort(compareCodePoints)
  return Object.fromEntries(keys.map((key) => [key, value.get(key) ?? 0]))
}

const counterMapField: CounterMapField = {
  kind: 'counterMap',
  laws: ADDITIVE,
  redis: { op: 'hincrby' },
  fallible: true,
  empty: () => new Map(),
  combine: (a, b) => addCounters(new Map(a), b),
  absorb: addCounters,
  lift: liftCounters,
  output: counterObject,
  encode: counterObject,
  decode: liftCounters,
  redisArgs: (value) => [...value].flatMap(([key, n]) => [key, String(n)]),
  readTotal: (reply, path) =>
    counterObject(
      new Map(
        replyPairs(reply, path).map(([key, n]) => [key, safeInteger(Number(n), `${path}.${key}`)]),
      ),
    ),
  isEmpty: (value) => value.size === 0,
}

/**
 * A map of integer counters, summed per key (`HINCRBY`).
 *
 * @example
 * const Post = defineModel('Post', { id: id(), byCountry: counterMap() })
 * Post.create({ id: 'p', byCountry: { fr: 2, us: 1 } })
 */
export function counterMap(): CounterMapField {
  return counterMapField
}
