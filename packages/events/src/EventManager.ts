import { ArgumentError, assertJson, type Json } from '@phonon/core'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { Event, type EventContext, type LogOptions } from './Event.js'
import {
  camelName,
  type Declaration,
  type Declarations,
  type EventTree,
  isSchema,
} from './registry.js'
import type { EventStore, LoggedEvent } from './store.js'

/** Options of {@link createEventManager}. */
export interface EventManagerOptions<D extends Declarations> {
  /** Where events are written. */
  readonly store: EventStore
  /** Declared event names (dotted, `'user.bought_shirt'`) with their schemas and classes. */
  readonly events?: D
  /** Whether names that are not declared may be logged (default true, as pymonster). */
  readonly allowUndeclared?: boolean
  /** The largest payload, in bytes of its JSON (default 256 KiB). */
  readonly maxPayloadBytes?: number
  /** Print each logged event (`true`: with `console.log`), as pymonster's verbose mode. */
  readonly verbose?: boolean | ((line: string) => void)
}

/** A dotted name: segments of letters, digits and `_`, each starting with a letter. */
const NAME = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/
/** Members of an event handle: accessing one ends a path (so no segment may be named so). */
const MEMBERS = new Set(['log', 'logMany', 'validate', 'transform', 'name'])

/**
 * pymonster's `EventManager`: hands out events by name and writes what they log.
 * `manager.events.user.boughtShirt.log({ … })` is typed by the declarations.
 */
export class EventManager<D extends Declarations = Declarations> {
  /** The typed tree of events: `events.event_1.log('a message')`. */
  readonly events: EventTree<D>
  private readonly declared = new Map<string, Event<never>>()
  private readonly undeclared = new Map<string, Event>()
  private readonly allowUndeclared: boolean
  private readonly maxPayloadBytes: number
  private readonly print: ((line: string) => void) | undefined

  constructor(
    /** Where events are written. */
    readonly store: EventStore,
    options: Omit<EventManagerOptions<D>, 'store'> = {},
  ) {
    this.allowUndeclared = options.allowUndeclared ?? true
    this.maxPayloadBytes = options.maxPayloadBytes ?? 256 * 1024
    if (!(Number.isSafeInteger(this.maxPayloadBytes) && this.maxPayloadBytes > 0)) {
      throw new ArgumentError(
        `maxPayloadBytes option must be an integer ≥ 1, got ${options.maxPayloadBytes}`,
      )
    }
    this.print = options.verbose === true ? console.log : options.verbose || undefined
    for (const [name, declaration] of Object.entries(options.events ?? {})) {
      this.declare(name, declaration)
    }
    this.events = this.node([]) as EventTree<D>
  }

  /**
   * The event of a name, for names known only at run time.
   * @throws {@link ArgumentError} for a malformed name, or an undeclared one when undeclared
   *   events are refused.
   */
  event(name: string): Event {
    const found = this.declared.get(name) ?? this.undeclared.get(name)
    if (found !== undefined) return found as Event
    checkName(name)
    if (!this.allowUndeclared) {
      throw new ArgumentError(`event ${name} is not declared and undeclared events are refused`)
    }
    const event = new Event(name, this.context(undefined))
    this.undeclared.set(name, event)
    return event
  }

  /**
   * Logs one event by name: `validate`, `transform` and `log` of its class.
   * @throws {@link ArgumentError} as {@link EventManager.event} and {@link Event.log}.
   */
  async log(name: string, input: unknown, options?: LogOptions): Promise<LoggedEvent> {
    return this.event(name).log(input as Json, options)
  }

  /**
   * Logs events of several names in one statement (all or none).
   * @throws {@link ArgumentError} for the first bad entry: nothing is written.
   */
  async logMany(
    entries: readonly { readonly name: string; readonly payload: unknown }[],
    options: LogOptions = {},
  ): Promise<LoggedEvent[]> {
    const checked: { name: string; payload: Json }[] = []
    for (const { name, payload } of entries) {
      const event = this.event(name)
      checked.push({
        name: event.name,
        payload: await event.transform(await event.validate(payload as Json)),
      })
    }
    return this.write(checked, options)
  }

  private declare(name: string, declaration: Declaration): void {
    checkName(name)
    const schema = isSchema(declaration) ? declaration : declaration.schema
    const EventClass = isSchema(declaration) ? undefined : declaration.eventClass
    if (schema !== undefined && !isSchema(schema)) {
      throw new ArgumentError(`the schema of ${name} is not a Standard Schema`)
    }
    const event = new (EventClass ?? Event)(name, this.context(schema))
    this.declared.set(name, event as Event<never>)
    if (camelName(name) !== name) this.declared.set(camelName(name), event as Event<never>)
  }

  private context(schema: StandardSchemaV1 | undefined): EventContext {
    return {
      schema,
      write: (name, payloads, options) =>
        this.write(
          payloads.map((payload) => ({ name, payload })),
          options,
        ),
    }
  }

  private async write(
    entries: readonly { name: string; payload: Json }[],
    options: LogOptions,
  ): Promise<LoggedEvent[]> {
    for (const { name, payload } of entries) this.checkPayload(name, payload)
    const logged = await this.store.append(entries, options.tx)
    if (this.print !== undefined) {
      for (const [i, event] of logged.entries()) {
        this.print(`logged ${event.name} #${event.id}: ${JSON.stringify(entries[i]!.payload)}`)
      }
    }
    return logged
  }

  /** @throws {@link ArgumentError} for what PostgreSQL's jsonb refuses or is over the bound. */
  private checkPayload(name: string, payload: Json): void {
    const text = JSON.stringify(assertJson(payload, `${name} payload`))
    if (text.includes('\\u0000')) {
      throw new ArgumentError(`${name} payload contains a NUL character, which jsonb cannot store`)
    }
    const bytes = Buffer.byteLength(text)
    if (bytes > this.maxPayloadBytes) {
      throw new ArgumentError(
        `${name} payload is ${bytes} bytes of JSON, over maxPayloadBytes (${this.maxPayloadBytes})`,
      )
    }
  }

  /** A proxy for the path `segments`: members of its event, or deeper paths. */
  private node(segments: readonly string[]): unknown {
    return new Proxy(Object.create(null), {
      get: (_, key) => {
        if (typeof key !== 'string' || key === 'then') return undefined
        if (!MEMBERS.has(key)) return this.node([...segments, key])
        const name = segments.join('.')
        let event: Event
        try {
          event = this.event(name)
        } catch (error) {
          if (key === 'name') throw error
          return () => Promise.reject(error)
        }
        const member = event[key as keyof Event]
        return typeof member === 'function' ? member.bind(event) : member
      },
    })
  }
}

/** @throws {@link ArgumentError} unless `name` is a dotted name. */
function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name) || name.length > 200) {
    throw new ArgumentError(
      `an event name must be dotted segments of letters, digits and _ (at most 200 characters), got ${JSON.stringify(name)}`,
    )
  }
  for (const segment of name.split('.')) {
    if (MEMBERS.has(segment))
      throw new ArgumentError(`an event name cannot have a segment ${segment}`)
  }
}

/**
 * Creates an {@link EventManager}.
 *
 * @param options - `store`, `events` (declarations), `allowUndeclared`, `maxPayloadBytes`,
 *   `verbose`.
 * @throws {@link ArgumentError} for a malformed declared name, a schema that is not a Standard
 *   Schema, or a bad option.
 * @example
 * const manager = createEventManager({
 *   store: await pgliteStore(),
 *   events: { 'user.bought_shirt': z.object({ user: z.string(), quantity: z.number().int() }) },
 * })
 * await manager.events.user.boughtShirt.log({ user: 'gordon', quantity: 2 })
 */
export function createEventManager<const D extends Declarations = Record<never, never>>(
  options: EventManagerOptions<D>,
): EventManager<D> {
  return new EventManager<D>(options.store, options)
}
