import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runScript as run } from '@phonon/testkit'

/** bench/, where the scripts run from. */
const BENCH_DIR = join(import.meta.dirname, '..')

/**
 * Runs `body` with a fresh temporary directory, removed afterwards whatever happens.
 *
 * @returns what `body` returns.
 */
export function withResultsDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'phonon-bench-'))
  try {
    return body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Runs a bench script (a path under bench/, e.g. `src/core.ts`) with its results directory set to
 * `dir` (`PHONON_BENCH_RESULTS`), as `pnpm bench:…` would.
 *
 * @returns its stdout.
 * @throws Error, with its stderr, when it exits non-zero.
 */
export function runScript(script: string, flags: readonly string[], dir: string): string {
  return run(BENCH_DIR, script, { args: flags, env: { PHONON_BENCH_RESULTS: dir } })
}

/**
 * Runs a benchmark at a tiny scale into a temporary results directory.
 *
 * @param name - the benchmark's name: the result read is `<dir>/<name>.json`.
 * @returns its parsed result (plain JSON, looked into freely by the tests).
 */
export function runTiny(script: string, flags: readonly string[], name: string) {
  return withResultsDir((dir) => {
    runScript(script, flags, dir)
    return JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'))
  })
}
