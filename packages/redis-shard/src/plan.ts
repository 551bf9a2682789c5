import {
  ArgumentError,
  type Codec,
  CodecError,
  checkId,
  Model,
  type ModelUpdate,
  type RedisReply,
  resourceIdOf,
  type Update,
  type UpdateType,
} from '@phonon/core'
import { FoldCode, HashField, IN_HASH } from './protocol.js'
import type { Claim, Hold, ResourceRef } from './Shard.js'

/** The identity of a resource, as updates are constructed with. */
export interface Identity {
  readonly id: string
  readonly collection: string
}

/** `<incarnation>:<sequence>` → its parts. */
export function splitToken(token: string): [string, number] {
  const colon = token.lastIndexOf(':')
  return [token.slice(0, colon), Number(token.slice(colon + 1))]
}

/** @throws {@link ArgumentError} unless `collection.id` with a well-formed id. */
export function checkResource(resourceId: string): string {
  if (typeof resourceId !== 'string' || !resourceId.includes('.'))
    throw new ArgumentError(`resource id ${JSON.stringify(resourceId)} must be collection.id`)
  return checkId(resourceId, 'resource id')
}

/** `collection.id` → its parts (collections never contain a dot). */
export function identityOf(resourceId: string): Identity {
  const dot = resourceId.indexOf('.')
  return { collection: resourceId.slice(0, dot), id: resourceId.slice(dot + 1) }
}

/**
 * How updates of one type travel through Redis (`lua/includes/batch.lua`, `fields.lua`): a
 * model's fields fold field by field, numeric and lastWrite ones in the resource's hash,
 * collections in keys of their own; any other update is encoded with the codec and pushed to a
 * `deltas` list, to be merged by the last holder with its own `merge`.
 */
export class TypePlan {
  /** The fold codes of the fields, e.g. `'i,i'` or `'l4,s,z3'`; `'*'` for a custom update. */
  readonly spec: string
  /** The suffixes of the resource's extra keys: a pending/claimed pair per collection field. */
  readonly extraKeys: readonly string[]
  /** The delta arguments of no delta. */
  readonly emptyArgs: readonly string[]
  readonly #model: Model | undefined

  constructor(
    readonly type: UpdateType,
    private readonly codec: Codec,
    private readonly maxDeltaBytes: number,
  ) {
    this.#model = type instanceof Model ? type : undefined
    if (!this.#model) {
      this.spec = FoldCode.custom
      this.extraKeys = ['d', 'D']
      this.emptyArgs = ['']
      return
    }
    const fields = this.#model.valueFields
    this.spec = fields
      .map(
        ([, field]) => `${FoldCode[field.redis.op as keyof typeof FoldCode]}${param(field.redis)}`,
      )
      .join(',')
    this.extraKeys = fields.flatMap(([, field], i) =>
      inHash(field.redis.op)
        ? []
        : [`${HashField.pending}${i + 1}`, `${HashField.claimed}${i + 1}`],
    )
    this.emptyArgs = fields.flatMap(([, field]) => emptyOf(field.redis.op))
  }

  /**
   * The script arguments that fold `update` (or nothing): per field its value(s), see
   * `lua/includes/fields.lua`. Identity values are sent as nothing.
   * @throws {@link ArgumentError} for an update of another type or of another resource than
   * `resourceId`, a field value of the wrong type or not finite, a state that is not JSON-safe,
   * or a delta larger than `maxDeltaBytes`; nothing is sent then.
   */
  deltaArgs(update: Update | undefined, resourceId?: string): readonly string[] {
    if (update === undefined) return this.emptyArgs
    if (this.codec.typeOf(update) !== this.type) {
      throw new ArgumentError(`${update.resourceId} is not a ${this.type.typeName} update`)
    }
    if (resourceId !== undefined && update.resourceId !== resourceId) {
      throw new ArgumentError(
        `an update of ${update.resourceId} cannot be folded into the hold of ${resourceId}`,
      )
    }
    const model = this.#model
    const args: string[] = []
    let bytes = 0
    if (model) {
      const doc = update.doc as Record<string, unknown>
      for (const [name, field] of model.valueFields) {
        // A doc changed by hand since it was lifted is checked again: the codec round trip
        // rejects wrong types and non-finite numbers before anything reaches Redis.
        const value = field.decode(field.encode(doc[name]), `${update.resourceId}.${name}`)
        const op = field.redis.op
        if (field.isEmpty(value)) {
          args.push(...emptyOf(op))
          continue
        }
        const values = field.redisArgs(value)
        for (const v of values) bytes += v.length
        if (inHash(op))
          args.push(...(op === 'lastWrite' || op === 'none' ? values : [values[0] ?? '']))
        else args.push(String(values.length), ...values)
      }
    } else {
      const text = this.codec.stringify(update)
      bytes = text.length
      args.push(text)
    }
    if (bytes > this.maxDeltaBytes) {
      throw new ArgumentError(
        `${update.resourceId}: delta of ${bytes} bytes exceeds maxDeltaBytes ${this.maxDeltaBytes}`,
      )
    }
    return args
  }

  /**
   * The update to execute for a claim, from the claim reply's tail: one total per field (a
   * model), or the deltas list (a custom update).
   * @throws {@link CodecError} when Redis holds something that does not decode.
   */
  claimed(resourceId: string, tail: readonly RedisReply[]): Update {
    const identity = identityOf(resourceId)
    try {
      if (this.#model) {
        const replies = Object.fromEntries(
          this.#model.valueFields.map(([name], i) => [name, tail[i] ?? null]),
        )
        return this.#model.fromTotals(identity, replies) as ModelUpdate
      }
      const deltas = (tail[0] ?? []) as string[]
      const [first, ...rest] = deltas.map((text) => this.codec.parse(text))
      const update = first ?? this.type.revive(identity, {})
      for (const other of rest) update.merge(other)
      return update
    } catch (error) {
      if (error instanceof CodecError) throw error
      throw new CodecError(`cannot read back the state of ${resourceId}`, { cause: error })
    }
  }
}

function inHash(op: string): boolean {
  return (IN_HASH as readonly string[]).includes(op)
}

/** The arguments of a field with nothing to fold. */
function emptyOf(op: string): string[] {
  if (op === 'none') return []
  if (op === 'lastWrite') return ['', '']
  return inHash(op) ? [''] : ['0']
}

function param(fold: {
  readonly op: string
  readonly cap?: number | null
  readonly keep?: number
}): string {
  if ('cap' in fold && fold.cap != null) return String(fold.cap)
  if ('keep' in fold && fold.keep !== undefined) return String(fold.keep)
  return ''
}

/** The plans of every update type of a codec, made on first use, and how to name a resource. */
export class TypePlans {
  readonly #plans = new Map<string, TypePlan>()

  constructor(
    readonly codec: Codec,
    private readonly maxDeltaBytes: number,
  ) {}

  /** The plan of an update type, by name. @throws {@link ArgumentError} for an unknown type. */
  plan(typeName: string): TypePlan {
    let plan = this.#plans.get(typeName)
    if (plan === undefined) {
      const type = this.codec.typeNamed(typeName)
      if (type === undefined)
        throw new ArgumentError(`update type ${typeName} is not registered with the shard's codec`)
      plan = new TypePlan(type, this.codec, this.maxDeltaBytes)
      this.#plans.set(typeName, plan)
    }
    return plan
  }

  /**
   * The plan of a hold's type, the hold checked to be one that `newHold` and folds make: a
   * registered type, a well-formed resource id, a token `<incarnation>:<sequence>` (a positive
   * integer) and a step (a non-negative integer). Both shards check every item of a call first.
   * @throws {@link ArgumentError} otherwise (nothing is sent or changed).
   */
  ofHold(hold: Hold): TypePlan {
    checkResource(hold.resourceId)
    this.ref({ resourceId: hold.resourceId, typeName: hold.typeName })
    const [incarnation, sequence] = splitToken(String(hold.token))
    if (incarnation === '' || !Number.isSafeInteger(sequence) || sequence <= 0) {
      throw new ArgumentError(`malformed hold token ${JSON.stringify(hold.token)}`)
    }
    if (!Number.isSafeInteger(hold.step) || hold.step < 0) {
      throw new ArgumentError(`malformed hold step ${JSON.stringify(hold.step)}`)
    }
    return this.plan(hold.typeName)
  }

  /**
   * The plan of a claim's type, the claim checked: a registered type, a well-formed resource id,
   * an epoch that is a positive integer.
   * @throws {@link ArgumentError} otherwise (nothing is sent or changed).
   */
  ofClaim(claim: Claim): TypePlan {
    checkResource(claim.resourceId)
    this.ref({ resourceId: claim.resourceId, typeName: claim.typeName })
    if (!Number.isSafeInteger(claim.epoch) || claim.epoch <= 0) {
      throw new ArgumentError(`malformed claim epoch ${JSON.stringify(claim.epoch)}`)
    }
    return this.plan(claim.typeName)
  }

  /**
   * The resource an update (or a named resource) is about, with its type's name.
   * @throws {@link ArgumentError} for a type the codec does not know, or a named resource whose
   * id is not `collection.id` or holds braces or control characters.
   */
  ref(target: Update | ResourceRef): ResourceRef {
    if ('typeName' in target) {
      this.plan(target.typeName)
      const { collection, id } = identityOf(target.resourceId)
      if (!target.resourceId.includes('.') || collection === '') {
        throw new ArgumentError(
          `resource id ${JSON.stringify(target.resourceId)} must be collection.id`,
        )
      }
      // The same checks as an update's: no braces or control characters (Cluster hash tags).
      return { resourceId: resourceIdOf(collection, id), typeName: target.typeName }
    }
    const type = this.codec.typeOf(target)
    if (type === undefined) {
      throw new ArgumentError(
        `update class ${target.constructor.name} is not registered with the shard's codec`,
      )
    }
    return { resourceId: target.resourceId, typeName: type.typeName }
  }
}
