import { ArgumentError, PhononError, type PhononErrorOptions } from '@phonon/core'

/** A streams config (YAML or code) is invalid; the message names the file, stream and field. */
export class StreamConfigError extends ArgumentError {
  override readonly _tag = 'ArgumentError' as const
  readonly kind = 'StreamConfigError' as const
}

/** Why a record was refused by a producer. */
export type RecordRefusal = 'no-partition-key' | 'oversized' | 'not-json'

/** A record a producer refused; nothing of the call was written. */
export class RecordError extends ArgumentError {
  readonly reason: RecordRefusal
  constructor(reason: RecordRefusal, message: string, options?: PhononErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/** The backend failed (connection, server error); what was asked may or may not have happened. */
export class StreamError extends PhononError {
  readonly _tag = 'StreamError' as const
}

/**
 * A worker was stopped while its last commit stayed unconfirmed (the backend unreachable): that
 * round may or may not be committed. Nothing of it was released, so it counts once either way —
 * applied from its log entry by whoever sees it, or read again from the checkpoint.
 */
export class CommitUnconfirmed extends StreamError {}

/**
 * A shard's lease is no longer this worker's (it expired and another worker took it, or it was
 * released): its checkpoint and what it folded since its last commit were refused.
 */
export class LeaseLost extends PhononError {
  readonly _tag = 'LeaseLost' as const
  constructor(
    readonly shard: number,
    message = `the lease of shard ${shard} was lost`,
  ) {
    super(message)
  }
}

/**
 * A commit's round did not start from a shard's stored checkpoint: another round committed that
 * range already (or the stored checkpoint changed under the worker). Nothing was written; the
 * round must go back to the stored checkpoint.
 */
export class CheckpointConflict extends PhononError {
  readonly _tag = 'CheckpointConflict' as const
  constructor(
    readonly shard: number,
    /** The checkpoint the round read from (undefined: none). */
    readonly from: string | undefined,
    /** The stored checkpoint (undefined: none). */
    readonly current: string | undefined,
  ) {
    super(
      `the checkpoint of shard ${shard} is ${current ?? 'none'}, not ${from ?? 'none'} as the round read from: another round committed that range`,
    )
  }
}

/**
 * A log entry older than the shard's `retryWindowMs` was about to be replayed: the shard may have
 * forgotten the releases and evicted holds it would need to recognise the entry's operations as
 * applied, and would then fold them again (over-count). Nothing of it was applied; it stays in
 * the log (see the README, "Exactly once"; `phononSource`'s `lateReplays: 'apply'` applies it
 * anyway).
 */
export class LateReplay extends PhononError {
  readonly _tag = 'LateReplay' as const
  constructor(
    /** The log entry's id. */
    readonly id: string,
    /** How long ago it was committed (ms, by the coordinator's clock). */
    readonly ageMs: number,
    readonly retryWindowMs: number,
  ) {
    super(
      `log entry ${id} was committed ${ageMs} ms ago, past the shard's retryWindowMs (${retryWindowMs}): replaying it could count its folds and releases twice`,
    )
  }
}
