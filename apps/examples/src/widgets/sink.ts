import {
  type BatchResult,
  createSink,
  type PGliteSinkOptions,
  type Sink,
} from '@phonon/adapters-django-style'
import { ArgumentError } from '@phonon/core'
import type { Claim } from '@phonon/redis-shard'
import { Widget } from './model.js'

/** A SQL sink with the widgets table, counting the statements it sends. */
export interface CountingSink {
  readonly sink: Sink
  /** Statements sent so far. */
  statements(): number
  /**
   * Writes a flush's claims (one multi-row upsert), each row failing alone: the sink's
   * `{ applied, skipped, failed }` as it is, which the phonon source takes (the written claims
   * are completed, a refused one stays claimed and is executed again).
   */
  executeBatch(
    claims: readonly Pick<Claim, 'resourceId' | 'epoch' | 'update'>[],
  ): Promise<BatchResult>
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
    executeBatch: (claims) => sink.executeMany(claims),
    close: () => sink.close(),
  }
}
