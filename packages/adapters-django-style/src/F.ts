import { ArgumentError } from '@phonon/core'
import { type RawBuilder, sql } from 'kysely'
import type { Column } from './columns.js'
import { extremum, type GreatestStyle } from './sql.js'
import type { AnyTable } from './Table.js'
import { describe, numberValue, param } from './values.js'

/** The operations an {@link FExpression} applies, in order. */
export type FOperator = 'add' | 'subtract' | 'greatest' | 'least'

/** An operand of an F expression: a number, or another column's expression. */
export type FOperand<Name extends string> = number | bigint | FExpression<Name>

/**
 * A reference to a column's current value in the database, with arithmetic applied in SQL:
 * Django's `F()`. Immutable; each method returns a new expression.
 *
 * @typeParam Name - the column names it may refer to.
 */
export class FExpression<Name extends string = string> {
  /** Prefer {@link F}. */
  constructor(
    /** The column whose current value the expression starts from. */
    readonly column: Name,
    /** The operations applied, in order. */
    readonly operations: ReadonlyArray<readonly [FOperator, FOperand<Name>]> = [],
  ) {}

  /** `column + operand`. */
  add<O extends string = Name>(operand: FOperand<O>): FExpression<Name | O> {
    return this.#then('add', operand)
  }

  /** `column - operand`. */
  subtract<O extends string = Name>(operand: FOperand<O>): FExpression<Name | O> {
    return this.#then('subtract', operand)
  }

  /** The larger of the two (`GREATEST`); `NULL` counts as no value, not as the result. */
  greatest<O extends string = Name>(operand: FOperand<O>): FExpression<Name | O> {
    return this.#then('greatest', operand)
  }

  /** The smaller of the two (`LEAST`); `NULL` counts as no value, not as the result. */
  least<O extends string = Name>(operand: FOperand<O>): FExpression<Name | O> {
    return this.#then('least', operand)
  }

  #then<O extends string>(operator: FOperator, operand: FOperand<O>): FExpression<Name | O> {
    return new FExpression<Name | O>(this.column, [...this.operations, [operator, operand]])
  }
}

/**
 * Refers to a column's current value in the database, as Django's `F()`: updates computed from
 * it run in SQL, atomically, never read-modify-write.
 *
 * @param column - the column's name; checked against the model when the update is compiled.
 * @returns an expression to combine with `add`, `subtract`, `greatest`, `least`.
 * @example
 * await Widget.objects.filter({ id: 'w1' }).update({ clicks: F('clicks').add(3) })
 * await Widget.objects.filter({ id: 'w1' }).update({ best: F('best').greatest(7) })
 */
export function F<Name extends string>(column: Name): FExpression<Name> {
  return new FExpression(column)
}

/**
 * Compiles an F expression assigned to `target` into SQL over `model`'s columns.
 *
 * @throws {@link ArgumentError} for a column that is not a numeric column of the model, an
 * operand that is not finite, or (for an integer target) a float column or a non-integer operand.
 */
export function compileF(
  expression: FExpression,
  model: AnyTable,
  target: Column,
  path: string,
  style: GreatestStyle,
): RawBuilder<unknown> {
  const integral = target.kind === 'integer' || target.kind === 'bigint'
  const ref = (name: unknown): RawBuilder<unknown> => {
    const column = model.column(String(name), path)
    if (!['integer', 'bigint', 'float'].includes(column.kind) || typeof name !== 'string') {
      throw new ArgumentError(`${path}: F(${describe(name)}) must name a numeric column`)
    }
    if (integral && column.kind === 'float') {
      throw new ArgumentError(
        `${path}: F(${name}) is a float column, assigned to an integer column`,
      )
    }
    return sql.ref(name)
  }
  let result = ref(expression.column)
  for (const [operator, operand] of expression.operations) {
    const right =
      operand instanceof FExpression
        ? compileF(operand, model, target, path, style)
        : sql`${param(numberValue(target, `${path} operand`, operand))}`
    result =
      operator === 'add'
        ? sql`(${result} + ${right})`
        : operator === 'subtract'
          ? sql`(${result} - ${right})`
          : operator === 'greatest' || operator === 'least'
            ? extremum(operator, result, right, style)
            : invalidOperator(operator, path)
  }
  return result
}

function invalidOperator(operator: unknown, path: string): never {
  throw new ArgumentError(`${path}: unknown F operator ${describe(operator)}`)
}
