import {
  type AnyField,
  counterMap,
  diff,
  distinctCount,
  lastWrite,
  listAppend,
  max,
  min,
  setAppend,
  sum,
  windowedList,
} from '@phonon/core'
import fc from 'fast-check'

/** A field and an arbitrary of valid inputs for it. */
export interface FieldCase {
  readonly name: string
  readonly field: AnyField
  readonly input: fc.Arbitrary<unknown>
}

const int = fc.integer({ min: -1_000_000_000, max: 1_000_000_000 })
const member = fc.constantFrom('a', 'b', 'c', 'd', 'é', '\u{1F600}', '\uFFFD', 'zz')
const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 })

/** Every field kind, with inputs that keep arithmetic exact so laws can be compared exactly. */
export const fieldCases: FieldCase[] = [
  { name: 'sum int', field: sum(), input: int },
  { name: 'sum float', field: sum('float'), input: int },
  {
    name: 'sum bigint',
    field: sum('bigint'),
    input: fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }),
  },
  { name: 'diff int', field: diff(), input: int },
  {
    name: 'diff bigint',
    field: diff('bigint'),
    input: fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }),
  },
  { name: 'max', field: max(), input: finite },
  { name: 'min', field: min(), input: finite },
  {
    name: 'lastWrite',
    field: lastWrite(),
    // Few distinct timestamps so that ties (broken by value) happen often.
    input: fc.record({
      at: fc.integer({ min: 0, max: 3 }),
      value: fc.oneof(member, int, fc.constant(null)),
    }),
  },
  {
    name: 'listAppend',
    field: listAppend(),
    input: fc.array(fc.oneof(member, int), { maxLength: 4 }),
  },
  {
    name: 'listAppend cap 3',
    field: listAppend({ cap: 3 }),
    input: fc.array(member, { maxLength: 3 }),
  },
  { name: 'setAppend', field: setAppend(), input: fc.array(member, { maxLength: 5 }) },
  {
    name: 'distinctCount',
    field: distinctCount({ bound: 8 }),
    input: fc.array(member, { maxLength: 8 }),
  },
  {
    name: 'windowedList keep 3',
    field: windowedList({ keep: 3 }),
    input: fc.array(fc.tuple(fc.integer({ min: 0, max: 4 }), member), { maxLength: 5 }),
  },
  {
    name: 'counterMap',
    field: counterMap(),
    input: fc.dictionary(member, int, { maxKeys: 4 }),
  },
]

/** A canonical text of a value, so values are compared by what they encode to. */
export function canonical(field: AnyField, value: unknown): string {
  return JSON.stringify(field.encode(value))
}
