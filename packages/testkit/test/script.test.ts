import { join } from 'node:path'
import { runScript } from '@phonon/testkit'
import { describe, expect, it } from 'vitest'

const dir = join(import.meta.dirname, '..')

describe('runScript', () => {
  it('runs a TypeScript program with its arguments and added environment, returning its stdout', () => {
    const output = runScript(dir, 'test/fixtures/echo.ts', {
      args: ['one', 'two'],
      env: { PHONON_ECHO: 'set' },
    })
    expect(output).toBe('one\ntwo\nset\n')
    expect(runScript(dir, 'test/fixtures/echo.ts')).toBe('(unset)\n')
  }, 60_000)

  it('throws when the program fails, with its stderr in the message', () => {
    expect(() => runScript(dir, 'test/fixtures/echo.ts', { args: ['fail'] })).toThrow(
      /echo: asked to fail/,
    )
  }, 60_000)
})
