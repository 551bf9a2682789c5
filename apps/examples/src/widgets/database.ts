/**
 * Where the widgets table lives: PostgreSQL at DATABASE_URL (a schema of the run's own), or
 * PGlite in the parent process, served over the PostgreSQL wire protocol on a free local port
 * (`@electric-sql/pglite-socket`) so that every worker writes to it with `pg` directly — no
 * execution goes through the parent's IPC.
 */
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { type CountingSink, openSink } from './sink.js'

/** The job's database: the parent's sink and the URL its workers write to. */
export interface Database {
  /** The parent's handle (the table is created and checked through it). */
  readonly sink: CountingSink
  /** What workers connect to. */
  readonly workerUrl: string
  /** The run's schema on PostgreSQL (dropped by `close`); undefined on PGlite. */
  readonly schema: string | undefined
  /** `PostgreSQL, schema …` or `PGlite (in process, served on port …)`. */
  readonly label: string
  close(): Promise<void>
}

/**
 * Opens PostgreSQL at `databaseUrl` (schema `phonon_widgets_<runId>`), or PGlite with its socket
 * server for `workers` worker processes; the widgets table created.
 * @throws ArgumentError for a URL that is not `postgres://`; SinkError when it cannot be reached.
 */
export async function openDatabase(
  databaseUrl: string | undefined,
  runId: string,
  workers: number,
): Promise<Database> {
  if (databaseUrl !== undefined) {
    const schema = `phonon_widgets_${runId}`
    const sink = await openSink(databaseUrl, schema)
    return {
      sink,
      workerUrl: databaseUrl,
      schema,
      label: `PostgreSQL, schema ${schema}`,
      close: async () => {
        try {
          await sink.sink.db.schema.dropSchema(schema).ifExists().cascade().execute()
        } finally {
          await sink.close()
        }
      },
    }
  }
  const db = await PGlite.create()
  // Each worker's pool (pg's default: up to 10 connections) plus slack; PGlite runs one query at
  // a time, the server queues the others (a transaction's statements stay together).
  const server = new PGLiteSocketServer({
    db,
    host: '127.0.0.1',
    port: 0,
    maxConnections: workers * 10 + 4,
  })
  const sink = await openSink(undefined, undefined, { pglite: db })
  await server.start()
  const port = Number(server.getServerConn().split(':').at(-1))
  return {
    sink,
    workerUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    schema: undefined,
    label: `PGlite (in process, served to the workers on port ${port})`,
    close: async () => {
      await server.stop()
      await sink.close()
    },
  }
}
