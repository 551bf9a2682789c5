import { join } from 'node:path'
import { runScript } from '@phonon/testkit'
import { expect, it } from 'vitest'

it('the README example runs on PGlite and prints what it documents', () => {
  const output = runScript(join(import.meta.dirname, '..'), 'examples/readme.ts')
  expect(output.trim().split('\n')).toEqual([
    'ArgumentError user.bought_shirt payload fails its schema: quantity: Too small: expected number to be >0',
    'Consumer consumed event_1 #1: "a message"',
    'Consumer consumed user.signed_up #3: {"email":"gordon@black-mesa.org"}',
    'shirts 6',
    '[{"consumer":"Consumer","events":0,"oldestMs":0},{"consumer":"Shirts","events":0,"oldestMs":0}]',
  ])
}, 90_000)
