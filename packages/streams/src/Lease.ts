import type { Coordinator, LeaseGrant } from './Backend.js'

/** What one round of lease upkeep changed. */
export interface LeaseChanges {
  /** Shards newly ours: read them from their checkpoint. */
  readonly acquired: readonly LeaseGrant[]
  /** Shards no longer ours (expired and taken): what was not committed must be dropped. */
  readonly lost: readonly number[]
  /** Shards over this worker's fair share: commit, then {@link ShardLeases.give}. */
  readonly surplus: readonly number[]
}

/**
 * One worker's leases on a stream's shards (the Kinesis Client Library's lease taker): it
 * heartbeats as a member, renews its leases, takes free or expired ones up to its fair share of
 * the live members, and names its surplus when members join.
 */
export class ShardLeases {
  readonly #owned = new Map<number, number>()

  constructor(
    readonly coordinator: Coordinator,
    readonly owner: string,
    /** The shards this group divides among its members. */
    readonly shards: readonly number[],
    readonly ttlMs: number,
  ) {}

  /** The leases held: shard → fencing token. */
  owned(): ReadonlyMap<number, number> {
    return this.#owned
  }

  /** Renews, takes and sheds leases once; call it every third of the TTL or so. */
  async tick(): Promise<LeaseChanges> {
    const members = await this.coordinator.heartbeat(this.owner, this.ttlMs)
    const grants = [...this.#owned].map(([shard, token]) => ({ shard, token }))
    const renewed = await this.coordinator.renew(grants, this.owner, this.ttlMs)
    const lost = grants.filter((_, i) => !renewed[i]).map((g) => g.shard)
    for (const shard of lost) this.#owned.delete(shard)
    const target = fairShare(this.shards.length, members, this.owner)
    const acquired: LeaseGrant[] = []
    if (this.#owned.size < target) {
      const now = Date.now()
      const leases = await this.coordinator.leases()
      for (const shard of this.shards) {
        if (this.#owned.size >= target) break
        const lease = leases[shard]
        if (this.#owned.has(shard) || (lease !== undefined && lease.expiresAt > now)) continue
        const token = await this.coordinator.acquire(shard, this.owner, this.ttlMs)
        if (token === undefined) continue
        this.#owned.set(shard, token)
        acquired.push({ shard, token })
      }
    }
    const surplus = [...this.#owned.keys()]
      .sort((a, b) => b - a)
      .slice(0, Math.max(0, this.#owned.size - target))
    return { acquired, lost, surplus }
  }

  /** Gives leases up (after committing what was read from them). */
  async give(shards: readonly number[]): Promise<void> {
    for (const shard of shards) {
      const token = this.#owned.get(shard)
      if (token === undefined) continue
      this.#owned.delete(shard)
      await this.coordinator.release({ shard, token }, this.owner)
    }
  }

  /** Forgets a lease found lost (by a refused commit). */
  drop(shard: number): void {
    this.#owned.delete(shard)
  }

  /** Gives every lease up and leaves the group. */
  async leave(): Promise<void> {
    await this.give([...this.#owned.keys()])
    await this.coordinator.leave(this.owner)
  }
}

/** How many of `shards` the member should own: an even split, the first ones taking the remainder. */
export function fairShare(shards: number, members: readonly string[], member: string): number {
  const index = Math.max(0, members.indexOf(member))
  const count = Math.max(1, members.length)
  return Math.floor(shards / count) + (index < shards % count ? 1 : 0)
}
