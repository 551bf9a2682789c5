import { ArgumentError, assertJson, type Json } from '@phonon/core'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { Queryable } from './driver.js'
import type { LoggedEvent } from './store.js'

/** Options of a `log`. */
export interface LogOptions {
  /**
   * Your transaction (a `pg` client inside `BEGIN`, a PGlite transaction): the events are written
   * in it and appear to consumers only if it commits (the outbox pattern).
   */
  readonly tx?: Queryable
}

/** What an {@link Event} is given by its manager. */
export interface EventContext {
  /** The declared payload schema, if any. */
  readonly schema: StandardSchemaV1 | undefined
  /** Checks payloads (JSON-safe, within the size bound) and writes them. */
  write(name: string, payloads: readonly Json[], options: LogOptions): Promise<LoggedEvent[]>
}

/** A class of events; subclass {@link Event} and declare it with `eventClass`. */
export type EventClass = new (name: string, context: EventContext) => Event<never>

/**
 * One event name, as `events.user.boughtShirt` hands it out: `log` validates the input against
 * the declared schema, `transform`s it and appends it to the log.
 *
 * Subclass it for custom events (pymonster's custom event classes): override `validate` to check
 * more, `transform` to reshape the payload, or `log` to log differently, then call `super`.
 *
 * @example
 * class BoughtShirt extends Event<{ user: string; quantity: number }> {
 *   override transform(payload: Json) { return { ...(payload as object), source: 'shop' } }
 * }
 */
export class Event<Input = Json> {
  constructor(
    /** The dotted name the events are stored under. */
    readonly name: string,
    /** The manager's services. */
    protected readonly context: EventContext,
  ) {}

  /**
   * Checks one input and returns its payload: the declared schema's output (or the input when
   * none is declared), which must be JSON-safe.
   * @throws {@link ArgumentError} naming the event and the schema's first issues.
   */
  async validate(input: Input): Promise<Json> {
    const schema = this.context.schema
    if (schema === undefined) return assertJson(input, `${this.name} payload`)
    const result = await schema['~standard'].validate(input)
    if (result.issues !== undefined) {
      const issues = result.issues
        .slice(0, 3)
        .map((issue) => `${pathOf(issue)}${issue.message}`)
        .join('; ')
      throw new ArgumentError(`${this.name} payload fails its schema: ${issues}`)
    }
    return assertJson(result.value, `${this.name} payload`)
  }

  /** Reshapes a validated payload before it is stored; the identity unless overridden. */
  transform(payload: Json): Json | Promise<Json> {
    return payload
  }

  /**
   * Logs one event.
   * @returns its id, name and creation time.
   * @throws {@link ArgumentError} when the input fails validation, is not JSON-safe or is larger
   *   than `maxPayloadBytes`: nothing is written.
   */
  async log(input: Input, options: LogOptions = {}): Promise<LoggedEvent> {
    const [logged] = await this.context.write(this.name, [await this.prepare(input)], options)
    return logged!
  }

  /**
   * Logs several events in one statement; all or none are written.
   * @throws {@link ArgumentError} as {@link Event.log}, for the first bad input: nothing written.
   */
  async logMany(inputs: readonly Input[], options: LogOptions = {}): Promise<LoggedEvent[]> {
    const payloads: Json[] = []
    for (const input of inputs) payloads.push(await this.prepare(input))
    return this.context.write(this.name, payloads, options)
  }

  /** `validate` then `transform`. */
  protected async prepare(input: Input): Promise<Json> {
    return this.transform(await this.validate(input))
  }
}

function pathOf(issue: StandardSchemaV1.Issue): string {
  if (issue.path === undefined || issue.path.length === 0) return ''
  const keys = issue.path.map((key) => String(typeof key === 'object' ? key.key : key))
  return `${keys.join('.')}: `
}
