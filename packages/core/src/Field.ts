import type { Json } from './json.js'

/**
 * The algebraic laws a field's `combine` obeys. Associativity always holds (it is what lets
 * partial aggregates be folded in any grouping); the others hold where declared `true`.
 */
export interface Laws {
  readonly associative: true
  readonly commutative: boolean
  readonly idempotent: boolean
}

/**
 * How a field's partial aggregate folds into Redis, as plain data that `@phonon/redis-shard`
 * executes atomically. Each variant names the Redis type of the field's key, the command shape
 * that folds one delta (its arguments are {@link Field.redisArgs}) and how the total is read back.
 *
 * - `none`: nothing stored (the `id` field).
 * - `incrby`: string; `INCRBY key n` (n a decimal 64-bit integer); read `GET` as an integer.
 * - `incrbyfloat`: string; `INCRBYFLOAT key x`; read `GET` as a float.
 * - `max` / `min`: string; compare-and-set: `SET key x` when the key is missing or x is
 *   greater (`max`) / less (`min`) than the stored number; read `GET` as a float.
 * - `lastWrite`: string holding `[at, value]` JSON; compare-and-set by `at`, ties broken by the
 *   larger JSON text in byte order; args are `at` and the value's JSON; read `GET`.
 * - `rpush`: list; `RPUSH key ...items` then, with a cap, `LTRIM key -cap -1`; items are JSON
 *   texts; read `LRANGE key 0 -1`.
 * - `sadd`: set; `SADD key ...members`; read `SMEMBERS`.
 * - `zadd`: sorted set; `ZADD key GT score member ...` then `ZREMRANGEBYRANK key 0 -(keep+1)`;
 *   args are score, member pairs; read `ZRANGE key 0 -1 REV WITHSCORES`.
 * - `pfadd`: HyperLogLog; `PFADD key ...members`; read `PFCOUNT` (an estimate, ±0.81%).
 * - `hincrby`: hash; `HINCRBY key field n` per pair; args are field, n pairs; read `HGETALL`.
 */
export type RedisFold =
  | { readonly op: 'none' }
  | { readonly op: 'incrby' }
  | { readonly op: 'incrbyfloat' }
  | { readonly op: 'max' }
  | { readonly op: 'min' }
  | { readonly op: 'lastWrite' }
  | { readonly op: 'rpush'; readonly cap: number | null }
  | { readonly op: 'sadd' }
  | { readonly op: 'zadd'; readonly keep: number }
  | { readonly op: 'pfadd' }
  | { readonly op: 'hincrby' }

/** A reply read back from Redis: a bulk string, an integer, nil, or an array of those. */
export type RedisReply = null | number | string | readonly RedisReply[]

/**
 * A mergeable field of a model: a monoid (`empty`, `combine`) over partial aggregates of type
 * `Value`, fed with user input of type `Input` and seen by sinks as `Output`.
 *
 * @typeParam Input - what `Model.create` accepts for the field.
 * @typeParam Value - the partial aggregate kept in memory and merged.
 * @typeParam Output - what a sink sees (`onComplete`'s aggregate).
 */
export interface Field<Input, Value, Output = Value> {
  /** The field's kind, e.g. `'sum'`, `'max'`; part of the codec's type description. */
  readonly kind: string
  /** The laws `combine` obeys; tested by property tests. */
  readonly laws: Laws
  /** How the field folds into Redis. */
  readonly redis: RedisFold
  /**
   * Whether `combine` may reject its result (an overflowing sum). A model combines such fields
   * before applying anything, so a rejected merge changes nothing; the others must never throw.
   */
  readonly fallible: boolean
  /** The identity of `combine`: `combine(empty(), x)` equals `x`. A fresh value on every call. */
  empty(): Value
  /** Combines two partial aggregates into a new one; never mutates its arguments. */
  combine(a: Value, b: Value): Value
  /**
   * Combines `b` into `a`, possibly mutating and returning `a` (which the caller owns); never
   * mutates or keeps a reference to `b`. Equal to `combine(a, b)`; exists to make repeated
   * merges of collections linear instead of quadratic.
   */
  absorb(a: Value, b: Value): Value
  /**
   * Turns user input into a fresh partial aggregate.
   * @throws {@link ArgumentError} when the input has the wrong type or is not finite.
   */
  lift(input: unknown, path: string): Value
  /** What sinks see of a partial aggregate. */
  output(value: Value): Output
  /** A JSON-safe encoding of a value (codec). */
  encode(value: Value): Json
  /**
   * The inverse of {@link Field.encode}.
   * @throws {@link ArgumentError} when `json` is not a valid encoding.
   */
  decode(json: unknown, path: string): Value
  /** The arguments that fold `value` into Redis with the command shape of {@link Field.redis}. */
  redisArgs(value: Value): string[]
  /**
   * The total read back from Redis (the reply of the read command {@link Field.redis} names) as a
   * sink sees it.
   * @throws {@link ArgumentError} when the reply is not a valid total of this field.
   */
  readTotal(reply: RedisReply, path: string): Output
  /** Whether a value is the identity (nothing to fold). */
  isEmpty(value: Value): boolean
  /** Phantom marker carrying the input type; never set at runtime. */
  readonly __input?: Input
}

/** Any field, whatever its types. */
// biome-ignore lint/suspicious/noExplicitAny: the variance of Field's type parameters requires it
export type AnyField = Field<any, any, any>

/** The input type of a field. */
export type InputOf<F> = F extends Field<infer I, infer _V, infer _O> ? I : never
/** The partial-aggregate type of a field. */
export type ValueOf<F> = F extends Field<infer _I, infer V, infer _O> ? V : never
/** The output type of a field. */
export type OutputOf<F> = F extends Field<infer _I, infer _V, infer O> ? O : never
