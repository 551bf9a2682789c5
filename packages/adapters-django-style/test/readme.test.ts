import { join } from 'node:path'
import { runScript } from '@phonon/testkit'
import { expect, it } from 'vitest'

it('the README example runs on PGlite and prints the rows it documents', () => {
  const output = runScript(join(import.meta.dirname, '..'), 'examples/readme.ts')
  expect(output.trim().split('\n')).toEqual([
    "true { id: 'w1', clicks: 0, impressions: 0 }",
    "{ id: 'w1', clicks: 5, impressions: 10 }",
    "{ parent: 3, target: 7, clicks: 2, label: 'home → post 7' }",
    "2 [ '2 ArgumentError' ]",
    "{ id: 'p1', views: 4, longestRead: 40, tags: [ 'sql', 'ts' ] }",
  ])
}, 60_000)
