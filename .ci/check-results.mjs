// Reads vitest's JSON report and fails unless every workspace project with a vitest config ran
// tests and none failed, was skipped or left as todo. Prints one `N passed, N failed` line.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const report = JSON.parse(readFileSync(process.argv[2] ?? 'test-results.json', 'utf8'))
const root = process.cwd()
const tests = report.testResults.flatMap((file) =>
  file.assertionResults.map((test) => ({ ...test, file: relative(root, file.name) })),
)
const count = (status) => tests.filter((test) => test.status === status).length
const passed = count('passed')
const failed = count('failed')
const skipped = tests.length - passed - failed

const projects = ['packages', 'apps']
  .flatMap((dir) => readdirSync(dir).map((name) => join(dir, name)))
  .concat('bench', 'test')
  .filter((dir) => existsSync(join(dir, 'vitest.config.ts')))
const untested = projects.filter(
  (dir) => !tests.some((test) => test.status === 'passed' && test.file.startsWith(`${dir}/`)),
)

const problems = [
  failed > 0 && `${failed} failed`,
  skipped > 0 &&
    `${skipped} skipped or todo: ${tests
      .filter((t) => !['passed', 'failed'].includes(t.status))
      .map((t) => t.fullName)
      .join('; ')}`,
  tests.length === 0 && 'no test ran',
  untested.length > 0 && `projects that ran no test: ${untested.join(', ')}`,
].filter(Boolean)

console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
if (problems.length > 0) {
  console.error(`ci: ${problems.join('; ')}`)
  process.exit(1)
}
