import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { Reply } from '../src/protocol.js'
import { scriptSource } from '../src/scripts.js'

describe('codegen', () => {
  it('the generated Lua protocol and script version are those of the sources', () => {
    const script = fileURLToPath(new URL('../scripts/codegen.ts', import.meta.url))
    // Exits non-zero, naming the stale file, when protocol.ts or a Lua file changed without codegen.
    expect(() =>
      execFileSync(process.execPath, ['--import', 'tsx', script, '--check'], { stdio: 'pipe' }),
    ).not.toThrow()
    expect(scriptSource('release.lua')).toContain(`CLAIMED = ${Reply.CLAIMED},`)
  })
})
