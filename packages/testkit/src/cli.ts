/**
 * The command-line arguments of a script, without the `--` that `pnpm run script -- --flag`
 * passes through: what `util.parseArgs({ args })` should read.
 */
export function cliArgs(argv: readonly string[] = process.argv): string[] {
  return argv.slice(2).filter((arg, i) => i > 0 || arg !== '--')
}
