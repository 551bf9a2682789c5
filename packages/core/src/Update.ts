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
  #spec: Readonly<Record<string, unknown>> | undefined
  #resourceId: string | undefined

  /**
   * @throws {@link ArgumentError} for an empty or non-string id, a resource id with braces or
   * control characters or longer than 512 characters, a collection containing `.`, or a session
   * length that is not a positive number.
   */
  constructor(options: UpdateOptions<Doc>) {
    this.id = idString(options.id, 'id')
    this.collection = collectionName(options.collection)
    checkResourceId(this.collection, this.id)
    this.database = options.database
    this.#spec = options.spec
    this.doc = options.doc ?? ({} as Doc)
    this.initCache = options.initCache === true
    // Sessions are unbounded unless asked for: then no clock is read on this hot path.
    if (options.softSessionMs === undefined && options.hardSessionMs === undefined) {
      this.softSessionMs = this.hardSessionMs = this.softDeadline = this.hardDeadline = Infinity
      return
    }
    this.softSessionMs = sessionLength(options.softSessionMs, 'softSessionMs')
    this.hardSessionMs = sessionLength(options.hardSessionMs, 'hardSessionMs')
    const now = options.now ?? Date.now()
    this.softDeadline = now + this.softSessionMs
    this.hardDeadline = now + this.hardSessionMs
  }

  /** How the sink finds the record; `{ id }` unless given. */
  get spec(): Readonly<Record<string, unknown>> {
    this.#spec ??= { id: this.id }
    return this.#spec
  }

  /** `collection.id`: the key of this update's resource everywhere (LRU, Redis, sink). */
  get resourceId(): string {
    this.#resourceId ??= `${this.collection}.${this.id}`
    return this.#resourceId
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
 * @throws {@link ArgumentError} when `collection.id` would contain braces or control characters
 * (unsafe in Redis Cluster hash tags) or be longer than 512 characters.
 */
function checkResourceId(collection: string, id: string): void {
  if (
    collection.length + id.length + 1 > MAX_ID_LENGTH ||
    !safeIdChars(id) ||
    !safeIdChars(collection)
  ) {
    const resourceId = `${collection}.${id}`
    throw new ArgumentError(
      `resource id ${JSON.stringify(resourceId.slice(0, 64))} must be at most ${MAX_ID_LENGTH} characters of well-formed UTF-16 without braces or control characters`,
    )
  }
}

/**
 * Whether `text` is free of braces (they would break Redis Cluster hash tags) and control
 * characters (C0, DEL, C1). A loop rather than a regex: it runs once per event.
 */
function safeIdChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x7b || c === 0x7d) return false
    // A lone surrogate has no UTF-8 form: Redis would see U+FFFD, so `s\ud800`, `s\udc00` and
    // `s\ufffd` would share one key. Only a high surrogate followed by a low one is well formed.
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1)
      if (c >= 0xdc00 || !(next >= 0xdc00 && next <= 0xdfff)) return false
      i++
    }
  }
  return true
}

/**
 * Checks a free-standing id (a lock's resource id, a worker name): non-empty, at most 512
 * characters, well-formed UTF-16, no braces or control characters. Every layer uses this one
 * check, so an id that one accepts, all accept. Returns the id.
 * @throws {@link ArgumentError} naming `what` otherwise.
 */
export function checkId(text: unknown, what: string): string {
  if (
    typeof text !== 'string' ||
    text.length === 0 ||
    text.length > MAX_ID_LENGTH ||
    !safeIdChars(text)
  ) {
    throw new ArgumentError(
      `${what} must be a non-empty string of at most ${MAX_ID_LENGTH} characters, well-formed UTF-16, without braces or control characters; got ${describe(text)}`,
    )
  }
  return text
}

/**
 * The resource id of an entity: `collection.id`.
 * @throws {@link ArgumentError} as the {@link Update} constructor does for a bad resource id.
 */
export function resourceIdOf(collection: string, id: string): string {
  checkResourceId(collection, id)
  return `${collection}.${id}`
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
