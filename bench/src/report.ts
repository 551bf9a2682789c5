/**
 * Helpers every benchmark shares: the machine a result was measured on, an aligned table on
 * stdout, the JSON result in `bench/results/<name>.json`, and a few statistics and formats.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { cliArgs } from '@phonon/testkit'

/**
 * Where every benchmark writes its JSON result: `bench/results/`, or the directory named by the
 * `PHONON_BENCH_RESULTS` environment variable (the tests use a temporary one).
 */
export const RESULTS_DIR = process.env.PHONON_BENCH_RESULTS
  ? new URL(`file://${process.env.PHONON_BENCH_RESULTS.replace(/\/?$/, '/')}`)
  : new URL('../results/', import.meta.url)

/** The machine a result was measured on, as recorded with every result. */
export interface Machine {
  /** Logical CPUs. */
  readonly cpus: number
  /** The first CPU's model name. */
  readonly cpuModel: string
  /** Total memory, rounded to GiB. */
  readonly memoryGiB: number
  /** `process.version`. */
  readonly node: string
  /** `platform-arch`, e.g. `linux-x64`. */
  readonly platform: string
}

/**
 * Describes the machine this process runs on.
 *
 * @returns CPU count and model, memory, Node version and platform.
 */
export function machine(): Machine {
  const cpu = cpus()
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  }
}

/**
 * Prints rows as an aligned table under a header: the first column left-aligned, the others
 * (numbers) right-aligned.
 *
 * @param header - the column titles.
 * @param rows - the cells, one array per row, in the header's order.
 * @example
 * printTable(['variant', 'events/s'], [['baseline', formatRate(4e6)]])
 */
export function printTable(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
): void {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)),
  )
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const row of rows) console.log(line(row))
}

/**
 * Writes `<RESULTS_DIR>/<name>.json`: `{ benchmark, date, machine, ...result }`, pretty-printed.
 *
 * @param name - the benchmark's name, also the file's.
 * @param result - the benchmark's figures; plain JSON data.
 * @returns the path written.
 */
export function writeResult(name: string, result: object): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = new URL(`${name}.json`, RESULTS_DIR)
  const record = { benchmark: name, date: new Date().toISOString(), machine: machine(), ...result }
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`)
  return file.pathname
}

/** A benchmark's command-line flags, read and checked by name. */
export interface Flags<K extends string> {
  /** The flag's text (its default when not given; undefined without one). */
  text(name: K): string | undefined
  /** The flag as a number, unchecked (`Number(text)`). */
  number(name: K): number
  /** The flag as a positive integer. @throws RangeError otherwise (see {@link positiveInteger}). */
  integer(name: K): number
  /** The flag as a list of positive numbers. @throws RangeError otherwise (see {@link positiveList}). */
  list(name: K, integers?: boolean): number[]
}

/**
 * Parses the command line (`cliArgs()`, strictly: an unknown flag throws) for string flags.
 *
 * @param defaults - each flag's name and default text (undefined: no default).
 * @example
 * const flags = readFlags({ events: '10000', skew: '1.1' })
 * const events = flags.integer('events')
 */
export function readFlags<K extends string>(
  defaults: Readonly<Record<K, string | undefined>>,
): Flags<K> {
  const options = Object.fromEntries(
    Object.entries<string | undefined>(defaults).map(([name, value]) => [
      name,
      value === undefined ? { type: 'string' } : { type: 'string', default: value },
    ]),
  ) as Record<string, { type: 'string'; default?: string }>
  const { values } = parseArgs({ args: cliArgs(), options })
  const text = (name: K) => values[name] as string | undefined
  return {
    text,
    number: (name) => Number(text(name)),
    integer: (name) => positiveInteger(name, text(name)),
    list: (name, integers) => positiveList(name, text(name), integers),
  }
}

/**
 * Reads a command-line flag that must be a positive integer.
 *
 * @param name - the flag's name, for the message.
 * @param value - its text, as `parseArgs` returns it.
 * @throws RangeError when it is not a positive safe integer.
 */
export function positiveInteger(name: string, value: string | undefined): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`--${name} must be a positive integer, got ${value}`)
  }
  return n
}

/**
 * Reads a command-line flag that is a comma-separated list of positive numbers, like `0.8,1.1`.
 *
 * @param name - the flag's name, for the message.
 * @param value - its text.
 * @param integers - whether each must be an integer.
 * @throws RangeError when the list is empty or an item is not a finite positive number (integer).
 */
export function positiveList(name: string, value: string | undefined, integers = false): number[] {
  const items = (value ?? '').split(',').filter((item) => item.trim() !== '')
  const numbers = items.map(Number)
  if (
    numbers.length === 0 ||
    numbers.some((n) => !(n > 0) || !Number.isFinite(n) || (integers && !Number.isSafeInteger(n)))
  ) {
    const what = integers ? 'positive integers' : 'positive numbers'
    throw new RangeError(`--${name} must be a comma-separated list of ${what}, got ${value}`)
  }
  return numbers
}

/**
 * The median of some numbers (the mean of the middle two for an even count).
 *
 * @throws RangeError for no numbers.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Formats a rate like `1,234,567`. */
export function formatRate(perSecond: number): string {
  return Math.round(perSecond).toLocaleString('en-US')
}

/** Formats a ratio as a whole percentage, like `41%`. */
export function formatPercent(ratio: number): string {
  return `${Math.round(ratio * 100)}%`
}

/** Nanoseconds per item at `perSecond` items per second. */
export function nsPer(perSecond: number): number {
  return 1e9 / perSecond
}

let gc: (() => void) | undefined

/**
 * Runs a full garbage collection, so that garbage left by one measurement is not collected
 * during the next one. Works without `--expose-gc` (it exposes `gc` at first use).
 */
export function collectGarbage(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
  }
  gc()
}

/** Bytes of JavaScript heap in use after a full garbage collection: what is really retained. */
export function retainedHeapBytes(): number {
  collectGarbage()
  return process.memoryUsage().heapUsed
}
