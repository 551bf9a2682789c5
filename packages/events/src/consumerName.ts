import { ArgumentError } from '@phonon/core'

/** @throws {@link ArgumentError} unless `name` is a non-empty string. */
export function checkedName(name: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ArgumentError(`a consumer name must be a non-empty string, got ${String(name)}`)
  }
  return name
}
