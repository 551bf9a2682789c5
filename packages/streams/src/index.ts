/**
 * `@phonon/streams` (triton): partitioned streams on Redis Streams or in memory, routed as Kinesis
 * routes; producers returning `(shard, sequence)`; iterators; leased shards with fenced,
 * forward-only checkpoints; a worker scaffold and an exactly-once phonon source.
 *
 * @packageDocumentation
 */
export type {
  Backend,
  CommitEntry,
  Coordinator,
  Lease,
  LeaseGrant,
  ProducerBatch,
  ReadFrom,
  StoredRecord,
} from './Backend.js'
export { COMMIT_IDS_KEPT_MS, PRODUCER_WINDOW } from './Backend.js'
export {
  KinesisBackend,
  type KinesisBackendOptions,
  KinesisPutError,
  MissingPackage,
} from './backends/kinesis.js'
export { MemoryBackend } from './backends/memory.js'
export { RedisBackend, type RedisBackendOptions } from './backends/redis.js'
export {
  type BackendKind,
  defineStreams,
  loadConfig,
  parseConfig,
  type StreamDefinition,
  type StreamInput,
  type StreamsConfig,
} from './config.js'
export {
  CheckpointConflict,
  CommitUnconfirmed,
  LateReplay,
  LeaseLost,
  ProducerFenced,
  RecordError,
  type RecordRefusal,
  SequenceError,
  type SequenceRefusal,
  StreamConfigError,
  StreamError,
} from './errors.js'
export {
  type IteratorOptions,
  type StartPosition,
  StreamIterator,
  type StreamRecord,
} from './Iterator.js'
export { fairShare, type LeaseChanges, ShardLeases } from './Lease.js'
export { Producer, type ProducerOptions, type PutResult } from './Producer.js'
export { compareSequences, hashKeyRange, shardIdOf, shardOf } from './routing.js'
export { getStream, type ShardLag, Stream } from './Stream.js'
export { type PhononSourceOptions, type PhononSourceStats, phononSource } from './source.js'
export {
  handlerProcessor,
  type RoundProcessor,
  Worker,
  type WorkerEvent,
  type WorkerOptions,
} from './worker.js'
