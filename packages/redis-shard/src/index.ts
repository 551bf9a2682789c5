/**
 * `@phonon/redis-shard`: the shared tier of phonon on Redis (standalone nodes with consistent
 * hashing, or Redis Cluster): reference counting, last-holder execution, locks with fencing
 * tokens, recovery of dead workers; and `MemoryShard`, the same in process.
 *
 * @packageDocumentation
 */
export { type ConnectOptions, connect, regionNodes, type Topology } from './connect.js'
export { ResourceError, type ResourceErrorCode } from './errors.js'
export { resourceKeys } from './keys.js'
export { MemoryShard, type MemoryShardOptions, MemoryStore } from './MemoryShard.js'
export { Recovery } from './Recovery.js'
export { RedisShard, type RedisShardOptions } from './RedisShard.js'
export { Reference } from './Reference.js'
export { ClusterRouter, RendezvousRouter, type Router } from './Routing.js'
export {
  type Claim,
  executeClaim,
  type FoldResult,
  type Hold,
  type LockHandle,
  type LockOptions,
  type ReleaseItem,
  type ReleaseOptions,
  type ReleaseResult,
  type ResourceRef,
  type Shard,
  type ShardStats,
} from './Shard.js'
export { scriptSource } from './scripts.js'
