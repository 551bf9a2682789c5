import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'

/** Where every benchmark writes its JSON result. */
export const RESULTS_DIR = process.env.PHONON_BENCH_RESULTS
  ? new URL(`file://${process.env.PHONON_BENCH_RESULTS.replace(/\/?$/, '/')}`)
  : new URL('../results/', import.meta.url)

/** The machine a result was measured on, recorded with every result. */
export function machine() {
  const cpu = cpus()
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  }
}

/** Prints rows as an aligned table with a header. */
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

/** Writes `bench/results/<name>.json` with the machine and the date added. */
export function writeResult(name: string, result: object): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = new URL(`${name}.json`, RESULTS_DIR)
  const record = { benchmark: name, date: new Date().toISOString(), machine: machine(), ...result }
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`)
  return file.pathname
}

/** The median of some numbers. */
export function median(values: readonly number[]): number {
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
