import { ArgumentError } from './errors.js'
import { idString } from './fields/scalar.js'
import { assertJson, describe, type Json } from './json.js'

/** What every {@link Update} is constructed with. */
export interface UpdateOptions<Doc = Record<string, unknown>> {
  /** The entity's id (a string, or a safe integer turned into one). */
  readonly id: string | number
  /** The entity's collection (table, kind); part of the resource id. Default `'default'`. */
  readonly collection?: string
  /** The database the sink writes to, when it has several. */
  readonly database?: string
  /** How the sink finds the record, e.g. `{ id }` for `getOrCreate`. Default `{ id }`. */
  readonly spec?: Readonly<Record<string, unknown>>
  /** The partial aggregate (default `{}`). */
  readonly doc?: Doc
  /** The session ends this long after the last `refresh` (default: never). */
  readonly softSessionMs?: number
  /** The session ends this long after construction, however often refreshed (default: never). */
  readonly hardSessionMs?: number
  /** Fold into the shared tier as soon as the session starts (phonon's `init_cache`). */
  readonly initCache?: boolean
  /** The current time in ms, when sessions are finite (default `Date.now()`). */
  readonly now?: number
}

/** Characters a resource id may not contain: braces would break Redis Cluster hash tags. */
const UNSAFE_ID = /[{}\p{Cc}]/u
const MAX_ID_LENGTH = 512

/**
 * A pending change to one entity: phonon's `Update`. Workers merge updates for the same resource
 * locally; when the session ends the partial aggregate is folded into the shared tier, and the
 * last holder calls {@link Update.execute} with the global aggregate.
 *
 * Subclass it and implement {@link Update.merge} and {@link Update.execute}; override
 * {@link Update.state}, {@link Update.restore} and {@link Update.clear} when you keep data outside
 * `doc`.
 *
 * @typeParam Doc - the partial aggregate's type.
 * @example
 * class WidgetUpdate extends Update<{ clicks: number }> {
 *   merge(other: WidgetUpdate) { this.doc.clicks += other.doc.clicks }
 *   async execute() { await db.incrementClicks(this.id, this.doc.clicks) }
 * }
 */
export abstract class Update<Doc = Record<string, unknown>> {
  /** The entity's id. */
  readonly id: string
  /** The entity's collection. */
  readonly collection: string
  /** The database the sink writes to, if given. */
  readonly database: string | undefined
  /** How the sink finds the record. */
  readonly spec: Readonly<Record<string, unknown>>
  /** `collection.id`: the key of this update's resource everywhere (LRU, Redis, sink). */
  readonly resourceId: string
  /** The partial aggregate. */
  doc: Doc
  /** Whether to fold into the shared tier as soon as the session starts. */
  readonly initCache: boolean
  /** Soft session length in ms (`Infinity`: none). */
  readonly softSessionMs: number
  /** Hard session length in ms (`Infinity`: none). */
  readonly hardSessionMs: number
  /** When set, {@link Update.isExpired} is true whatever the time. */
  forceExpiry = false
  /** The time the soft session ends, moved on by every {@link Update.refresh}. */
  softDeadline: number
  /** The time the hard session ends. */
  readonly hardDeadline: number

  /**
   * @throws {@link ArgumentError} for an empty or non-string id, a resource id with braces or
   * control characters or longer than 512 characters, a collection containing `.`, or a session
   * length that is not a positive number.
   */
  constructor(options: UpdateOptions<Doc>) {
    this.id = idString(options.id, 'id')
    this.collection = collectionName(options.collection)
    this.database = options.database
    this.spec = options.spec ?? { id: this.id }
    this.resourceId = resourceIdOf(this.collection, this.id)
    this.doc = options.doc ?? ({} as Doc)
    this.initCache = options.initCache ?? false
    this.softSessionMs = sessionLength(options.softSessionMs, 'softSessionMs')
    this.hardSessionMs = sessionLength(options.hardSessionMs, 'hardSessionMs')
    const finite = this.softSessionMs !== Infinity || this.hardSessionMs !== Infinity
    const now = finite ? (options.now ?? Date.now()) : 0
    this.softDeadline = now + this.softSessionMs
    this.hardDeadline = now + this.hardSessionMs
  }

  /**
   * Folds `other`'s partial aggregate into this one. Must be associative: merging partials in any
   * grouping gives the same aggregate.
   */
  abstract merge(other: this): void

  /** Writes the aggregate to the sink; called once per session on the last holder. */
  abstract execute(...args: unknown[]): void | Promise<void>

  /**
   * A JSON-safe snapshot of the partial aggregate: what is stored in the shared tier and encoded
   * by the codec. Defaults to `doc`; override when the update keeps other attributes.
   */
  state(): Json {
    return assertJson(this.doc, `${this.resourceId} doc`)
  }

  /**
   * Replaces the partial aggregate with a decoded {@link Update.state}. Defaults to setting `doc`.
   * @throws {@link ArgumentError} when `state` is not a valid state of this update.
   */
  restore(state: Json): void {
    this.doc = state as Doc
  }

  /** Empties the partial aggregate after it was folded elsewhere. Defaults to an empty `doc`. */
  clear(): void {
    this.doc = this.emptyDoc()
  }

  /** The empty partial aggregate; `{}` unless overridden. */
  protected emptyDoc(): Doc {
    return {} as Doc
  }

  /** Merges `other` and extends the soft session to `now + softSessionMs` (phonon's `refresh`). */
  refresh(other: this, now = this.softSessionMs === Infinity ? 0 : Date.now()): void {
    this.merge(other)
    this.softDeadline = now + this.softSessionMs
  }

  /** Whether the session has ended at `now`: forced, idle past the soft session, or past the hard one. */
  isExpired(now: number): boolean {
    return this.forceExpiry || now >= this.softDeadline || now >= this.hardDeadline
  }

  /** Whether the hard session has ended at `now`: the update must not absorb more merges. */
  isPastHardSession(now: number): boolean {
    return now >= this.hardDeadline
  }
}

function collectionName(collection: string | undefined): string {
  if (collection === undefined) return 'default'
  if (typeof collection !== 'string' || collection.length === 0 || collection.includes('.')) {
    throw new ArgumentError(
      `collection must be a non-empty string without '.', got ${describe(collection)}`,
    )
  }
  return collection
}

/**
 * The resource id of an entity: `collection.id`.
 * @throws {@link ArgumentError} when it would contain braces or control characters (unsafe in
 * Redis Cluster hash tags) or be longer than 512 characters.
 */
export function resourceIdOf(collection: string, id: string): string {
  const resourceId = `${collection}.${id}`
  if (UNSAFE_ID.test(resourceId) || resourceId.length > MAX_ID_LENGTH) {
    throw new ArgumentError(
      `resource id ${JSON.stringify(resourceId.slice(0, 64))} must be at most ${MAX_ID_LENGTH} characters without braces or control characters`,
    )
  }
  return resourceId
}

function sessionLength(value: number | undefined, name: string): number {
  if (value === undefined) return Infinity
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new ArgumentError(
      `${name} must be a positive number of milliseconds, got ${describe(value)}`,
    )
  }
  return value
}
