import { hash } from 'node:crypto'

const HASH_SPACE = 1n << 128n

/**
 * The shard index of a partition key among `shards` shards, as Kinesis routes: the MD5 of the
 * key (UTF-8) read as a 128-bit unsigned integer, in `shards` equal ranges of the hash key space
 * (the last range takes the remainder), so a key lands on the same index on every backend.
 */
export function shardOf(partitionKey: string, shards: number): number {
  // One-shot `hash` (no Hash object per key): half the CPU of createHash for short keys.
  const digest = BigInt(`0x${hash('md5', partitionKey, 'hex')}`)
  const width = HASH_SPACE / BigInt(shards)
  const index = Number(digest / width)
  return Math.min(index, shards - 1)
}

/** The hash key range of shard `index` of `shards`, as Kinesis creates them (inclusive bounds). */
export function hashKeyRange(index: number, shards: number): { start: bigint; end: bigint } {
  const width = HASH_SPACE / BigInt(shards)
  const start = width * BigInt(index)
  const end = index === shards - 1 ? HASH_SPACE - 1n : start + width - 1n
  return { start, end }
}

/** `shardId-000000000003`: the Kinesis name of a shard index. */
export const shardIdOf = (index: number): string => `shardId-${String(index).padStart(12, '0')}`

/**
 * Compares two sequence numbers of one shard: Redis stream ids (`<ms>-<n>`) or decimal strings
 * (Kinesis, memory), numerically.
 */
export function compareSequences(a: string, b: string): number {
  const [am = '', an = '0'] = a.split('-')
  const [bm = '', bn = '0'] = b.split('-')
  if (am.length !== bm.length) return am.length - bm.length
  if (am !== bm) return am < bm ? -1 : 1
  if (an.length !== bn.length) return an.length - bn.length
  return an === bn ? 0 : an < bn ? -1 : 1
}
