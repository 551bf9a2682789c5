import type { Json } from '@phonon/core'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import type { Event, EventClass } from './Event.js'

/**
 * How one event name is declared: a payload schema (any Standard Schema: zod, valibot, arktype…),
 * or an object with a `schema` and/or a custom `eventClass`.
 */
export type Declaration =
  | StandardSchemaV1
  | { readonly schema?: StandardSchemaV1; readonly eventClass?: EventClass }

/** Dotted event names (`'user.bought_shirt'`) and their declarations. */
export type Declarations = Readonly<Record<string, Declaration>>

type SchemaOf<D> = D extends StandardSchemaV1
  ? D
  : D extends { readonly schema: infer S extends StandardSchemaV1 }
    ? S
    : undefined

/** What `log` accepts for a declaration: its schema's input, or any JSON value. */
export type InputOf<D> =
  SchemaOf<D> extends StandardSchemaV1 ? StandardSchemaV1.InferInput<SchemaOf<D>> : Json

/** The handle a declaration gets: an instance of its `eventClass`, else an `Event`. */
export type HandleOf<D> = D extends {
  readonly eventClass: abstract new (...args: never[]) => infer E
}
  ? E
  : Event<InputOf<D>>

/** `bought_shirt` → `boughtShirt`. */
export type CamelCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${H}${Capitalize<CamelCase<T>>}`
  : S

type Head<K extends string> = K extends `${infer H}.${string}` ? H : K
type Rest<K extends string, H extends string> = K extends `${H}.${infer R}` ? R : never

/**
 * The typed tree of declared events: `'user.bought_shirt'` is reached as
 * `events.user.bought_shirt` or `events.user.boughtShirt`.
 */
export type EventTree<D> = {
  readonly [H in Head<keyof D & string> as H | CamelCase<H>]: (H extends keyof D
    ? HandleOf<D[H]>
    : unknown) &
    (keyof Children<D, H> extends never ? unknown : EventTree<Children<D, H>>)
}

type Children<D, H extends string> = { [K in keyof D & string as Rest<K, H>]: D[K] }

/** `'user.bought_shirt'` → `'user.boughtShirt'`. */
export function camelName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

/** Whether `value` is a Standard Schema. */
export function isSchema(value: unknown): value is StandardSchemaV1 {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    '~standard' in value
  )
}
