/**
 * The seed's two services updating one user record under a lock. The address-lookup service and
 * the email-verification service (two workers, each with its own shard connection) hold a
 * `Reference` to the record `User.me`. Each looks up its field, takes the reference's lock (every
 * grant carries a fencing token), adds its field to the shared record and, if it sees
 * `count() == 1`, knows it is the last to update it and writes the record to the database
 * (fenced). A lock attempt while the other service holds it fails at once with `AlreadyLocked`;
 * the service then waits for the lock (a blocking retry).
 *
 * On a private redis-server; without one, on two MemoryShards sharing one MemoryStore.
 *
 * Run: pnpm --filter @phonon/examples exec tsx --conditions=@phonon/source src/reference-locking.ts
 */

import { AlreadyLocked, Codec, defineModel, id, lastWrite, StaleFencingToken } from '@phonon/core'
import {
  connect,
  type LockHandle,
  MemoryShard,
  MemoryStore,
  Reference,
  type Shard,
} from '@phonon/redis-shard'
import { type Command, type Flag, type FlagValues, runCli } from './cli.js'
import { optionalRedis } from './optional-redis.js'

/** Options of {@link runReferenceLocking}. */
export interface ReferenceLockingOptions {
  /** Use Redis when a redis-server can be started (default true); false: in process. */
  readonly redis?: boolean
}

/** A row of the users table. */
export interface UserRow {
  readonly id: string
  readonly email: string | null
  readonly address: string | null
}

/** What happened, and whether it is what the seed promises. */
export interface ReferenceLockingSummary {
  readonly mode: 'redis' | 'memory'
  readonly note: string | undefined
  /** The users table at the end. */
  readonly record: UserRow | undefined
  /** Every write to the table: by which service, with which fencing token. */
  readonly writes: ReadonlyArray<{ by: string; fencingToken: number }>
  /** The services whose first lock attempt met `AlreadyLocked`. */
  readonly alreadyLocked: readonly string[]
  /** The fencing tokens, in the order the locks were granted. */
  readonly fencingTokens: ReadonlyArray<{ service: string; token: number }>
  /** Sessions still holding the record at the end. */
  readonly holdersLeft: number
  /** What each service did, in order. */
  readonly log: readonly string[]
  readonly check: boolean
}

/** The record both services add to: each field keeps its latest write. */
const User = defineModel('User', {
  id: id(),
  email: lastWrite<string>(),
  address: lastWrite<string>(),
})
type UserUpdate = ReturnType<typeof User.create>
const RECORD = { resourceId: 'User.me', typeName: 'User' }

/** The database: one users table whose rows remember the highest fencing token written. */
function usersTable() {
  const rows = new Map<string, UserRow & { fence: number }>()
  const writes: Array<{ by: string; fencingToken: number }> = []
  return {
    rows,
    writes,
    write(row: UserRow, fencingToken: number, by: string) {
      const fence = rows.get(row.id)?.fence ?? 0
      if (fencingToken < fence)
        throw new StaleFencingToken(`${row.id}: token ${fencingToken} < ${fence}`)
      rows.set(row.id, { ...row, fence: fencingToken })
      writes.push({ by, fencingToken })
    },
  }
}

/** Runs both services on the record and checks the outcome. */
export async function runReferenceLocking(
  options: ReferenceLockingOptions = {},
): Promise<ReferenceLockingSummary> {
  const { server, note } = await optionalRedis(options.redis, 'MemoryShards')
  const codec = new Codec([User])
  const store = new MemoryStore()
  const worker = async (workerId: string): Promise<Shard> =>
    server
      ? await connect({ nodes: [server.url], codec, workerId })
      : new MemoryShard({ codec, store, workerId })
  const shards: Shard[] = []

  try {
    const database = usersTable()
    // So that AlreadyLocked shows on every run, the email check finishes while the address
    // service holds the lock, and the address service keeps it until the email service was refused.
    const addressLocked = deferred()
    const refused = deferred()
    const alreadyLocked: string[] = []
    const log: string[] = []
    const fencingTokens: Array<{ service: string; token: number }> = []

    /** A non-blocking attempt first; on `AlreadyLocked`, a blocking retry. */
    async function lock(service: string, reference: Reference): Promise<LockHandle> {
      let handle: LockHandle
      try {
        handle = await reference.lock() // fails at once if the other service holds it
      } catch (error) {
        if (!(error instanceof AlreadyLocked)) throw error
        log.push(`${service}: AlreadyLocked, waiting for the lock`)
        alreadyLocked.push(service)
        refused.resolve()
        handle = await reference.lock({ block: true, timeoutMs: 5_000 })
      }
      fencingTokens.push({ service, token: handle.fencingToken })
      log.push(`${service}: locked, fencing token ${handle.fencingToken}`)
      return handle
    }

    /** The seed's service body: look up a field, add it to the record under the lock. */
    async function updateRecord(
      service: string,
      reference: Reference,
      field: 'email' | 'address',
      lookup: () => Promise<string>,
      whileLocked: () => Promise<void>,
    ): Promise<void> {
      const value = await lookup()
      const handle = await lock(service, reference)
      try {
        await whileLocked()
        const last = (await reference.count()) === 1 // nobody else still updates the record
        const delta = User.create({ id: 'me', [field]: { at: Date.now(), value } })
        const result = await reference.release({ delta }) // my field joins the shared record
        if (last) {
          if (!result.last)
            throw new Error(`${service} saw count() == 1 but was not the last holder`)
          const { id, email, address } = (result.claim.update as UserUpdate).aggregate()
          database.write(
            { id, email: email?.value ?? null, address: address?.value ?? null },
            handle.fencingToken,
            service,
          )
          await reference.completeExecution(result.claim)
          log.push(`${service}: count() == 1, wrote the record`)
        } else log.push(`${service}: count() == 2, added ${field}, the other service writes`)
      } finally {
        await handle.release()
      }
    }

    // The seed's setup: each service's process holds a reference to the record before starting.
    const addressLookup = new Reference(await worker('address-lookup'), RECORD)
    const emailVerification = new Reference(await worker('email-verification'), RECORD)
    shards.push(addressLookup.shard, emailVerification.shard)
    await addressLookup.acquire()
    await emailVerification.acquire()

    await Promise.all([
      updateRecord(
        'address-lookup',
        addressLookup,
        'address',
        async () => '1 Main Street',
        async () => {
          addressLocked.resolve()
          await Promise.race([refused.promise, sleep(2_000)])
        },
      ),
      updateRecord(
        'email-verification',
        emailVerification,
        'email',
        async () => {
          await addressLocked.promise
          return 'me@example.com'
        },
        async () => {},
      ),
    ])

    const holdersLeft = await addressLookup.count()
    const record = database.rows.get('me')
    const tokens = fencingTokens.map((t) => t.token)
    return {
      mode: server ? 'redis' : 'memory',
      note,
      record: record && { id: record.id, email: record.email, address: record.address },
      writes: database.writes,
      alreadyLocked,
      fencingTokens,
      holdersLeft,
      log,
      check:
        record?.email === 'me@example.com' &&
        record.address === '1 Main Street' &&
        database.writes.length === 1 &&
        database.writes[0]?.by === fencingTokens.at(-1)?.service && // the last lock holder
        alreadyLocked.length > 0 &&
        tokens.length === 2 &&
        tokens.every((token, i) => i === 0 || token > (tokens[i - 1] as number)) &&
        holdersLeft === 0,
    }
  } finally {
    await Promise.all(shards.map((shard) => shard.close()))
    await server?.stop()
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {}
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** A timer that does not keep the process alive. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref())

/** The command line: `pnpm --filter @phonon/examples example:reference-locking --help`. */
export const command = {
  name: 'example:reference-locking',
  summary:
    "The seed's two services updating one user record under Reference locks; checks it was written once.",
  flags: { memory: { type: 'boolean', help: 'run on MemoryShards, even with Redis' } },
} satisfies Command<Record<string, Flag>>

async function main(flags: FlagValues<typeof command.flags>): Promise<boolean> {
  const summary = await runReferenceLocking({ redis: !flags.memory })
  if (summary.note) console.log(`(${summary.note})`)
  for (const line of summary.log) console.log(line)
  console.log('record:', summary.record)
  console.log(`check: ${summary.check ? '✔' : '✘'} both fields, written once by the last holder`)
  return summary.check
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(command, main)
