import { ArgumentError, PhononError, type PhononErrorOptions } from '@phonon/core'
import { PRODUCER_WINDOW } from './Backend.js'

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

/**
 * Why an idempotent backend refused a producer's batch (nothing of it was written):
 * - `gap`: records the producer holds as appended are not on the shard's record (the shard lost
 *   writes, e.g. a failover to a replica that had not got them, or a restart without
 *   persistence): those records are lost; appending after them would hide it.
 * - `stale`: a record of the batch has a sequence the producer appended before its last
 *   {@link PRODUCER_WINDOW} batches (or gave up on and skipped): it may be in the stream already
 *   and its id is no longer known, so it is not appended a second time.
 */
export type SequenceRefusal = 'gap' | 'stale'

/** A producer's batch was refused for its sequence numbers; nothing of it was written. */
export class SequenceError extends PhononError {
  readonly _tag = 'SequenceError' as const
  constructor(
    readonly reason: SequenceRefusal,
    readonly shard: number,
    readonly producerId: string,
    /** The batch's first sequence. */
    readonly first: number,
    /** The last sequence the shard holds of this producer. */
    readonly last: number,
  ) {
    super(
      reason === 'gap'
        ? `producer ${producerId} on shard ${shard}: records up to its batch at ${first} were acknowledged, but the shard holds its records only up to ${last} (the shard lost writes); nothing written`
        : `producer ${producerId} on shard ${shard}: the batch at ${first} is older than the ${PRODUCER_WINDOW} batches remembered (last ${last}); it may be appended already, nothing written`,
    )
  }
}

/**
 * Another process started with this producer id (a newer epoch on the shard): this one's batches
 * are refused, nothing written. Stop it; one id is one live producer.
 */
export class ProducerFenced extends PhononError {
  readonly _tag = 'ProducerFenced' as const
  constructor(
    readonly shard: number,
    readonly producerId: string,
    readonly epoch: number,
    /** The newer epoch that fenced it. */
    readonly current: number,
  ) {
    super(
      `producer ${producerId} (epoch ${epoch}) on shard ${shard} was fenced: a process took epoch ${current} of the id; nothing written`,
    )
  }
}
