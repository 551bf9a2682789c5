import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { expect, it } from 'vitest'

it('the README example runs on PGlite and prints the rows it documents', () => {
  const output = execFileSync(
    process.execPath,
    ['--import', 'tsx', '--conditions=@phonon/source', 'examples/readme.ts'],
    { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' },
  )
  expect(output.trim().split('\n')).toEqual([
    "true { id: 'w1', clicks: 0, impressions: 0 }",
    "{ id: 'w1', clicks: 5, impressions: 10 }",
    "{ parent: 3, target: 7, clicks: 2, label: 'home → post 7' }",
    "2 [ '2 ArgumentError' ]",
    "{ id: 'p1', views: 4, longestRead: 40, tags: [ 'sql', 'ts' ] }",
  ])
}, 60_000)
