/** What a value is, for an error message: its class name, `null`, or its `typeof`. @internal */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  return value.constructor?.name ?? 'object'
}
