import type { Aggregator } from './Aggregator.js'

/**
 * Closes the aggregator gracefully on the first of the given signals: stop accepting, end every
 * session, wait for every release and execution, close the shard; then `onClosed` (default: exit
 * with code 0, or 1 if closing failed).
 *
 * @param aggregator - the aggregator to close.
 * @param options - `signals` (default `['SIGTERM', 'SIGINT']`) and `onClosed`, called with the
 *   error of `close()` or undefined. Let the source deliver its acks before exiting there.
 * @returns a function removing the handlers.
 * @example
 * closeOnSignals(aggregator) // SIGTERM and SIGINT
 */
export function closeOnSignals(
  aggregator: Aggregator,
  options: {
    readonly signals?: readonly NodeJS.Signals[]
    readonly onClosed?: (error: unknown) => void
  } = {},
): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT']
  const onClosed =
    options.onClosed ??
    ((error: unknown) => {
      process.exitCode = error === undefined ? 0 : 1
      process.exit()
    })
  const handler = () => {
    remove()
    aggregator.close().then(
      () => onClosed(undefined),
      (error: unknown) => onClosed(error ?? new Error('close failed')),
    )
  }
  const remove = () => {
    for (const signal of signals) process.off(signal, handler)
  }
  for (const signal of signals) process.once(signal, handler)
  return remove
}
