import { ArgumentError } from '@phonon/core'
import type { RedisOptions } from 'ioredis'
import { RedisShard, type RedisShardOptions } from './RedisShard.js'
import { ClusterRouter, clusterClient, RendezvousRouter, standaloneClients } from './Routing.js'

/** Where the shard's Redis is: standalone nodes, a Redis Cluster, or nodes by region. */
export type Topology =
  | { readonly nodes: readonly string[] }
  | { readonly cluster: ReadonlyArray<string | { readonly host: string; readonly port: number }> }
  | { readonly regions: Readonly<Record<string, readonly string[]>> }

/** Options of {@link connect}: a topology and the shard's options. */
export type ConnectOptions = Topology &
  Omit<RedisShardOptions, 'router'> & { readonly redis?: RedisOptions }

/**
 * Checks the seed's reliability rule for a region map: at least 2 regions with at least 2 nodes
 * each. Returns the nodes of every region, in a stable order.
 * @throws {@link ArgumentError} naming what is missing.
 */
export function regionNodes(regions: Readonly<Record<string, readonly string[]>>): string[] {
  const names = Object.keys(regions).sort()
  const short = names.filter((name) => (regions[name]?.length ?? 0) < 2)
  if (names.length < 2 || short.length > 0) {
    const missing = [
      names.length < 2
        ? `${2 - names.length} more region(s) (have ${names.length}: ${names.join(', ') || 'none'})`
        : '',
      ...short.map((name) => `${2 - (regions[name]?.length ?? 0)} more node(s) in ${name}`),
    ].filter(Boolean)
    throw new ArgumentError(
      `regions need at least 2 nodes in each of at least 2 regions; missing ${missing.join(', ')}`,
    )
  }
  return names.flatMap((name) => [...(regions[name] ?? [])])
}

/**
 * Connects a worker to the shared tier on Redis and starts its heartbeat.
 *
 * - `{ nodes: [url, …] }`: standalone nodes; each resource lives on one node chosen by
 *   rendezvous hashing (adding a node moves about 1/N of the resources).
 * - `{ cluster: [startup nodes] }`: a Redis Cluster through ioredis `Cluster`; every resource's
 *   keys share a hash tag, so every script runs on one slot.
 * - `{ regions: { name: [url, …] } }`: the seed's region map, checked for at least 2 nodes in at
 *   least 2 regions, then spread over all nodes like `nodes`. When a node fails, the resources
 *   hashed to it fail with a `ShardError` until it is back: they are never moved to another node,
 *   because a resource's reference counts and partial state must stay in one place to be
 *   executed exactly once. The rule guarantees the other nodes keep serving their resources.
 *
 * @throws {@link ArgumentError} for an empty or invalid topology or options.
 * @example
 * const shard = await connect({ nodes: ['redis://127.0.0.1:6380'], codec: new Codec([Widget]) })
 */
export async function connect(options: ConnectOptions): Promise<RedisShard> {
  const router = routerFor(options)
  try {
    return await new RedisShard({ ...options, router }).start()
  } catch (error) {
    await Promise.allSettled(router.clients.map((client) => client.quit()))
    throw error
  }
}

function routerFor(options: ConnectOptions) {
  if ('cluster' in options) {
    if (options.cluster.length === 0)
      throw new ArgumentError('cluster needs at least one startup node')
    return new ClusterRouter(clusterClient(options.cluster))
  }
  const urls = 'regions' in options ? regionNodes(options.regions) : [...options.nodes]
  if (urls.length === 0) throw new ArgumentError('nodes needs at least one Redis URL')
  if (new Set(urls).size !== urls.length) throw new ArgumentError('nodes must not repeat a URL')
  return new RendezvousRouter(urls, standaloneClients(urls, options.redis))
}
