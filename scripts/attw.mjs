#!/usr/bin/env node
/**
 * Runs `attw --pack . --profile esm-only` on the package in the current directory with npm's
 * lifecycle scripts off (`npm_config_ignore_scripts=true`: turbo built `dist/` already, and
 * `prepack` would build it again), without shell syntax for the variable, so it runs the same on
 * Windows, macOS and Linux. Extra arguments are passed on to attw.
 *
 * Usage (a package's `attw` script): `node ../../scripts/attw.mjs`
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(join(process.cwd(), 'package.json'))
const manifest = require.resolve('@arethetypeswrong/cli/package.json')
const { bin } = require(manifest)
const cli = join(dirname(manifest), typeof bin === 'string' ? bin : bin.attw)
const result = spawnSync(
  process.execPath,
  [cli, '--pack', '.', '--profile', 'esm-only', ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, npm_config_ignore_scripts: 'true' } },
)
if (result.error) throw result.error
process.exit(result.status ?? 1)
