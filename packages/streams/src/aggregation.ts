import type { StoredRecord } from './Backend.js'
import type { StreamRecord } from './Iterator.js'
import { shardIdOf } from './routing.js'

/**
 * The first character of an aggregated stored record: ASCII RS (U+001E), which no JSON text
 * starts with, so a plain record (a JSON object) and an aggregated one never look alike and a
 * stream may hold both.
 */
export const AGGREGATE_MARK = '\u001e'
const MARK_CODE = 0x1e

/**
 * The stored form of user records packed into one record: the mark, then a JSON array of them
 * (`datas` are the records' JSON texts, so nothing is encoded twice). One `JSON.parse` reads
 * them all back.
 */
export function aggregate(datas: readonly string[]): string {
  return `${AGGREGATE_MARK}[${datas.join(',')}]`
}

/** The stored size of `count` records of `bytes` JSON bytes in all, aggregated. */
export const aggregateBytes = (count: number, bytes: number): number =>
  bytes + count + 2 /* mark, brackets, commas: 1 + 2 + (count - 1) */

/**
 * Appends the user records of stored records of one shard to `out`, in order: an aggregated
 * record yields each record packed in it (`subSequence` its index), a plain one itself
 * (`subSequence` 0).
 */
export function expand<T>(
  stored: readonly StoredRecord[],
  shard: number,
  out: StreamRecord<T>[],
): void {
  const shardId = shardIdOf(shard)
  for (const r of stored) {
    const { sequence, timestamp, data } = r
    if (data.charCodeAt(0) === MARK_CODE) {
      const records = JSON.parse(data.slice(1)) as T[]
      for (let i = 0; i < records.length; i++) {
        out.push({ data: records[i] as T, shardId, shard, sequence, subSequence: i, timestamp })
      }
    } else {
      out.push({ data: JSON.parse(data) as T, shardId, shard, sequence, subSequence: 0, timestamp })
    }
  }
}
