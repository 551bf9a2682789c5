import { execFileSync } from 'node:child_process'

/** Options of {@link runScript}. */
export interface RunScriptOptions {
  /** The program's arguments, after the script. */
  readonly args?: readonly string[]
  /** Variables added to (or replacing) this process's environment for the program. */
  readonly env?: Readonly<Record<string, string>>
}

/**
 * Runs a TypeScript program the way a package's README and scripts do, in a process of its own:
 * `node --import tsx --conditions=@phonon/source <script> ...args` with `dir` as the working
 * directory (workspace packages resolve to their TypeScript sources, so nothing is built first),
 * and waits for it to end.
 *
 * @param dir - the working directory, a package's root: `tsx` must resolve from it.
 * @param script - the program, relative to `dir`.
 * @returns what it wrote to stdout.
 * @throws Error when it exits with a non-zero status, its stderr in the message.
 * @example
 * ```ts
 * it('the README example prints what it documents', () => {
 *   const output = runScript(join(import.meta.dirname, '..'), 'examples/readme.ts')
 *   expect(output.trim().split('\n')).toEqual(['shirts 6'])
 * }, 60_000)
 * ```
 */
export function runScript(dir: string, script: string, options: RunScriptOptions = {}): string {
  return execFileSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@phonon/source', script, ...(options.args ?? [])],
    {
      cwd: dir,
      env: options.env === undefined ? process.env : { ...process.env, ...options.env },
      stdio: 'pipe',
      encoding: 'utf8',
    },
  )
}
