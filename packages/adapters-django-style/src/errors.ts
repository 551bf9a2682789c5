/**
 * The package's own error, and how a driver's error becomes a typed one: a database that cannot
 * be reached, or one that refused a row, is a {@link SinkError} naming where, with the driver's
 * error as `cause`; errors phonon threw on purpose pass through.
 *
 * @module
 */
import { PhononError, type PhononErrorOptions, SinkError, StaleFencingToken } from '@phonon/core'

/** `Model.objects.get(spec)` found no row: Django's `DoesNotExist`. */
export class DoesNotExist extends PhononError {
  readonly _tag = 'DoesNotExist' as const

  constructor(
    /** The table searched. */
    readonly table: string,
    /** The key asked for. */
    readonly spec: Readonly<Record<string, unknown>>,
    options?: PhononErrorOptions,
  ) {
    super(`${table} has no row ${describeSpec(spec)}`, options)
  }
}

function describeSpec(spec: Readonly<Record<string, unknown>>): string {
  return Object.entries(spec)
    .map(([name, value]) => `${name} = ${JSON.stringify(String(value))}`)
    .join(' and ')
}

/**
 * The SQLSTATE of a driver's error: `code` on pg and PGlite, `sqlState` on mysql2; undefined for
 * errors that never reached the database (a refused connection, a timeout).
 */
export function sqlState(error: unknown): string | undefined {
  const e = error as { code?: unknown; sqlState?: unknown } | null
  const state = typeof e?.sqlState === 'string' ? e.sqlState : e?.code
  return typeof state === 'string' && /^[0-9A-Z]{5}$/.test(state) ? state : undefined
}

/**
 * Whether the database refused one row of a write (so the others can still be written): a data
 * exception (SQLSTATE class 22: a value out of range…) or an integrity violation (class 23: a
 * constraint), or a fencing token lower than the row's.
 */
export function refusesRow(error: unknown): boolean {
  if (error instanceof StaleFencingToken) return true
  const state = sqlState(error)
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'))
}

/**
 * The typed error of a failure: phonon's own errors as they are; a driver's error as a
 * {@link SinkError} that says whether `database` could not be reached (no SQLSTATE, or class 08)
 * or refused what `what` names, with the driver's message and the error as `cause`.
 */
export function sinkError(error: unknown, database: string, what?: string): PhononError {
  if (error instanceof PhononError) return error
  const message = messageOf(error)
  const state = sqlState(error)
  if (state === undefined || state.startsWith('08')) {
    return new SinkError(`cannot reach ${database}: ${message}`, { cause: error })
  }
  const subject = what === undefined ? '' : `${what}: `
  return new SinkError(`${subject}${database} refused it: ${message} (SQLSTATE ${state})`, {
    cause: error,
  })
}

/** A driver error's message; Node's AggregateError (every address refused) has an empty one. */
function messageOf(error: unknown): string {
  const e = error as { message?: unknown; code?: unknown; errors?: unknown } | null
  if (typeof e?.message === 'string' && e.message !== '') return e.message
  if (Array.isArray(e?.errors) && e.errors.length > 0) return messageOf(e.errors[0])
  return typeof e?.code === 'string' ? e.code : String(error)
}
