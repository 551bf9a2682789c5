/**
 * The one source of truth of the scripts' protocol: reply codes, the fields of a resource's hash
 * and the one-letter codes of field folds. `scripts/codegen.ts` writes `lua/includes/protocol.lua`
 * from it (turbo's `codegen` task, which `build` and `typecheck` depend on), so the Lua side and
 * the typed wrappers of `scripts.ts` cannot disagree.
 */

/** What a script says about one resource. Negative: the resource failed and is unchanged. */
export const Reply = {
  /** acquire: held; complete: done (nothing claimed next). */
  OK: 0,
  /** release: other holders remain. */
  HELD: 1,
  /** release: an execution is pending; whoever completes it claims this state. */
  PENDING: 2,
  /** release: nothing to execute. */
  EMPTY: 3,
  /** release: a retry of a release that went through (nothing folded). */
  RELEASED: 4,
  /** release / complete / evict: `{CLAIMED, lost, epoch, totals…, deltas}`. */
  CLAIMED: 5,
  /** fold: `{FOLDED, lost, timesModified, forced}`. */
  FOLDED: 6,
  /** A key of the resource holds another Redis type. */
  WRONG_TYPE: -1,
  /** An integer would leave the signed 64-bit range, or a float would not be finite. */
  OVERFLOW: -2,
  /**
   * fold / release: the hold's step is ahead of the step the shard recorded: a fold before it
   * (in doubt after a lost reply) has not arrived. Send that one first.
   */
  OUT_OF_ORDER: -3,
  /**
   * fold: the hold was released and the fold is past its final step (a fold after its session's
   * release, not a retry: a replayed fold at or below the final step answers FOLDED).
   */
  NOT_HELD: -4,
} as const

/** A reply code. */
export type ReplyCode = (typeof Reply)[keyof typeof Reply]

/**
 * The fields of a resource's hash `{ns:R}` (holders are `h:<token>`, field states `p<i>` / `q<i>`
 * pending and `c<i>` / `b<i>` claimed, `i` the field's index in its model).
 */
export const HashField = {
  /** Number of holders. */
  count: 'n',
  /** Times modified since the last claim (present iff state is pending). */
  mods: 'm',
  /** forceExpiry's mark. */
  forced: 'x',
  /** The claimed execution: epoch, owner incarnation, lease deadline (ms), what claimed it. */
  epoch: 'e',
  owner: 'o',
  lease: 'l',
  claimedBy: 'k',
  /** The final step of the hold whose release claimed it (absent for other claims). */
  claimedStep: 's',
  /** Prefixes. */
  holder: 'h:',
  pending: 'p',
  pendingAt: 'q',
  claimed: 'c',
  claimedAt: 'b',
} as const

/** The one-letter code of each Redis fold of `@phonon/core`'s fields; `*` marks a custom update. */
export const FoldCode = {
  incrby: 'i',
  incrbyfloat: 'f',
  max: 'M',
  min: 'm',
  lastWrite: 'w',
  rpush: 'l',
  sadd: 's',
  pfadd: 'h',
  zadd: 'z',
  hincrby: 'c',
  none: '-',
  custom: '*',
} as const

/** Folds whose state lives in the resource's hash; the others have keys of their own. */
export const IN_HASH = ['incrby', 'incrbyfloat', 'max', 'min', 'lastWrite', 'none'] as const
