/**
 * The one error hierarchy of phonon. Every package throws these, so Promise users can test with
 * `instanceof` and Effect users can match on `_tag`.
 */

/** Options every phonon error accepts; `cause` keeps the underlying error. */
export interface PhononErrorOptions {
  readonly cause?: unknown
}

/** Base class of every error phonon throws on purpose. */
export abstract class PhononError extends Error {
  /** Discriminant for pattern matching (Effect `catchTag`, `switch`). */
  abstract readonly _tag: string

  constructor(message: string, options?: PhononErrorOptions) {
    super(message, options)
  }

  override get name(): string {
    return this._tag
  }
}

/** A value passed to phonon is invalid: wrong type, non-finite number, out of range, unknown key. */
export class ArgumentError extends PhononError {
  readonly _tag = 'ArgumentError' as const
}

/** An encoded update could not be decoded: unknown type, wrong version, malformed payload. */
export class CodecError extends PhononError {
  readonly _tag = 'CodecError' as const
}

/** A lock is held by someone else and could not be acquired in time. */
export class AlreadyLocked extends PhononError {
  readonly _tag = 'AlreadyLocked' as const

  constructor(
    /** The resource whose lock was wanted. */
    readonly resourceId: string,
    options?: PhononErrorOptions,
  ) {
    super(`resource ${JSON.stringify(resourceId)} is already locked`, options)
  }
}

/** A lock operation was attempted by a caller that does not own the lock (or it expired). */
export class LockNotOwned extends PhononError {
  readonly _tag = 'LockNotOwned' as const
}

/** A write carried a fencing token lower than one the sink has already seen. */
export class StaleFencingToken extends PhononError {
  readonly _tag = 'StaleFencingToken' as const
}

/** The local cache of updates failed: closed, full past its bound, or an entry could not be kept. */
export class CacheError extends PhononError {
  readonly _tag = 'CacheError' as const
}

/** The shared tier (Redis or the in-process shard) failed or answered something unexpected. */
export class ShardError extends PhononError {
  readonly _tag = 'ShardError' as const
}

/**
 * The database a sink writes to failed: unreachable, or it refused a row. The message names the
 * database (host and port) or the resource; `cause` holds the driver's error.
 */
export class SinkError extends PhononError {
  readonly _tag = 'SinkError' as const
}
