import { ArgumentError, CodecError } from './errors.js'
import { assertJson, describe, type Json } from './json.js'
import type { Update, UpdateOptions } from './Update.js'

/** The version of the envelope {@link Codec.encode} writes. */
export const CODEC_FORMAT = 1

// biome-ignore lint/suspicious/noExplicitAny: any update, whatever its doc type
type AnyUpdate = Update<any>

/**
 * A kind of update the codec can rebuild: a name that is stable across deployments (class names
 * are not, minifiers change them), a version, and how to rebuild an instance from its state.
 * Models are update types; wrap a class with {@link updateType}.
 */
export interface UpdateType<U extends AnyUpdate = AnyUpdate> {
  /** The stable name written into encoded updates. */
  readonly typeName: string
  /** The version of the state's shape; decoding another version is a {@link CodecError}. */
  readonly version: number
  /** The class whose instances this type encodes. */
  readonly updateClass: abstract new (
    ...args: never[]
  ) => U
  /**
   * Rebuilds an update from its identity and its {@link Update.state}.
   * @throws {@link ArgumentError} when the state is not valid for this type.
   */
  revive(identity: UpdateOptions<never>, state: Json): U
}

/**
 * Describes an {@link Update} subclass to the codec. The class must accept {@link UpdateOptions}
 * as its only constructor argument and restore its state through {@link Update.restore}.
 *
 * @param typeName - a name stable across deployments.
 * @param updateClass - the class.
 * @param version - the version of its state's shape (default 1).
 * @throws {@link ArgumentError} for an empty name or a version that is not a positive integer.
 * @example
 * const codec = new Codec([updateType('WidgetUpdate', WidgetUpdate)])
 */
export function updateType<U extends AnyUpdate>(
  typeName: string,
  updateClass: new (options: UpdateOptions<never>) => U,
  version = 1,
): UpdateType<U> {
  checkTypeName(typeName)
  checkVersion(version)
  return {
    typeName,
    version,
    updateClass,
    revive(identity, state) {
      const update = new updateClass(identity)
      update.restore(state)
      return update
    },
  }
}

/** The JSON-safe envelope of an encoded update. */
export interface EncodedUpdate {
  readonly format: typeof CODEC_FORMAT
  readonly type: string
  readonly version: number
  readonly id: string
  readonly collection: string
  readonly database?: string
  readonly spec: Json
  readonly state: Json
}

/**
 * Encodes updates to a versioned, JSON-safe form and back, through a registry of update types by
 * name. Never evaluates code; every payload is validated.
 *
 * @example
 * const codec = new Codec([Widget, updateType('WidgetUpdate', WidgetUpdate)])
 * const copy = codec.parse(codec.stringify(Widget.create({ id: 'w1', clicks: 2 })))
 */
export class Codec {
  readonly #byName = new Map<string, UpdateType>()
  readonly #byClass = new Map<unknown, UpdateType>()

  /** @throws {@link ArgumentError} when two types share a name or a class. */
  constructor(types: Iterable<UpdateType> = []) {
    for (const type of types) this.register(type)
  }

  /**
   * Adds an update type.
   * @throws {@link ArgumentError} when its name or class is already registered.
   */
  register(type: UpdateType): this {
    checkTypeName(type.typeName)
    checkVersion(type.version)
    if (this.#byName.has(type.typeName))
      throw new ArgumentError(`update type ${type.typeName} is already registered`)
    if (this.#byClass.has(type.updateClass)) {
      throw new ArgumentError(`the class of update type ${type.typeName} is already registered`)
    }
    this.#byName.set(type.typeName, type)
    this.#byClass.set(type.updateClass, type)
    return this
  }

  /** The registered type of that name, if any. */
  typeNamed(typeName: string): UpdateType | undefined {
    return this.#byName.get(typeName)
  }

  /** The registered type of an update, if any. */
  typeOf(update: AnyUpdate): UpdateType | undefined {
    return this.#byClass.get(update.constructor)
  }

  /**
   * The JSON-safe envelope of `update`.
   * @throws {@link ArgumentError} when its class is not registered or its state or spec is not
   * JSON-safe (NaN, Infinity, bigint, cycles, class instances).
   */
  encode(update: AnyUpdate): EncodedUpdate {
    const type = this.typeOf(update)
    if (type === undefined) {
      throw new ArgumentError(
        `update class ${update.constructor.name} is not registered with this codec`,
      )
    }
    return {
      format: CODEC_FORMAT,
      type: type.typeName,
      version: type.version,
      id: update.id,
      collection: update.collection,
      ...(update.database === undefined ? {} : { database: update.database }),
      spec: assertJson(update.spec, `${update.resourceId} spec`),
      state: assertJson(update.state(), `${update.resourceId} state`),
    }
  }

  /**
   * Rebuilds an update from an envelope.
   * @throws {@link CodecError} for anything but a valid envelope of a registered type and version
   * whose state that type accepts; the cause keeps the underlying error.
   */
  decode(encoded: unknown): AnyUpdate {
    const envelope = checkEnvelope(encoded)
    const type = this.#byName.get(envelope.type)
    if (type === undefined)
      throw new CodecError(`unknown update type ${JSON.stringify(envelope.type)}`)
    if (envelope.version !== type.version) {
      throw new CodecError(
        `update type ${type.typeName} is at version ${type.version}, cannot decode version ${envelope.version}`,
      )
    }
    const { id, collection, database, spec } = envelope
    try {
      const identity = {
        id,
        collection,
        spec: spec as Record<string, unknown>,
        ...(database ? { database } : {}),
      }
      return type.revive(identity, envelope.state)
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw new CodecError(`cannot decode ${type.typeName} ${JSON.stringify(id)}: ${reason}`, {
        cause: error,
      })
    }
  }

  /**
   * `encode` then `JSON.stringify`.
   * @throws {@link ArgumentError} as {@link Codec.encode}.
   */
  stringify(update: AnyUpdate): string {
    return JSON.stringify(this.encode(update))
  }

  /**
   * `JSON.parse` then `decode`.
   * @throws {@link CodecError} for malformed JSON or any reason {@link Codec.decode} gives.
   */
  parse(text: string): AnyUpdate {
    let encoded: unknown
    try {
      encoded = JSON.parse(text)
    } catch (error) {
      throw new CodecError('encoded update is not valid JSON', { cause: error })
    }
    return this.decode(encoded)
  }
}

function checkEnvelope(encoded: unknown): EncodedUpdate {
  if (typeof encoded !== 'object' || encoded === null || Array.isArray(encoded)) {
    throw new CodecError(`encoded update must be an object, got ${describe(encoded)}`)
  }
  const e = encoded as Record<string, unknown>
  if (e.format !== CODEC_FORMAT)
    throw new CodecError(`unsupported codec format ${describe(e.format)}`)
  const problems = [
    typeof e.type === 'string' ? '' : 'type must be a string',
    Number.isSafeInteger(e.version) ? '' : 'version must be an integer',
    typeof e.id === 'string' ? '' : 'id must be a string',
    typeof e.collection === 'string' ? '' : 'collection must be a string',
    e.database === undefined || typeof e.database === 'string' ? '' : 'database must be a string',
    typeof e.spec === 'object' && e.spec !== null && !Array.isArray(e.spec)
      ? ''
      : 'spec must be an object',
    'state' in e ? '' : 'state is missing',
  ].filter(Boolean)
  if (problems.length > 0) throw new CodecError(`malformed encoded update: ${problems.join(', ')}`)
  return encoded as EncodedUpdate
}

function checkTypeName(typeName: unknown): void {
  if (typeof typeName !== 'string' || typeName.length === 0) {
    throw new ArgumentError(
      `update type name must be a non-empty string, got ${describe(typeName)}`,
    )
  }
}

function checkVersion(version: unknown): void {
  if (!Number.isSafeInteger(version) || (version as number) < 1) {
    throw new ArgumentError(
      `update type version must be a positive integer, got ${describe(version)}`,
    )
  }
}
