/**
 * `@phonon/core`: the pure layer of phonon. Updates and how they merge, the Field algebra, typed
 * models, the codec and the error hierarchy. No I/O, no timers, no Redis.
 *
 * @packageDocumentation
 */
export { CODEC_FORMAT, Codec, type EncodedUpdate, type UpdateType, updateType } from './Codec.js'
export { ConflictFreeUpdate, type Increments } from './ConflictFreeUpdate.js'
export {
  AlreadyLocked,
  ArgumentError,
  CacheError,
  CodecError,
  LockNotOwned,
  PhononError,
  type PhononErrorOptions,
  ShardError,
  SinkError,
  StaleFencingToken,
} from './errors.js'
export type {
  AnyField,
  Field,
  InputOf,
  Laws,
  OutputOf,
  RedisFold,
  RedisReply,
  ValueOf,
} from './Field.js'
export {
  type CounterMapField,
  counterMap,
  type DistinctCountField,
  distinctCount,
  type ListAppendField,
  listAppend,
  type Ranked,
  type SetAppendField,
  setAppend,
  type WindowedListField,
  windowedList,
} from './fields/collections.js'
export {
  type BigintSumField,
  diff,
  type ExtremumField,
  max,
  min,
  type NumberSumField,
  type NumericType,
  sum,
} from './fields/numeric.js'
export { type IdField, id, type LastWriteField, lastWrite, type Stamped } from './fields/scalar.js'
export { assertJson, compareCodePoints, type Json } from './json.js'
export {
  type Aggregate,
  type CreateOptions,
  defineModel,
  type Fields,
  Model,
  type ModelDoc,
  type ModelInput,
  type ModelOptions,
  ModelUpdate,
  type ModelValues,
  type OnComplete,
} from './Model.js'
export { checkId, resourceIdOf, Update, type UpdateOptions } from './Update.js'
