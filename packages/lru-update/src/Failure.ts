import type { Update } from '@phonon/core'
import type { Claim } from '@phonon/redis-shard'

/**
 * Work that exhausted its retries: kept by the aggregator (`failures()`) and told to `onFailed`,
 * never dropped. `retry()` runs it again, safely: releases are idempotent and a failed execution's
 * claim stays in the shard until it is completed. A failure leaves `failures()` once its own work
 * succeeded on a retry (a later `retry()` of it does nothing); a retry is judged by that work alone, never by what other work did meanwhile.
 * The messages waiting on a `fold` or `release` were nacked: retry it, or let the source redeliver
 * them, not both.
 *
 * - `fold` / `release`: a partial aggregate could not be released into the shard; `update` holds
 *   it (undefined when the session had nothing left to fold).
 * - `execute`: the sink rejected a claimed global aggregate; the claim stays in the shard.
 * - `complete`: the sink wrote the claim but the shard did not record it; a retry completes it
 *   (the sink, which dedupes on `(resourceId, epoch)`, may see the claim again after a crash).
 */
export type Failure =
  | {
      readonly kind: 'fold' | 'release'
      readonly resourceId: string
      readonly error: unknown
      readonly update: Update | undefined
      /**
       * `release`: releases again the hold it was sent with (idempotent: a release that reached
       * the shard folds nothing twice). `fold`: folds again with the hold it was sent with (the
       * shard applies it once), then releases that hold (its session went on under a new one).
       * Either, when it never reached the shard, releases its partial aggregate as a session of
       * its own. Then executes what that claims.
       * @throws (rejects) with the error of its own work when that failed again (the failure stays
       *   in `failures()`); with a `CacheError` pointing to `failures()` when its work went through
       *   but the executions or completions it led to failed (those are new failures there); a
       *   `ShardError` when the shard was closed.
       */
      retry(): Promise<void>
    }
  | {
      readonly kind: 'execute' | 'complete'
      readonly resourceId: string
      readonly error: unknown
      readonly claim: Claim
      /**
       * Executes (for `execute`) and completes the claim again, then the claims completing hands
       * back.
       * @throws (rejects) as the other `retry()`.
       */
      retry(): Promise<void>
    }
