import { ArgumentError } from '@phonon/core'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { Client } from './scripts.js'

/** Where keys live: which client serves a hash tag. */
export interface Router {
  /** Whether the client is a Redis Cluster (commands of different slots cannot share a pipeline). */
  readonly cluster: boolean
  /** The client of the node that holds keys tagged `{tag}`. */
  clientFor(tag: string): Client
  /** Every client, once. */
  readonly clients: readonly Client[]
}

const MASK = 0xffffffffffffffffn

/**
 * A 64-bit hash of a string: FNV-1a over its UTF-16 units, then MurmurHash3's fmix64 finaliser,
 * whose avalanche makes similar inputs (node names differing in one digit) score independently.
 */
export function hash64(text: string): bigint {
  let h = 0xcbf29ce484222325n
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i))
    h = (h * 0x100000001b3n) & MASK
  }
  h ^= h >> 33n
  h = (h * 0xff51afd7ed558ccdn) & MASK
  h ^= h >> 33n
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK
  return h ^ (h >> 33n)
}

/**
 * Rendezvous (highest-random-weight) hashing over standalone nodes: a tag goes to the node with
 * the highest `hash(node, tag)`. Every node is equally likely; adding an Nth node moves only the
 * tags it now wins, about 1/N of them, and removing one moves only its own tags. No ring, no
 * virtual nodes; O(nodes) per lookup, cached per tag.
 */
export class RendezvousRouter implements Router {
  readonly cluster = false
  readonly #names: readonly string[]
  readonly #cache = new Map<string, Client>()

  constructor(
    /** The node names (their URLs) hashed with each tag; they fix the placement. */
    names: readonly string[],
    readonly clients: readonly Client[],
  ) {
    if (names.length === 0 || names.length !== clients.length) {
      throw new ArgumentError('a router needs at least one node, and one client per node')
    }
    this.#names = names
  }

  /** The index of the node a tag goes to. */
  nodeIndex(tag: string): number {
    let best = 0
    let bestWeight = -1n
    this.#names.forEach((name, i) => {
      const weight = hash64(`${name}\u0000${tag}`)
      if (weight > bestWeight) {
        bestWeight = weight
        best = i
      }
    })
    return best
  }

  clientFor(tag: string): Client {
    if (this.clients.length === 1) return this.clients[0] as Client // nothing to choose
    let client = this.#cache.get(tag)
    if (client === undefined) {
      client = this.clients[this.nodeIndex(tag)] as Client
      if (this.#cache.size > 100_000) this.#cache.clear()
      this.#cache.set(tag, client)
    }
    return client
  }
}

/** Every key goes through one ioredis `Cluster`, which routes by slot. */
export class ClusterRouter implements Router {
  readonly cluster = true
  readonly clients: readonly Client[]

  constructor(readonly client: Cluster) {
    this.clients = [client]
  }

  clientFor(): Client {
    return this.client
  }
}

/** Standalone clients for node URLs. */
export function standaloneClients(urls: readonly string[], options: RedisOptions = {}): Redis[] {
  // The cast bridges ioredis' option types and exactOptionalPropertyTypes.
  return urls.map((url) => new Redis(url, { maxRetriesPerRequest: 3, ...options } as never))
}

/** A Cluster client for startup nodes, with auto-pipelining (one batch per node per tick). */
export function clusterClient(
  nodes: ReadonlyArray<string | { host: string; port: number }>,
): Cluster {
  return new Cluster(nodes as Array<string | { host: string; port: number }>, {
    enableAutoPipelining: true,
    redisOptions: { maxRetriesPerRequest: 3 },
  })
}
