/**
 * `@phonon/testkit` (private): helpers shared by phonon's tests, examples and benchmarks.
 *
 * @packageDocumentation
 */

export { cliArgs } from './cli.js'
export { type KinesaliteServer, startKinesalite } from './kinesalite.js'
export {
  type PostgresConfig,
  type PostgresSchema,
  postgresConfig,
  postgresSchema,
  uniqueName,
} from './postgres.js'
export {
  type Fault,
  type FaultPolicy,
  type FaultProxy,
  frameEnd,
  type ProxiedCommand,
  type ProxyStats,
  type RandomFaultsOptions,
  randomFaults,
  type StartFaultProxyOptions,
  startFaultProxy,
} from './proxy.js'
export { type Random, seededRandom } from './random.js'
export {
  freePort,
  type RedisCluster,
  type RedisClusterNode,
  type RedisNodes,
  type RedisServer,
  type StartRedisClusterOptions,
  type StartRedisOptions,
  startRedis,
  startRedisCluster,
  startRedisNodes,
  waitFor,
} from './redis.js'
export { type RespReply, respCommand } from './resp.js'
export { type RunScriptOptions, runScript } from './script.js'
export { createZipf, type Zipf, type ZipfOptions, zipfSample } from './zipf.js'
