import { createSink, type PGliteSinkOptions, type Sink } from '@phonon/adapters-django-style'
import { ArgumentError, SinkError } from '@phonon/core'
import type { Claim } from '@phonon/redis-shard'
import { Widget } from './model.js'

/** A SQL sink with the widgets table, counting the statements it sends. */
export interface CountingSink {
  readonly sink: Sink
  /** Statements sent so far. */
  statements(): number
  /** Writes a flush's claims in one transaction (one multi-row upsert). */
  executeBatch(claims: readonly Pick<Claim, 'resourceId' | 'epoch' | 'update'>[]): Promise<void>
  close(): Promise<void>
}

/**
 * PostgreSQL at `databaseUrl` (in `schema`, created if missing), or `pglite` (an instance), or
 * PGlite in memory; the widgets table created unless `migrate` is false.
 * @throws ArgumentError for a URL that is not `postgres://` or `postgresql://`.
 * @throws SinkError when the database cannot be reached.
 */
export async function openSink(
  databaseUrl?: string,
  schema?: string,
  options: { readonly migrate?: boolean; readonly pglite?: PGliteSinkOptions['pglite'] } = {},
): Promise<CountingSink> {
  let statements = 0
  const log = (event: { level: string }) => {
    if (event.level === 'query') statements++
  }
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ArgumentError(
      `DATABASE_URL must be a postgres:// URL, got ${databaseUrl.split(':')[0]}:…`,
    )
  }
  const sink = await createSink(
    databaseUrl === undefined
      ? {
          dialect: 'pglite',
          models: [Widget.sqlModel],
          log,
          ...(options.pglite === undefined ? {} : { pglite: options.pglite }),
        }
      : {
          dialect: 'postgres',
          pool: databaseUrl,
          models: [Widget.sqlModel],
          log,
          ...(schema === undefined ? {} : { schema }),
        },
  )
  Widget.sqlModel.bind(sink)
  if (options.migrate !== false) await sink.migrate()
  return {
    sink,
    statements: () => statements,
    executeBatch: async (claims) => {
      const { failed } = await sink.executeMany(claims)
      // lru-update's executeBatch is all or nothing: a claim not written fails the call, so that
      // none is completed unwritten (on the retry the written ones are recorded, and skipped).
      const [first] = failed
      if (first !== undefined) {
        throw new SinkError(
          `${failed.length} of ${claims.length} claims not written, the first ${first.resourceId}: ${first.error.message}`,
          { cause: first.error },
        )
      }
    },
    close: () => sink.close(),
  }
}
