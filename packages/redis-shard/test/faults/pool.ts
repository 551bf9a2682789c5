import { type ConnectOptions, connect, type RedisShard, type Topology } from '../../src/index.js'
import { faultCodec, type Ledger } from './ledger.js'

/** Options of a pool's worker beyond its topology, namespace, name and sink. */
export type WorkerOptions = Partial<Omit<ConnectOptions, 'codec' | 'namespace' | 'workerId'>>

/**
 * In-process workers of the fault tests, closed together (in `afterEach`). Each executes its
 * claims, and recovery's, into the test's ledger. Heartbeats and leases default to a few seconds,
 * so recovery happens within a test; the tests never depend on them being on time.
 */
export class Pool {
  readonly #shards: RedisShard[] = []

  async worker(
    topology: Topology,
    namespace: string,
    name: string,
    ledger: Ledger,
    options: WorkerOptions = {},
  ): Promise<RedisShard> {
    const shard = await connect({
      ...topology,
      codec: faultCodec(),
      namespace,
      workerId: name,
      heartbeatMs: 100,
      deadAfterMs: 5_000,
      leaseMs: 5_000,
      execute: (claim) => ledger.execute(claim),
      ...options,
    } as ConnectOptions)
    this.#shards.push(shard)
    return shard
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#shards.splice(0).map((shard) => shard.close()))
  }
}
