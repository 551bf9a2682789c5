import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type RedisServer, startRedis, waitFor } from '@phonon/testkit'
import { afterAll, afterEach, beforeAll } from 'vitest'
import type { Shard } from '../../src/index.js'
import type { WorkerConfig } from './fixtures/worker.js'
import { expectEventuallyIdle, type Ledger, type Totals } from './ledger.js'
import { Pool, type WorkerOptions } from './pool.js'
import { allAckedExecuted, expectTagged, resourceUpdate, type Tags } from './tags.js'

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url))

/** A line a worker process reports (see `fixtures/worker.ts`). */
type Line =
  | { t: 'ready'; incarnation: string }
  | { t: 'try'; tag: string; resourceId: string; totals: Totals }
  | { t: 'ack'; tag: string }
  | { t: 'exec'; resourceId: string; epoch: number; totals: Totals }
  | { t: 'held' | 'stuck' | 'done' }

/** Every worker process started and not yet ended: SIGKILLed after each test file. */
const running = new Set<ChildProcess>()

/** SIGKILLs every worker process still running (call in `afterEach`). */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/**
 * A worker process of `fixtures/worker.ts`, its reports fed into the test's ledger (executions)
 * and tags (tried and acknowledged deltas) as they arrive.
 */
export class WorkerProcess {
  readonly child: ChildProcess
  readonly seen: Array<Line['t']> = []
  acks = 0
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(
    readonly config: WorkerConfig,
    ledger: Ledger,
    tags: Tags,
  ) {
    this.child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@phonon/source', WORKER, JSON.stringify(config)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    running.add(this.child)
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        running.delete(this.child)
        resolve({ code, signal })
      }),
    )
    const lines = createInterface({ input: this.child.stdout as NodeJS.ReadableStream })
    lines.on('line', (text) => {
      const line = JSON.parse(text) as Line
      this.seen.push(line.t)
      if (line.t === 'try') tags.tryTotals(line.tag, line.resourceId, line.totals)
      else if (line.t === 'ack') {
        tags.ack(line.tag)
        this.acks++
      } else if (line.t === 'exec') {
        const { resourceId, epoch, totals } = line
        ledger.record({ resourceId, epoch, totals })
      }
    })
  }

  /** Waits (polling, with a deadline) until the process reported `t`. */
  async reported(t: Line['t'], timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `${this.config.name} to report ${t}`,
      async () => this.seen.includes(t),
      timeoutMs,
    )
  }

  /** SIGKILLs the process and waits for its end and for its last lines to be read. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL')
    await this.exited
  }
}

/** Heartbeats and leases of the process tests: short, so recovery happens within seconds. */
export const TIMING = { heartbeatMs: 100, deadAfterMs: 1_000, leaseMs: 2_000 }
/** How long recovery may take under load before a test gives up. */
const RECOVERED_WITHIN_MS = 30_000

/**
 * A test file's private redis-server (started before its tests, stopped after), in-process workers
 * on it, worker processes (SIGKILLed after each test if still running), and the final check.
 */
export function processFixture() {
  let server: RedisServer
  const pool = new Pool()
  beforeAll(async () => {
    server = await startRedis()
  })
  afterEach(async () => {
    killAll()
    await pool.close()
  })
  afterAll(async () => {
    await server?.stop()
  })
  return {
    /** An in-process worker whose sink (and recovery's) is the test's ledger. */
    worker: (namespace: string, name: string, ledger: Ledger, options: WorkerOptions = {}) =>
      pool.worker({ nodes: [server.url] }, namespace, name, ledger, { ...TIMING, ...options }),
    /** The configuration of a worker process. */
    config: (namespace: string, name: string, overrides: Partial<WorkerConfig>): WorkerConfig => ({
      url: server.url,
      namespace,
      name,
      mode: 'loop',
      tagPrefix: `o:${name}:0`,
      seed: 1,
      resources: 1,
      withDoc: false,
      ...TIMING,
      ...overrides,
    }),
  }
}

/**
 * Polls until every acknowledged delta was executed and every resource is idle (recovery and
 * lease expiry may take a while after a death), then checks exactness (see {@link expectTagged}).
 */
export async function expectRecovered(
  ledger: Ledger,
  tags: Tags,
  probe: Shard,
  resources: number,
  withDoc: boolean,
): Promise<void> {
  await waitFor(
    'every acknowledged delta executed',
    async () => allAckedExecuted(ledger, tags),
    RECOVERED_WITHIN_MS,
  ).catch((error) => {
    expectTagged(ledger, tags) // says which deltas are missing
    throw error
  })
  const all = Array.from({ length: resources }, (_, i) => resourceUpdate(i, withDoc))
  await expectEventuallyIdle(probe, all, ledger)
  expectTagged(ledger, tags)
}
