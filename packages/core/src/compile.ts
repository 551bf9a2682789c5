import type { AnyField } from './Field.js'

/** A model's field values keyed by field name. */
type Values = Record<string, unknown>

/**
 * The per-event operations of a model. They run once per event in the hot path, so they are
 * compiled per model into straight-line code with constant property names (10× faster than
 * loops over names, whose keyed property accesses V8 cannot specialise).
 */
export interface ModelOps {
  /**
   * A new doc `{ id: undefined, ...fields }` from user input: lifted values, empty where missing.
   * @throws {@link ArgumentError} for an unknown key (through `unknownKey`) or a rejected input.
   */
  createDoc(input: Values): Values
  /** Lifts `input` and folds it into `doc`; atomic: a rejected input or total changes nothing. */
  add(doc: Values, input: Values): void
  /** Folds the values of `from` into `doc` (fields `undefined` in `from` are skipped); atomic. */
  fold(doc: Values, from: Values): void
}

/** A value field of a model, with the path its error messages name. */
export interface OpField {
  readonly name: string
  readonly field: AnyField
  readonly path: string
}

/**
 * Builds the operations of a model. Fallible fields (whose combine may reject its result) are
 * combined first and assigned only once all succeeded; the others never throw.
 *
 * @param unknownKey - called when the input has more keys than it gives values (so perhaps keys
 *   that are not fields); throws for a key that is not a field.
 * @param codegen - compile with `new Function` (default); the generic loops are used where code
 *   generation is not allowed (a Content-Security-Policy without `unsafe-eval`). Only the
 *   model's field names reach the generated code, each quoted with `JSON.stringify`.
 */
export function modelOps(
  fields: readonly OpField[],
  unknownKey: (input: Values) => void,
  codegen = true,
): ModelOps {
  const ordered = [
    ...fields.filter((f) => f.field.fallible),
    ...fields.filter((f) => !f.field.fallible),
  ]
  if (codegen) {
    try {
      return compiledOps(ordered, unknownKey)
    } catch {
      // Code generation is disallowed here: fall through to the generic loops.
    }
  }
  return genericOps(ordered, unknownKey)
}

function genericOps(fields: readonly OpField[], unknownKey: (input: Values) => void): ModelOps {
  const fallibleCount = fields.filter((f) => f.field.fallible).length
  const totals: unknown[] = new Array(fallibleCount)
  const lifted: unknown[] = new Array(fields.length)

  const liftAll = (input: Values, into: unknown[]) => {
    let given = input.id === undefined ? 0 : 1
    for (const [i, { name, field, path }] of fields.entries()) {
      const value = input[name]
      into[i] = value === undefined ? undefined : field.lift(value, path)
      if (value !== undefined) given++
    }
    if (Object.keys(input).length !== given) unknownKey(input)
  }
  const foldValues = (doc: Values, valueAt: (i: number) => unknown) => {
    for (let i = 0; i < fallibleCount; i++) {
      const { name, field } = fields[i] as OpField
      const value = valueAt(i)
      totals[i] = value === undefined ? doc[name] : field.combine(doc[name], value)
    }
    for (let i = 0; i < fallibleCount; i++) doc[(fields[i] as OpField).name] = totals[i]
    for (let i = fallibleCount; i < fields.length; i++) {
      const { name, field } = fields[i] as OpField
      const value = valueAt(i)
      if (value !== undefined) doc[name] = field.absorb(doc[name], value)
    }
  }
  return {
    createDoc(input) {
      const values: unknown[] = new Array(fields.length)
      liftAll(input, values)
      const doc: Values = { id: undefined }
      fields.forEach(({ name, field }, i) => {
        doc[name] = values[i] === undefined ? field.empty() : values[i]
      })
      return doc
    },
    add(doc, input) {
      liftAll(input, lifted)
      foldValues(doc, (i) => lifted[i])
    },
    fold(doc, from) {
      foldValues(doc, (i) => from[(fields[i] as OpField).name])
    },
  }
}

function compiledOps(fields: readonly OpField[], unknownKey: (input: Values) => void): ModelOps {
  const key = fields.map((f) => JSON.stringify(f.name))
  const all = fields.map((_, i) => i)
  const fallible = all.filter((i) => fields[i]?.field.fallible)
  const safe = all.filter((i) => !fields[i]?.field.fallible)

  // `v${i}`: the value given for field i (lifted), `t${i}`: its new total.
  const lift = [
    'let given = input.id === undefined ? 0 : 1',
    ...all.map(
      (i) =>
        `let v${i} = input[${key[i]}]; if (v${i} !== undefined) { v${i} = f${i}.lift(v${i}, p${i}); given++ }`,
    ),
    'let keys = 0; for (const _ in input) keys++',
    'if (keys !== given) unknownKey(input)',
  ]
  const fold = [
    ...fallible.map(
      (i) =>
        `const t${i} = v${i} === undefined ? doc[${key[i]}] : f${i}.combine(doc[${key[i]}], v${i})`,
    ),
    ...fallible.map((i) => `doc[${key[i]}] = t${i}`),
    ...safe.map(
      (i) => `if (v${i} !== undefined) doc[${key[i]}] = f${i}.absorb(doc[${key[i]}], v${i})`,
    ),
  ]
  const read = all.map((i) => `const v${i} = from[${key[i]}]`)
  const newDoc = `{ id: undefined, ${all.map((i) => `${key[i]}: v${i} === undefined ? f${i}.empty() : v${i}`).join(', ')} }`

  const params = [...all.map((i) => `f${i}`), ...all.map((i) => `p${i}`), 'unknownKey']
  const body = `return {
    createDoc(input) { ${lift.join('\n')}; return ${newDoc} },
    add(doc, input) { ${lift.join('\n')}; ${fold.join('\n')} },
    fold(doc, from) { ${read.join('\n')}; ${fold.join('\n')} },
  }`
  const make = new Function(...params, body) as (...args: unknown[]) => ModelOps
  return make(...fields.map((f) => f.field), ...fields.map((f) => f.path), unknownKey)
}
