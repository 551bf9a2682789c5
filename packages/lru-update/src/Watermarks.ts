import { ArgumentError } from '@phonon/core'
import type { AckableMessage } from './withLocalAggregation.js'

/** One partition's offsets in flight, in the order they were tracked. */
interface Partition {
  readonly offsets: number[]
  readonly state: Array<'pending' | 'durable' | 'failed'>
  /** Index of the first offset not yet known durable. */
  head: number
  /** The highest offset below which (inclusive) everything is durable. */
  watermark: number | undefined
  /** Offsets compacted away from the front so far (handles keep absolute indices). */
  dropped: number
}

/**
 * Acknowledgements for offset-based sources (Kafka-style partitions): each offset gets an
 * {@link AckableMessage} handle to give {@link withLocalAggregation}, and
 * {@link OffsetWatermarks.watermark} reports, per partition, the highest offset at and below which
 * every tracked offset is durable — the one to commit. A nacked offset holds the watermark back
 * until the source redelivers it (seek to `watermark + 1`).
 *
 * @example
 * const marks = new OffsetWatermarks()
 * const handle = withLocalAggregation(aggregator, (m: { value: Event } & AckableMessage) => toUpdate(m.value))
 * for (const m of batch) await handle({ value: m.value, ...marks.track(m.partition, m.offset) })
 * // Kafka commits the next offset to read: the watermark + 1.
 * const mark = marks.watermark(partition)
 * if (mark !== undefined) await consumer.commitOffsets([{ topic, partition, offset: String(mark + 1) }])
 */
export class OffsetWatermarks {
  readonly #partitions = new Map<string | number, Partition>()

  /**
   * Starts tracking an offset of a partition.
   * @returns its `ack` / `nack` handle.
   * @throws {@link ArgumentError} when the offset is not a non-negative safe integer or not above
   *   the last offset tracked for the partition.
   */
  track(partition: string | number, offset: number): AckableMessage {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new ArgumentError(`offset must be a non-negative safe integer, got ${offset}`)
    }
    const p = this.#partition(partition)
    const last = p.offsets.at(-1) ?? p.watermark
    if (last !== undefined && offset <= last) {
      throw new ArgumentError(
        `offsets of partition ${partition} must increase: ${offset} after ${last}`,
      )
    }
    const index = p.offsets.push(offset) - 1 + p.dropped
    p.state.push('pending')
    return {
      ack: () => this.#settle(p, index, 'durable'),
      nack: () => this.#settle(p, index, 'failed'),
    }
  }

  /**
   * Forgets what is in flight on a partition, after the consumer seeked back (to redeliver from
   * `watermark + 1`): offsets from there on can be tracked again.
   */
  reset(partition: string | number): void {
    const p = this.#partitions.get(partition)
    if (p === undefined) return
    this.#partitions.set(partition, {
      offsets: [],
      state: [],
      head: 0,
      watermark: p.watermark,
      dropped: 0,
    })
  }

  /** The highest offset of the partition at and below which everything tracked is durable. */
  watermark(partition: string | number): number | undefined {
    return this.#partitions.get(partition)?.watermark
  }

  /** Offsets tracked and not yet below the watermark, per partition. */
  pending(partition: string | number): number {
    const p = this.#partitions.get(partition)
    return p === undefined ? 0 : p.offsets.length - p.head
  }

  #partition(partition: string | number): Partition {
    let p = this.#partitions.get(partition)
    if (p === undefined) {
      p = { offsets: [], state: [], head: 0, watermark: undefined, dropped: 0 }
      this.#partitions.set(partition, p)
    }
    return p
  }

  #settle(p: Partition, absolute: number, state: 'durable' | 'failed'): void {
    const index = absolute - p.dropped
    if (index < 0 || p.state[index] !== 'pending') return
    p.state[index] = state
    while (p.head < p.offsets.length && p.state[p.head] === 'durable') {
      p.watermark = p.offsets[p.head]
      p.head++
    }
    // Compact once the settled prefix is large, so memory follows what is in flight.
    if (p.head > 1024 && p.head * 2 > p.offsets.length) {
      p.dropped += p.head
      p.offsets.splice(0, p.head)
      p.state.splice(0, p.head)
      p.head = 0
    }
  }
}
